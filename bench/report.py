"""Aggregate runs into per-bot figures (min/median/max over repeats), the product's ratios
to the bare bots measured in the same repeat, a text table and the JSON document."""

from __future__ import annotations

import os
import platform
import statistics
from collections import defaultdict
from typing import Any

from bench.driver import RunResult

METRICS: tuple[tuple[str, str, str], ...] = (
    # key, column title, format
    ("cpu_us_per_update", "CPU µs/upd", "{:.0f}"),
    ("updates_per_s", "upd/s", "{:.0f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("press_p50_ms", "press p50", "{:.1f}"),
    ("press_p99_ms", "press p99", "{:.1f}"),
    ("typed_p99_ms", "typed p99", "{:.1f}"),
    ("achieved_rate", "sent/s", "{:.1f}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
    ("api_calls_per_update", "API calls/upd", "{:.2f}"),
    ("http_requests_per_update", "HTTP req/upd", "{:.2f}"),
    ("startup_s", "start s", "{:.2f}"),
    ("state_bytes_per_draft", "state B", "{:.0f}"),
    ("sql_per_update", "SQL/upd", "{:.2f}"),
)
RATIO_METRICS = (
    "cpu_us_per_update",
    "p99_ms",
    "press_p99_ms",
    "peak_rss_mb",
    "api_calls_per_update",
)
BARE = ("aiogram", "ptb")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def aggregate(runs: list[tuple[int, RunResult]]) -> dict[str, Any]:
    """``runs``: (repeat number, result). Figures per mode and bot; ratios per mode, product
    variant and bare bot, each computed within one repeat, then summarised."""
    by_bot: dict[str, dict[str, list[RunResult]]] = defaultdict(lambda: defaultdict(list))
    by_repeat: dict[tuple[int, str], dict[str, RunResult]] = defaultdict(dict)
    for repeat, run in runs:
        by_bot[run.mode][run.bot].append(run)
        by_repeat[(repeat, run.mode)][run.bot] = run
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for mode, bots in by_bot.items():
        figures[mode] = {}
        for bot, results in bots.items():
            entry: dict[str, Any] = {}
            for key, _, _ in METRICS:
                values = [getattr(r, key) for r in results if getattr(r, key) is not None]
                if values:
                    entry[key] = _stats([float(v) for v in values])
            entry["event_loop"] = ",".join(sorted({r.event_loop for r in results}))
            entry["failed_users"] = sum(r.failed_users for r in results)
            entry["violations"] = sum(r.violations for r in results)
            missed = [r.missed_ticks for r in results if r.missed_ticks is not None]
            if missed:
                entry["missed_ticks"] = sum(missed)
            figures[mode][bot] = entry
    ratios: dict[str, dict[str, dict[str, dict[str, float]]]] = defaultdict(dict)
    collected: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (_, mode), same_repeat in by_repeat.items():
        for name, run in same_repeat.items():
            if name in BARE:
                continue
            for bare in BARE:
                base = same_repeat.get(bare)
                if base is None:
                    continue
                for key in RATIO_METRICS:
                    ours, theirs = getattr(run, key), getattr(base, key)
                    if ours and theirs:
                        collected[(mode, f"{name}/{bare}")][key].append(ours / theirs)
    for (mode, pair), per_metric in collected.items():
        ratios[mode][pair] = {key: _stats(v) for key, v in per_metric.items()}
    return {"figures": figures, "ratios": dict(ratios)}


def _cell(stats: dict[str, float] | None, fmt: str, spread: bool) -> str:
    if stats is None:
        return "–"
    text = fmt.format(stats["median"])
    if spread:
        text += f" ({fmt.format(stats['min'])}–{fmt.format(stats['max'])})"
    return text


def table(document: dict[str, Any], repeats: int) -> str:
    spread = repeats > 1
    lines: list[str] = []
    head = ["mode", "bot", "loop", *(title for _, title, _ in METRICS)]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for mode, bots in document["figures"].items():
        for bot, entry in bots.items():
            cells = [_cell(entry.get(key), fmt, spread) for key, _, fmt in METRICS]
            loop = entry.get("event_loop") or "–"
            lines.append(f"| {mode} | {bot} | {loop} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| mode | ratio | " + " | ".join(RATIO_METRICS) + " |")
    lines.append("|" + "---|" * (2 + len(RATIO_METRICS)))
    for mode, pairs in document["ratios"].items():
        for pair, entry in pairs.items():
            cells = [_cell(entry.get(key), "{:.2f}", spread) for key in RATIO_METRICS]
            lines.append(f"| {mode} | {pair} | " + " | ".join(cells) + " |")
    if spread:
        lines.append("")
        lines.append(f"Each cell: median (min–max) over {repeats} repeats.")
    think = document.get("config", {}).get("think_typed")
    if think:
        lines.append("")
        lines.append(
            f"Users waited {think:g}–{2 * think:g} s before each typed answer (--think-typed),"
            " not counted in the latency: not comparable with runs where they answer at once."
        )
    return "\n".join(lines)
