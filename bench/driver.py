"""One measured run: a local Bot API server in this process, one bot in its own process, and
simulated users playing :data:`bench.wizard.SCRIPT` against it.

The bot talks HTTP to the Bot API server (polling with getUpdates, or webhooks the server
POSTs to it). Closed loop (the default): each user acts, waits for the bot's first visible
reaction in the chat (a new message or an edit), then acts again at once; ``inflight`` users
play at a time until ``users`` have finished, so the bot is saturated and latency is about
in-flight ÷ throughput. Open loop (``rate``): updates go out on a clock, ``rate`` a second,
from at most ``inflight`` users playing at once (:func:`bench.users.open_loop`), so latency is
measured below saturation. The bot's CPU time is read from ``/proc`` around the load, so the
driver's own work (the Bot API server, its spec checks, the users) is not counted.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import procstat, wizard
from bench.processes import (
    Launch,
    bare_launch,
    port_open,
    product_launch,
    scrape_sql,
    start_py_spy,
    stop_py_spy,
)
from bench.server import BenchState, RequestCounter, botapi_server
from bench.stores import (
    bare_state_bytes,
    create_postgres_database,
    drop_postgres_database,
    drop_redis_keys,
    prepare_product_database,
    product_state_bytes,
)
from bench.users import dump_transcript, open_loop, play
from sandbox.botapi import BotApiState

__all__ = ["BotSpec", "RunConfig", "RunResult", "run_one"]

FIRST_USER_ID = 700_000_001


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
    #: users playing at once (closed loop), or the cap on them (open loop)
    inflight: int = 50
    #: updates sent a second on a clock (open loop); None: closed loop
    rate: float | None = None
    #: the open loop's gaps: "poisson" (exponential) or "fixed"
    arrival: str = "poisson"
    timeout: float = 30.0
    #: closed loop: a user waits this to twice this many seconds before each typed answer
    #: (0: answers at once)
    think_typed: float = 0.0
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
    #: closed loop: the users' wait before each typed answer, in seconds
    think_typed: float = 0.0
    finished_users: int = 0
    failed_users: int = 0
    updates: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_us_per_update: float = 0.0
    updates_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    #: over button presses (edits) only, and over typed answers only (/services included)
    press_p50_ms: float = 0.0
    press_p99_ms: float = 0.0
    typed_p50_ms: float = 0.0
    typed_p99_ms: float = 0.0
    #: the open loop: the rate asked for, the rate updates went out at, and ticks missed
    #: because no user was ready while others still waited to start (the bot behind)
    rate: float | None = None
    achieved_rate: float | None = None
    missed_ticks: int | None = None
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
    #: the event loop the bot's process ran on: asyncio or uvloop
    event_loop: str = ""
    violations: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
            if mode == "webhook" and bot.webhook is not None and await port_open(launch.http_port):
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
    result = RunResult(
        bot=spec.name,
        mode=mode,
        users=config.users,
        inflight=config.inflight,
        rate=config.rate,
        think_typed=config.think_typed,
    )
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
            await drop_redis_keys(token)
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
    spy = await start_py_spy(config, spec, mode, pid)
    cpu_before = procstat.cpu_seconds(pid)
    result.event_loop = procstat.event_loop(pid)
    threads_before = procstat.thread_cpu_seconds(pid)
    latencies: list[float] = []
    by_step: dict[int, list[float]] = {}

    def finished(user_id: int) -> None:
        result.finished_users += 1

    def failed(user_id: int, error: Exception) -> None:
        result.failed_users += 1
        if len(result.errors) < 5:
            result.errors.append(f"user {user_id}: {error}")
        dump_transcript(state, bot_id, user_id, workdir / f"user-{user_id}.json")

    load_started = time.perf_counter()
    if config.rate is None:
        gate = asyncio.Semaphore(config.inflight)
        thinking = random.Random(bot_id)

        async def user(user_id: int) -> None:
            async with gate:
                try:
                    await play(
                        state,
                        bot_id,
                        user_id,
                        wizard.SCRIPT,
                        latencies,
                        config.timeout,
                        by_step,
                        think_typed=config.think_typed,
                        rng=thinking,
                    )
                except Exception as error:
                    failed(user_id, error)
                else:
                    finished(user_id)

        await asyncio.gather(*(user(u) for u in user_ids[:-1]))
    else:
        stats = await open_loop(
            state,
            bot_id,
            user_ids[:-1],
            wizard.SCRIPT,
            rate=config.rate,
            arrival=config.arrival,
            cap=config.inflight,
            timeout=config.timeout,
            latencies=latencies,
            by_step=by_step,
            on_finished=finished,
            on_failed=failed,
            rng=random.Random(bot_id),
        )
        result.achieved_rate = round(stats.achieved_rate, 1)
        result.missed_ticks = stats.missed_ticks
    wall = time.perf_counter() - load_started
    await _wait_idle(state, bot_id)
    cpu = procstat.cpu_seconds(pid) - cpu_before
    threads_after = procstat.thread_cpu_seconds(pid)
    result.cpu_s_by_thread = {
        name: round(seconds - threads_before.get(name, 0.0), 2)
        for name, seconds in sorted(threads_after.items(), key=lambda item: -item[1])
        if seconds - threads_before.get(name, 0.0) > 0
    }
    await stop_py_spy(spy)
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
    presses = [v for i, vs in by_step.items() if wizard.SCRIPT[i][0] != "send" for v in vs]
    typed = [v for i, vs in by_step.items() if wizard.SCRIPT[i][0] == "send" for v in vs]
    result.press_p50_ms = round(percentile(presses, 0.50) * 1000, 1)
    result.press_p99_ms = round(percentile(presses, 0.99) * 1000, 1)
    result.typed_p50_ms = round(percentile(typed, 0.50) * 1000, 1)
    result.typed_p99_ms = round(percentile(typed, 0.99) * 1000, 1)
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
