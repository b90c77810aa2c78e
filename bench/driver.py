"""One measured run: a local Bot API server in this process, one bot in its own process, and
closed-loop simulated users playing :data:`bench.wizard.SCRIPT` against it.

The bot talks HTTP to the Bot API server (polling with getUpdates, or webhooks the server
POSTs to it). Each user acts, waits for the bot's first visible reaction in the chat (a new
message or an edit), then acts again at once; ``inflight`` users play at a time until
``users`` have finished. The bot's CPU time is read from ``/proc`` around the load, so the
driver's own work (the Bot API server, its spec checks, the users) is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bench import procstat, wizard
from sandbox.botapi import BotApiState, SimEvent
from sandbox.botapi.server import MAX_REQUEST_BYTES, setup_botapi

__all__ = ["BotSpec", "RunConfig", "RunResult", "run_one"]

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "catalog.sample.yaml"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
WEBHOOK_SECRET = "bench-webhook-secret"
TAX_CODE = "0100233488"
FIRST_USER_ID = 700_000_001
_VISIBLE = frozenset({"message", "edit", "delete"})


@dataclass(frozen=True)
class BotSpec:
    """``kind``: product | aiogram | ptb; the product's ``db`` (sqlite | postgres) and Redis."""

    name: str
    kind: str
    db: str = "sqlite"
    redis: bool = False


@dataclass(frozen=True)
class RunConfig:
    users: int = 200
    inflight: int = 50
    timeout: float = 30.0
    settle: float = 1.0
    workdir: Path | None = None
    py_spy: Path | None = None
    cprofile: Path | None = None


@dataclass
class RunResult:
    bot: str
    mode: str
    users: int
    inflight: int
    finished_users: int = 0
    failed_users: int = 0
    updates: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_us_per_update: float = 0.0
    updates_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    peak_rss_mb: float = 0.0
    #: resident set size once the run is over (the peak may be reached at start-up)
    rss_mb: float = 0.0
    api_calls_per_update: float = 0.0
    http_requests_per_update: float = 0.0
    startup_s: float = 0.0
    state_bytes_per_draft: int | None = None
    sql_per_update: float | None = None
    cpu_s_by_thread: dict[str, float] = field(default_factory=dict)
    #: p50 and p99 in ms of each step of the script ("3 press Gói Văn phòng nhỏ": [p50, p99])
    latency_by_step: dict[str, list[float]] = field(default_factory=dict)
    violations: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class BenchState(BotApiState):
    """The Bot API state, also timing each bot's first visible reaction per chat."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: dict[int, list[float]] = defaultdict(list)
        self._waiters: dict[int, asyncio.Event] = {}

    def _append_event(self, event: SimEvent) -> None:
        super()._append_event(event)
        if event.from_bot and event.kind in _VISIBLE:
            self.replies[event.chat_id].append(time.perf_counter())
            waiter = self._waiters.pop(event.chat_id, None)
            if waiter is not None:
                waiter.set()

    async def wait_reply(self, chat_id: int, seen: int, timeout: float) -> None:  # noqa: ASYNC109
        """Until the chat has more than ``seen`` bot reactions; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while len(self.replies[chat_id]) <= seen:
                waiter = self._waiters.setdefault(chat_id, asyncio.Event())
                await waiter.wait()


class RequestCounter:
    """HTTP requests each bot token sent to the Bot API server (getUpdates apart)."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = defaultdict(int)
        self.polls: dict[str, int] = defaultdict(int)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/bot"):
            token, _, method = path[4:].partition("/")
            if method == "getUpdates":
                self.polls[token] += 1
            else:
                self.requests[token] += 1
        return await handler(request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def botapi_server(state: BotApiState, counter: RequestCounter) -> AsyncIterator[str]:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[counter.middleware])
    setup_botapi(app, state)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# --- the users ---------------------------------------------------------------------------


def _find_button(
    state: BotApiState, bot_id: int, user_id: int, label: str, prefix: bool
) -> tuple[int, str] | None:
    chat = state.chat(bot_id, user_id)
    if chat is None:
        return None
    for message in sorted(chat.messages.values(), key=lambda m: -m.message_id):
        if not message.from_bot or message.deleted or not message.reply_markup:
            continue
        for row in message.reply_markup.get("inline_keyboard", []):
            for button in row:
                text = button.get("text", "")
                if (text.startswith(label) if prefix else text == label) and button.get(
                    "callback_data"
                ):
                    return message.message_id, button["callback_data"]
    return None


async def play(
    state: BenchState,
    bot_id: int,
    user_id: int,
    steps: tuple[tuple[str, str], ...],
    latencies: list[float],
    timeout: float,  # noqa: ASYNC109
    by_step: dict[int, list[float]] | None = None,
) -> None:
    """One user through ``steps``, recording the time from each update to the reply (also
    per step index in ``by_step``)."""
    for index, (kind, arg) in enumerate(steps):
        if kind == "send":
            seen = len(state.replies[user_id])
            started = time.perf_counter()
            state.send_message(user_id, arg, bot=bot_id)
        else:
            async with asyncio.timeout(timeout):
                while (
                    found := _find_button(state, bot_id, user_id, arg, kind == "prefix")
                ) is None:
                    await state.wait_reply(user_id, len(state.replies[user_id]), timeout)
            seen = len(state.replies[user_id])
            started = time.perf_counter()
            state.press_inline_button(
                user_id, callback_data=found[1], message_id=found[0], bot=bot_id
            )
        try:
            await state.wait_reply(user_id, seen, timeout)
        except TimeoutError:
            raise TimeoutError(f"no reply to {kind} {arg!r} within {timeout:.0f} s") from None
        latencies.append(state.replies[user_id][seen] - started)
        if by_step is not None:
            by_step.setdefault(index, []).append(latencies[-1])


# --- the bot processes -----------------------------------------------------------------


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]
    http_port: int
    metrics_url: str | None = None
    state_file: Path | None = None


def _python_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _product_command() -> list[str]:
    script = Path(sys.executable).with_name("onesme-bot")
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "bot", "run"]


def product_launch(
    api: str, token: str, mode: str, database_url: str, redis: bool, profile: Path | None = None
) -> Launch:
    port = free_port()
    env = _python_env()
    env.update(
        BOT_TOKEN=token,
        TELEGRAM_API_URL=api,
        DATABASE_URL=database_url,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        CATALOG_FILE=str(CATALOG),
        LOG_LEVEL=os.environ.get("BENCH_BOT_LOG_LEVEL", "WARNING"),
        DEFAULT_LOCALE="vi",
    )
    for name in ("REDIS_URL", "ADMIN_IDS", "VNPTPAY_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        env.pop(name, None)
    if redis:
        env["REDIS_URL"] = REDIS_URL
    if mode == "webhook":
        env["WEBHOOK_URL"] = f"http://127.0.0.1:{port}/telegram/webhook"
        env["WEBHOOK_SECRET"] = WEBHOOK_SECRET
    argv = _product_command()
    if profile is not None:
        argv = [sys.executable, "-m", "bench.cprofile_run", str(profile)]
    return Launch(argv, env, port, f"http://127.0.0.1:{port}/metrics")


def bare_launch(kind: str, api: str, token: str, mode: str, workdir: Path) -> Launch:
    port = free_port()
    state_file = workdir / f"{kind}-state.json"
    argv = [
        sys.executable,
        "-m",
        f"bench.bare_{kind}",
        "--api",
        api,
        "--token",
        token,
        "--mode",
        mode,
        "--port",
        str(port),
        "--secret",
        WEBHOOK_SECRET,
        "--state-file",
        str(state_file),
    ]
    return Launch(argv, _python_env(), port, state_file=state_file)


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def scrape_sql(url: str | None) -> float | None:
    """``onesme_sql_statements_total`` from the product's /metrics (None when absent)."""
    if url is None:
        return None
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    for line in body.splitlines():
        if line.startswith("onesme_sql_statements_total"):
            return float(line.split()[-1])
    return None


# --- product setup (database, owners) ----------------------------------------------------


async def prepare_product_database(database_url: str, user_ids: list[int]) -> None:
    """Schema at head, one business, every simulated user one of its owners."""
    from domain.ports import SystemClock
    from domain.usecases.admin import (
        AddEnterprise,
        AddEnterpriseRequest,
        GrantRole,
        GrantRoleRequest,
    )
    from storage.db import Database
    from storage.migrate import upgrade_to_head

    await upgrade_to_head(database_url)
    database = Database(database_url)
    clock = SystemClock()

    def uow() -> Any:
        return database.uow

    try:
        await AddEnterprise(uow, clock)(
            AddEnterpriseRequest(
                tax_code=TAX_CODE,
                name="Công ty TNHH An Bình",
                address="57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội",
                email="ketoan@anbinh.vn",
            )
        )
        grant = GrantRole(uow, clock)
        for user_id in user_ids:
            await grant(GrantRoleRequest(user_id=user_id, role="owner", tax_code=TAX_CODE))
    finally:
        await database.dispose()


async def create_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_redis_keys(bot_id: int) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"onesme:*{bot_id}:*", count=500)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


async def product_state_bytes(spec: BotSpec, database_url: str, key: str) -> int | None:
    """The stored draft's size: JSON text of its data plus its state name."""
    if spec.redis:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            return int(await client.strlen(f"onesme:conv:{key}")) or None
        finally:
            await client.aclose()
    if spec.db == "postgres":
        import asyncpg

        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            value = await conn.fetchval(
                "SELECT octet_length(data::text) + octet_length(state) FROM conversations"
                " WHERE key = $1",
                key,
            )
        finally:
            await conn.close()
        return int(value) if value is not None else None
    path = database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT length(CAST(data AS BLOB)) + length(CAST(state AS BLOB))"
            " FROM conversations WHERE key = ?",
            (key,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


async def bare_state_bytes(launch: Launch, pid: int, chat_id: int) -> int | None:
    assert launch.state_file is not None
    launch.state_file.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    for _ in range(250):
        if launch.state_file.exists():
            with contextlib.suppress(ValueError):
                sizes = json.loads(launch.state_file.read_text())
                value = sizes.get(str(chat_id))
                return int(value) if value is not None else None
        await asyncio.sleep(0.02)
    return None


# --- one run ---------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _wait_ready(
    state: BotApiState,
    counter: RequestCounter,
    token: str,
    mode: str,
    launch: Launch,
    process: asyncio.subprocess.Process,
    timeout: float,  # noqa: ASYNC109
) -> None:
    bot = state.bots[token]
    async with asyncio.timeout(timeout):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the bot exited with {process.returncode} while starting")
            if mode == "polling" and counter.polls[token] > 0:
                return
            if mode == "webhook" and bot.webhook is not None and await _port_open(launch.http_port):
                return
            await asyncio.sleep(0.01)


async def _wait_idle(
    state: BotApiState, bot_id: int, quiet: float = 0.3, limit: float = 15.0
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not state.busy(bot_id) and time.monotonic() - state.last_activity(bot_id) > quiet:
            return
        await asyncio.sleep(0.05)


async def run_one(spec: BotSpec, mode: str, config: RunConfig) -> RunResult:
    """Start ``spec``'s bot in ``mode``, load it, measure it, stop it."""
    result = RunResult(bot=spec.name, mode=mode, users=config.users, inflight=config.inflight)
    bot_id = random.randint(6_000_000_000, 6_999_999_999)
    token = f"{bot_id}:AAE-bench_token_for_the_local_bot_api_00"
    user_ids = [FIRST_USER_ID + i for i in range(config.users + 1)]  # the last one probes
    state = BenchState()
    state.add_bot(token, username=f"bench_{spec.kind}_bot", first_name="Bench")
    for user_id in user_ids:
        state.create_user("Lan", user_id=user_id, last_name="Nguyễn", phone_number="+84912345678")
    counter = RequestCounter()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-", dir=config.workdir))
    pg_name = f"onesme_bench_{bot_id}"
    database_url = ""
    if spec.kind == "product":
        if spec.db == "postgres":
            await create_postgres_database(pg_name)
            database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
        else:
            database_url = f"sqlite+aiosqlite:///{workdir / 'onesme.db'}"
        await prepare_product_database(database_url, user_ids)
    try:
        async with botapi_server(state, counter) as api:
            if spec.kind == "product":
                profile = None
                if config.cprofile is not None:
                    config.cprofile.mkdir(parents=True, exist_ok=True)
                    profile = config.cprofile.resolve() / f"{spec.name}-{mode}.prof"
                launch = product_launch(api, token, mode, database_url, spec.redis, profile)
            else:
                launch = bare_launch(spec.kind, api, token, mode, workdir)
            log = (workdir / "bot.log").open("wb")
            started = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                *launch.argv, env=launch.env, cwd=workdir, stdout=log, stderr=log
            )
            try:
                await _wait_ready(
                    state,
                    counter,
                    token,
                    mode,
                    launch,
                    process,
                    300.0 if config.cprofile else 120.0,
                )
                result.startup_s = time.perf_counter() - started
                await asyncio.sleep(config.settle)
                await _measure(
                    state,
                    counter,
                    spec,
                    mode,
                    config,
                    launch,
                    process,
                    result,
                    bot_id,
                    token,
                    user_ids,
                    database_url,
                    workdir,
                )
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(process.wait(), 20)
                    except TimeoutError:
                        process.kill()
                        await process.wait()
                log.close()
            result.violations = len(state.violations)
            for violation in state.violations[:5]:
                result.errors.append(f"violation {violation.method}: {violation.description}")
    finally:
        if spec.kind == "product" and spec.db == "postgres":
            await drop_postgres_database(pg_name)
        if spec.redis:
            await drop_redis_keys(bot_id)
        if result.errors or result.failed_users:
            result.errors.append(f"the bot's log and files are kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


async def _measure(
    state: BenchState,
    counter: RequestCounter,
    spec: BotSpec,
    mode: str,
    config: RunConfig,
    launch: Launch,
    process: asyncio.subprocess.Process,
    result: RunResult,
    bot_id: int,
    token: str,
    user_ids: list[int],
    database_url: str,
    workdir: Path,
) -> None:
    pid = process.pid
    account = state.bots[token]
    sql_before = scrape_sql(launch.metrics_url)
    calls_before = sum(1 for c in state.calls if c.bot_id == bot_id and c.method != "getUpdates")
    requests_before = counter.requests[token] + counter.polls[token]
    updates_before = account.next_update_id
    spy = await _start_py_spy(config, spec, mode, pid)
    cpu_before = procstat.cpu_seconds(pid)
    threads_before = procstat.thread_cpu_seconds(pid)
    latencies: list[float] = []
    by_step: dict[int, list[float]] = {}
    gate = asyncio.Semaphore(config.inflight)

    async def user(user_id: int) -> None:
        async with gate:
            try:
                await play(
                    state, bot_id, user_id, wizard.SCRIPT, latencies, config.timeout, by_step
                )
                result.finished_users += 1
            except Exception as error:
                result.failed_users += 1
                if len(result.errors) < 5:
                    result.errors.append(f"user {user_id}: {error}")
                _dump_transcript(state, bot_id, user_id, workdir / f"user-{user_id}.json")

    load_started = time.perf_counter()
    await asyncio.gather(*(user(u) for u in user_ids[:-1]))
    wall = time.perf_counter() - load_started
    await _wait_idle(state, bot_id)
    cpu = procstat.cpu_seconds(pid) - cpu_before
    threads_after = procstat.thread_cpu_seconds(pid)
    result.cpu_s_by_thread = {
        name: round(seconds - threads_before.get(name, 0.0), 2)
        for name, seconds in sorted(threads_after.items(), key=lambda item: -item[1])
        if seconds - threads_before.get(name, 0.0) > 0
    }
    await _stop_py_spy(spy)
    updates = account.next_update_id - updates_before
    calls = sum(1 for c in state.calls if c.bot_id == bot_id and c.method != "getUpdates")
    requests = counter.requests[token] + counter.polls[token]
    sql_after = scrape_sql(launch.metrics_url)
    result.updates = updates
    result.wall_s = round(wall, 3)
    result.cpu_s = round(cpu, 3)
    if updates:
        result.cpu_us_per_update = round(cpu / updates * 1e6, 1)
        result.updates_per_s = round(updates / wall, 1)
        result.api_calls_per_update = round((calls - calls_before) / updates, 3)
        result.http_requests_per_update = round((requests - requests_before) / updates, 3)
        if sql_before is not None and sql_after is not None:
            result.sql_per_update = round((sql_after - sql_before) / updates, 2)
    result.p50_ms = round(percentile(latencies, 0.50) * 1000, 1)
    result.p99_ms = round(percentile(latencies, 0.99) * 1000, 1)
    for index, values in sorted(by_step.items()):
        kind, arg = wizard.SCRIPT[index]
        result.latency_by_step[f"{index + 1:02d} {kind} {arg}"] = [
            round(percentile(values, 0.50) * 1000, 1),
            round(percentile(values, 0.99) * 1000, 1),
        ]
    # the probe: one more user stops where the draft is fullest, and its size is read
    probe = user_ids[-1]
    try:
        probe_latencies: list[float] = []
        await play(
            state,
            bot_id,
            probe,
            wizard.SCRIPT[: wizard.PROBE_STEPS],
            probe_latencies,
            config.timeout,
        )
        await _wait_idle(state, bot_id, quiet=0.2, limit=5.0)
        if spec.kind == "product":
            result.state_bytes_per_draft = await product_state_bytes(
                spec, database_url, f"{bot_id}:{probe}"
            )
        else:
            result.state_bytes_per_draft = await bare_state_bytes(launch, pid, probe)
    except Exception as error:
        result.errors.append(f"probe: {error}")
    result.peak_rss_mb = round(procstat.peak_rss_bytes(pid) / 2**20, 1)
    result.rss_mb = round(procstat.rss_bytes(pid) / 2**20, 1)


def _dump_transcript(state: BenchState, bot_id: int, user_id: int, path: Path) -> None:
    """What the failed user saw and what the bot asked for in that chat, for a post-mortem."""
    account = next(b for b in state.bots.values() if b.id == bot_id)
    events = [e.to_json() for e in state.events if e.bot_id == bot_id and e.chat_id == user_id]
    calls = [
        {
            "seq": c.seq,
            "method": c.method,
            "at": c.at,
            "ok": c.ok,
            "description": c.description,
            "params": c.params,
        }
        for c in state.calls
        if c.bot_id == bot_id and str(c.chat_id) == str(user_id)
    ]
    pending = [u for u in account.updates if _update_user(u) == user_id]
    path.write_text(
        json.dumps(
            {"events": events, "calls": calls, "pending_updates": pending},
            ensure_ascii=False,
            indent=1,
            default=str,
        )
    )


def _update_user(update: dict[str, Any]) -> int | None:
    for kind in ("message", "callback_query"):
        if kind in update:
            sender = update[kind].get("from") or {}
            return int(sender["id"]) if "id" in sender else None
    return None


async def _start_py_spy(
    config: RunConfig, spec: BotSpec, mode: str, pid: int
) -> tuple[asyncio.subprocess.Process, Path] | None:
    if config.py_spy is None or spec.kind != "product":
        return None
    config.py_spy.mkdir(parents=True, exist_ok=True)
    executable = Path(sys.executable).with_name("py-spy")
    out = config.py_spy / f"{spec.name}-{mode}.txt"
    process = await asyncio.create_subprocess_exec(
        str(executable) if executable.exists() else "py-spy",
        "record",
        "--format",
        "raw",
        "--rate",
        "200",
        "--nonblocking",
        "--gil",
        "-o",
        str(out),
        "--pid",
        str(pid),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(0.5)
    return process, out


async def _stop_py_spy(spy: tuple[asyncio.subprocess.Process, Path] | None) -> None:
    if spy is None:
        return
    process, _ = spy
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def summary(values: list[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }
