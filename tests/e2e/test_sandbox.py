"""``onesme-bot sandbox`` as an operator runs it: a separate process started with the console
script, answering on its one port within 15 seconds, talking through the simulated Telegram
side, and stopping cleanly on Ctrl-C (SIGINT) and on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox_cmd import (
    ADMIN_ID,
    AGENT_ID,
    NEW_USER_ID,
    OWNER_ID,
    SAMPLE_CATALOG,
    SandboxError,
    main,
    running_sandbox,
)
from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
START_LIMIT = 15.0
STOP_LIMIT = 15.0


def command() -> list[str]:
    """The console script installed next to this Python (as the README runs it), else
    ``python -m bot``."""
    script = Path(sys.executable).with_name("onesme-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("onesme-bot")
    return [found] if found else [sys.executable, "-m", "bot"]


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8")


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5.0) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


class Process:
    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until_answering(self, url: str) -> float:
        """Seconds from the start until ``GET url`` answered 200; fails after START_LIMIT."""
        while time.monotonic() - self.started < START_LIMIT:
            if self.popen.poll() is not None:
                out, err = self.popen.communicate()
                pytest.fail(f"the sandbox exited with {self.popen.returncode}: {out}\n{err}")
            try:
                status, _ = get(url, timeout=1.0)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
                continue
            if status == 200:
                return time.monotonic() - self.started
        pytest.fail(f"the sandbox did not answer on {url} within {START_LIMIT} s")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str, float]:
        """Send ``sig``; the exit code, stdout, stderr and the seconds it took to exit."""
        sent = time.monotonic()
        self.popen.send_signal(sig)
        try:
            out, err = self.popen.communicate(timeout=STOP_LIMIT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            out, err = self.popen.communicate()
            pytest.fail(f"the sandbox did not stop within {STOP_LIMIT} s: {out}\n{err}")
        return self.popen.returncode, out, err, time.monotonic() - sent

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.communicate()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def start(processes: list[Process], *args: str, cwd: Path) -> Process:
    process = Process([*command(), "sandbox", *args], cwd)
    processes.append(process)
    return process


def wait_for_reply(base: str, user_id: int, after: int, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = get(f"{base}/_sim/users/{user_id}/history")
        messages = json.loads(body)["result"]["messages"]
        replies = [m for m in messages if m["from_bot"] and m["message_id"] > after]
        if replies:
            return str(replies[-1]["text"])
        time.sleep(0.1)
    pytest.fail(f"the bot did not answer user {user_id} within {timeout} s")


def test_the_sandbox_answers_within_15_seconds_talks_and_stops_on_ctrl_c(
    processes: list[Process], tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(processes, "--port", str(port), cwd=tmp_path)

    seconds = process.wait_until_answering(base + "/")
    assert seconds < START_LIMIT

    status, page = get(base + "/")
    assert status == 200 and 'data-testid="user-picker"' in page
    assert get(base + "/healthz") == (200, "ok")
    status, ready = get(base + "/readyz")
    assert status == 200 and "database" in ready
    _, config = get(base + "/webchat/api/config")
    users = json.loads(config)["result"]["users"]
    assert [u["id"] for u in users] == [OWNER_ID, AGENT_ID, ADMIN_ID, NEW_USER_ID]
    assert all(u["label"] and u["demo"] for u in users)
    status, switches = get(base + "/vnptpay/_sim/switches")  # the simulator, same port
    assert status == 200 and "drop_notification" in switches

    sent = post(f"{base}/_sim/users/{OWNER_ID}/messages", {"text": "/start"})
    assert sent["ok"] is True
    reply = wait_for_reply(base, OWNER_ID, sent["result"]["message_id"])
    assert "oneSME" in reply
    sent = post(f"{base}/_sim/users/{OWNER_ID}/messages", {"text": "/services"})
    assert "VNPT SmartCA" in wait_for_reply(base, OWNER_ID, sent["result"]["message_id"])
    _, violations = get(base + "/_sim/violations")
    assert json.loads(violations)["result"] == []

    code, out, err, took = process.stop(signal.SIGINT)

    assert code == 0, err
    assert took < STOP_LIMIT
    assert f"Sandbox ready: {base}" in out.splitlines()
    database = re.search(r"Database: (\S+)", out)
    assert database is not None, out
    assert not Path(database.group(1)).exists()  # the temporary database is removed
    assert not Path(database.group(1)).parent.exists()
    assert "Traceback" not in err


def test_a_kept_database_survives_a_restart_and_sigterm_stops_it(
    processes: list[Process], tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "kept.db"
    first = start(processes, "--port", str(port), "--db", str(db), cwd=tmp_path)
    first.wait_until_answering(base + "/healthz")
    code, out, err, _ = first.stop(signal.SIGTERM)
    assert code == 0, err
    assert db.exists() and str(db) in out

    second = start(processes, "--port", str(port), "--db", "kept.db", cwd=tmp_path)
    second.wait_until_answering(base + "/healthz")  # the demo accounts are seeded again: no-op
    sent = post(f"{base}/_sim/users/{OWNER_ID}/messages", {"text": "/start"})
    assert "oneSME" in wait_for_reply(base, OWNER_ID, sent["result"]["message_id"])
    code, _, err, _ = second.stop(signal.SIGINT)
    assert code == 0, err
    assert db.exists()


def test_bad_usage_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "http"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "--port" in err


async def test_a_taken_port_is_one_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(SandboxError, match=f"cannot listen on 127.0.0.1:{port}"):
        async with (
            running_sandbox(port=port, db=tmp_path / "a.db"),
            running_sandbox(port=port, db=tmp_path / "b.db"),
        ):
            pass


def test_the_packaged_sample_catalog_is_the_repository_one() -> None:
    """``pip install .`` ships bot/data/catalog.sample.yaml; the README points at the root one."""
    assert SAMPLE_CATALOG.read_bytes() == (ROOT / "catalog.sample.yaml").read_bytes()
