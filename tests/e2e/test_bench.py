"""The benchmark's machinery still works (``python -m bench``): each bot it compares starts as
its own process, a few simulated users finish the wizard over HTTP, and every figure of the
report is filled in and plausible. No timing threshold here: a benchmark, not a timed test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import wizard
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


def test_the_report_compares_bots_of_the_same_repeat() -> None:
    def run(bot: str, cpu: float, repeat_p99: float) -> RunResult:
        return RunResult(
            bot=bot, mode="polling", users=1, inflight=1, cpu_us_per_update=cpu, p99_ms=repeat_p99
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


def test_bad_usage_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--bots", "product,telethon"])
    assert exit_info.value.code == 2
    assert "unknown bot(s) ['telethon']" in capsys.readouterr().err


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
