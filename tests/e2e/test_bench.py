"""The benchmark's machinery still works (``python -m bench``): each bot it compares starts as
its own process, a few simulated users finish the wizard over HTTP, and every figure of the
report is filled in and plausible. No timing threshold here: a benchmark, not a timed test."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from bench import users, wizard
from bench.__main__ import main as bench_main
from bench.driver import BotSpec, RunConfig, RunResult, run_one
from bench.report import aggregate, table

USERS = 3


def check_sane(result: RunResult) -> None:
    assert result.errors == [] and result.violations == 0, result.errors
    assert (result.finished_users, result.failed_users) == (USERS, 0)
    assert result.updates == USERS * len(wizard.SCRIPT)
    assert result.cpu_s > 0 and result.cpu_us_per_update > 0
    assert result.updates_per_s > 0
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.peak_rss_mb > 10
    # every update costs one or two calls (a press: answer and edit), never none
    assert 1.0 <= result.api_calls_per_update <= 2.0
    assert result.startup_s > 0
    assert result.state_bytes_per_draft is not None and result.state_bytes_per_draft > 50
    assert result.event_loop == "asyncio"  # every bot's default


@pytest.mark.parametrize(
    ("spec", "mode"),
    [
        (BotSpec("aiogram", "aiogram"), "polling"),
        (BotSpec("ptb", "ptb"), "webhook"),
        (BotSpec("product", "product"), "webhook"),
    ],
    ids=["aiogram-polling", "ptb-webhook", "product-webhook"],
)
@pytest.mark.slow
async def test_a_short_run_reports_sane_figures(spec: BotSpec, mode: str, tmp_path: Path) -> None:
    result = await run_one(spec, mode, RunConfig(users=USERS, inflight=2, workdir=tmp_path))
    check_sane(result)
    if spec.kind == "product":
        assert result.sql_per_update is not None and result.sql_per_update > 0
        # the callback answers travel in the webhook's answers: fewer requests than calls
        assert result.http_requests_per_update < result.api_calls_per_update
    else:
        assert result.sql_per_update is None


@pytest.mark.slow
async def test_a_run_on_postgres_and_redis_keeps_its_redis_keys_to_itself(tmp_path: Path) -> None:
    """Each run's product writes under its own Redis prefix (an earlier run's contacts and
    done marks would change what a later run measures) and its keys are dropped after it;
    the stored draft's size is read under that prefix."""
    from redis.asyncio import Redis

    from bench.processes import REDIS_URL

    client = Redis.from_url(REDIS_URL)
    try:
        before = {key async for key in client.scan_iter(match="onesme-bench:*", count=500)}
        spec = BotSpec("product-pg-redis", "product", db="postgres", redis=True)
        result = await run_one(
            spec, "polling", RunConfig(users=USERS, inflight=2, workdir=tmp_path)
        )
        check_sane(result)  # the draft's size found under the run's prefix
        after = {key async for key in client.scan_iter(match="onesme-bench:*", count=500)}
        assert after <= before
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_an_open_loop_run_reports_the_same_figures_and_the_rate(tmp_path: Path) -> None:
    config = RunConfig(users=USERS, inflight=2, rate=40.0, arrival="fixed", workdir=tmp_path)
    result = await run_one(BotSpec("product", "product"), "polling", config)
    check_sane(result)
    assert result.rate == 40.0
    assert result.achieved_rate is not None and result.achieved_rate > 0
    assert result.missed_ticks is not None and result.missed_ticks >= 0
    assert 0 < result.press_p50_ms <= result.press_p99_ms
    assert 0 < result.typed_p50_ms <= result.typed_p99_ms
    assert len(result.latency_by_step) == len(wizard.SCRIPT)


@pytest.mark.parametrize("arrival", ["poisson", "fixed"])
async def test_the_open_loop_plays_every_step_in_order_within_the_cap(
    arrival: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = (("send", "/start"), ("press", "A"), ("send", "text"))
    done: list[tuple[int, int]] = []
    playing: set[int] = set()
    most_at_once = 0

    async def fake_act(
        state: object,
        bot_id: int,
        user_id: int,
        step: tuple[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> float:
        nonlocal most_at_once
        index = steps.index(step)
        assert done.count((user_id, index)) == 0
        assert index == 0 or (user_id, index - 1) in done
        playing.add(user_id)
        most_at_once = max(most_at_once, len(playing))
        await asyncio.sleep(0.002 * (user_id % 3))
        done.append((user_id, index))
        if index == len(steps) - 1:
            playing.discard(user_id)
        return 0.001

    monkeypatch.setattr(users, "act", fake_act)
    finished: list[int] = []
    latencies: list[float] = []
    by_step: dict[int, list[float]] = {}
    stats = await users.open_loop(
        None,  # type: ignore[arg-type]
        1,
        list(range(7)),
        steps,
        rate=2000.0,
        arrival=arrival,
        cap=3,
        timeout=1.0,
        latencies=latencies,
        by_step=by_step,
        on_finished=finished.append,
        on_failed=lambda user_id, error: pytest.fail(f"user {user_id}: {error}"),
        rng=random.Random(1),
    )
    assert sorted(finished) == list(range(7))
    assert sorted(done) == [(u, i) for u in range(7) for i in range(3)]
    assert stats.sent == len(latencies) == 21
    assert {i: len(v) for i, v in by_step.items()} == {0: 7, 1: 7, 2: 7}
    assert 1 <= most_at_once <= 3
    assert stats.achieved_rate > 0


async def test_a_failed_user_leaves_the_open_loop_and_frees_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def fake_act(
        state: object,
        bot_id: int,
        user_id: int,
        step: tuple[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> float:
        if user_id == 0 and step[1] == "A":
            raise TimeoutError("no reply")
        return 0.001

    monkeypatch.setattr(users, "act", fake_act)
    finished: list[int] = []
    failed: list[int] = []
    async with asyncio.timeout(10):  # a place never freed would hang the loop
        stats = await users.open_loop(
            None,  # type: ignore[arg-type]
            1,
            [0, 1, 2],
            (("send", "/start"), ("press", "A")),
            rate=2000.0,
            arrival="fixed",
            cap=1,
            timeout=1.0,
            latencies=[],
            by_step={},
            on_finished=finished.append,
            on_failed=lambda user_id, error: failed.append(user_id),
            rng=random.Random(1),
        )
    assert (failed, sorted(finished)) == ([0], [1, 2])
    assert stats.sent == 6


def test_the_report_compares_bots_of_the_same_repeat() -> None:
    def run(bot: str, cpu: float, repeat_p99: float) -> RunResult:
        return RunResult(
            bot=bot,
            mode="polling",
            users=1,
            inflight=1,
            cpu_us_per_update=cpu,
            p99_ms=repeat_p99,
            event_loop="uvloop" if bot == "product" else "asyncio",
        )

    runs = [
        (0, run("product", 900, 50)),
        (0, run("aiogram", 1000, 40)),
        (0, run("ptb", 2000, 100)),
        (1, run("product", 1200, 60)),
        (1, run("aiogram", 1000, 30)),
        (1, run("ptb", 1500, 100)),
    ]
    document = aggregate(runs)
    cpu = document["figures"]["polling"]["product"]["cpu_us_per_update"]
    assert cpu == {"min": 900, "median": 1050, "max": 1200}
    vs_aiogram = document["ratios"]["polling"]["product/aiogram"]["cpu_us_per_update"]
    assert vs_aiogram == {"min": 0.9, "median": pytest.approx(1.05), "max": 1.2}
    vs_ptb = document["ratios"]["polling"]["product/ptb"]["cpu_us_per_update"]
    assert vs_ptb == {"min": 0.45, "median": pytest.approx(0.625), "max": 0.8}
    shown = table(document, repeats=2)
    assert "| polling | product/aiogram | 1.05 (0.90–1.20)" in shown
    assert "| polling | product | uvloop | 1050 (900–1200) |" in shown
    assert "| polling | aiogram | asyncio | 1000 (1000–1000) |" in shown


async def test_a_think_time_comes_before_each_typed_answer_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps = (("send", "/start"), ("press", "A"), ("send", "a name"), ("send", "a phone"))
    seen: list[str] = []
    real_sleep = asyncio.sleep

    async def fake_act(
        state: object,
        bot_id: int,
        user_id: int,
        step: tuple[str, str],
        timeout: float,  # noqa: ASYNC109
    ) -> float:
        seen.append(step[1])
        return 0.001

    thoughts: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        seen.append("think")
        thoughts.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(users, "act", fake_act)
    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)  # the one bench.users awaits
    latencies: list[float] = []
    rng = random.Random(7)
    await users.play(None, 1, 2, steps, latencies, 1.0, think_typed=1.5, rng=rng)  # type: ignore[arg-type]
    assert seen == ["/start", "A", "think", "a name", "think", "a phone"]
    # between the time asked and twice it, not all alike (users in step would send in bursts)
    assert all(1.5 <= t <= 3.0 for t in thoughts) and len(set(thoughts)) == 2
    assert latencies == [0.001] * 4  # the thinking is not part of the latency
    seen.clear()
    await users.play(None, 1, 2, steps, [], 1.0)  # type: ignore[arg-type]
    assert seen == ["/start", "A", "a name", "a phone"]  # by default users answer at once


def test_the_think_time_is_shown_under_the_table() -> None:
    runs = [(0, RunResult(bot="product", mode="polling", users=1, inflight=1, think_typed=2.0))]
    document = {**aggregate(runs), "config": {"think_typed": 2.0}}
    assert "Users waited 2–4 s before each typed answer" in table(document, repeats=1)
    assert "Users waited" not in table(aggregate(runs), repeats=1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--think-typed", "-1"], "--think-typed must be between 0 and --timeout seconds"),
        (["--think-typed", "1", "--rate", "20"], "--think-typed is for the closed loop"),
    ],
)
def test_a_bad_think_time_is_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_usage_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--bots", "product,telethon"])
    assert exit_info.value.code == 2
    assert "unknown bot(s) ['telethon']" in capsys.readouterr().err


def test_a_rate_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--rate", "0"])
    assert exit_info.value.code == 2
    assert "--rate must be above 0" in capsys.readouterr().err


def test_the_command_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["--bots", "ptb", "--modes", "polling", "--users", "2", "--out", str(out)]
    assert bench_main(argv) == 0
    assert "| polling | ptb |" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert document["machine"]["nproc"] >= 1
    assert document["runs"][0]["finished_users"] == 2
    assert "ptb" in document["figures"]["polling"]


def test_the_command_runs_an_open_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    argv = ["--bots", "aiogram", "--modes", "webhook", "--users", "2", "--rate", "30"]
    assert bench_main([*argv, "--arrival", "fixed", "--out", str(out)]) == 0
    assert "| webhook | aiogram |" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert (document["config"]["rate"], document["config"]["arrival"]) == (30.0, "fixed")
    run = document["runs"][0]
    assert (run["rate"], run["finished_users"]) == (30.0, 2)
    assert run["updates"] == 2 * len(wizard.SCRIPT)
    assert run["achieved_rate"] > 0
    assert "achieved_rate" in document["figures"]["webhook"]["aiogram"]
