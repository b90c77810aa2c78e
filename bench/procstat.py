"""What the kernel knows about a process: CPU time and peak memory, from ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "event_loop", "peak_rss_bytes", "rss_bytes"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (``utime + stime`` of ``/proc/<pid>/stat``)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) may contain spaces: split after its closing parenthesis
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / _TICKS


def _status(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise KeyError(name)


def peak_rss_bytes(pid: int) -> int:
    """The process' peak resident set size (``VmHWM``)."""
    return _status(pid, "VmHWM")


def rss_bytes(pid: int) -> int:
    return _status(pid, "VmRSS")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time per thread name (threads of one name added up): ``MainThread`` is the
    process' first thread; worker threads (e.g. aiosqlite's) appear under their names."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        if task.name == str(pid):
            name = "MainThread"
        fields = raw[raw.rindex(")") + 2 :].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICKS
    return totals


def event_loop(pid: int) -> str:
    """``uvloop`` when uvloop's extension is loaded in ``pid`` (the product loads it only to
    run on it), else ``asyncio``."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "unknown"
    return "uvloop" if "/uvloop/loop." in maps else "asyncio"
