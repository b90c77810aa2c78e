"""The pieces of the scale-out load test (tests/e2e/test_scale_out.py): real ``onesme-bot run``
replica processes, nginx in front of them with a private prefix, and a chat user that waits for
its own chat only (many users talk to the bot at once).

Nothing here touches global state: nginx runs as a child process with its own configuration,
pid, log and temporary files under the test's directory; each replica's output goes to a file
there too, shown when the test fails.
"""

# ruff: noqa: ASYNC109 - waits take a timeout, as in botapi_client

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sandbox.botapi import MessageView
from tests.e2e.botapi_client import ChatUser, NoReply

__all__ = [
    "NGINX",
    "LoadUser",
    "Nginx",
    "Replica",
    "StepTimes",
    "answered_twice",
    "percentile",
    "wait_ready",
]

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@dataclass
class Replica:
    """One ``onesme-bot run`` process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, name: str, port: int, env: dict[str, str], workdir: Path) -> Replica:
        script = Path(sys.executable).with_name("onesme-bot")
        command = [str(script), "run"] if script.exists() else [sys.executable, "-m", "bot", "run"]
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=workdir,  # no stray .env is read
                env={**env, "HTTP_PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, port, process, log)

    def kill(self) -> None:
        """``kill -9``: no drain, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def wait_ready(http: httpx.AsyncClient, replicas: list[Replica], timeout: float) -> None:
    """Every replica answers 200 on /readyz (migrated, catalog loaded, webhook set)."""
    deadline = time.monotonic() + timeout
    pending = list(replicas)
    while pending:
        replica = pending[0]
        if replica.process.poll() is not None:
            raise AssertionError(f"{replica.name} exited at start:\n{replica.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(replica.url + "/readyz", timeout=2)).status_code == 200:
                pending.pop(0)
                continue
        if time.monotonic() > deadline:
            raise AssertionError(f"{replica.name} not ready in {timeout}s:\n{replica.tail()}")
        await asyncio.sleep(0.2)


class Nginx:
    """Debian's nginx as a child process, with everything under ``prefix``."""

    def __init__(self, prefix: Path, port: int, upstreams: list[int]) -> None:
        assert NGINX is not None
        self.prefix = prefix
        self.port = port
        self.conf = prefix / "nginx.conf"
        for sub in ("logs", "tmp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in upstreams
        )
        # The proxy settings are deploy/nginx.conf's; only the upstream list (no Docker DNS)
        # and the files (all under the prefix) differ.
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"""{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream bot {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://bot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert NGINX is not None
        log = (self.prefix / "logs" / "stderr.log").open("wb")
        with log:
            self.process = subprocess.Popen(
                [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {self.errors()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nginx not listening: {self.errors()}") from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return

    def errors(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / "logs" / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(texts)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class StepTimes:
    seconds: list[float] = field(default_factory=list)


class LoadUser(ChatUser):
    """A :class:`ChatUser` that settles on its own chat: the bot took the update (the webhook
    answered for it) and showed something in this chat. The base class also waits for the
    whole bot to go quiet, which never happens with fifty users at once. A webhook answer comes
    only once the update was handled, so nothing of it is still on its way.

    Every step's time (action → visible reaction) is added to ``times``."""

    times: StepTimes

    async def _settle(
        self, *, timeout: float | None, quiet: float | None, need_visible: bool
    ) -> None:
        state, bot_id = self.state, self.bot.id
        limit = self.timeout if timeout is None else timeout
        update_id = self._action.update_id if self._action else None
        deadline = time.monotonic() + limit
        while True:
            waiter = state.change_waiter()
            consumed = update_id is None or state.update_consumed(bot_id, update_id)
            if consumed and (not need_visible or self._visible_reaction()):
                break
            now = time.monotonic()
            if now >= deadline:
                what = "took the update" if not consumed else "reacted visibly"
                raise NoReply(
                    f"user {self.id}: the bot never {what} within {limit}s (update "
                    f"{update_id}); chat: {self._transcript()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), deadline - now)
        self.times.seconds.append(time.monotonic() - self._started)


def answered_twice(messages: list[MessageView]) -> int:
    """Bot messages that repeat the one just before them (same text and buttons, no user
    message between): what re-handling an already answered update would show."""
    repeats = 0
    previous: tuple[object, ...] | None = None
    for message in messages:
        if not message.from_bot:
            previous = None
            continue
        shown = (message.text or message.caption, tuple(map(tuple, message.labels)))
        if shown == previous:
            repeats += 1
        previous = shown
    return repeats


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
