"""The bot processes: how the product and the bare bots are launched (command line and
environment), waiting for their HTTP port, their SQL counter, and py-spy attached to them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.server import free_port

if TYPE_CHECKING:
    from bench.driver import BotSpec, RunConfig

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "catalog.sample.yaml"
#: BENCH_REDIS_URL: another server, e.g. a private one whose INFO commandstats count the
#: bot's Redis calls alone
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_prefix(token: str) -> str:
    """The Redis key prefix of one run's product (its bot id in it): a run never finds an
    earlier run's keys (contacts, done marks, drafts) and its own are dropped after it."""
    return f"onesme-bench:{token.partition(':')[0]}:"


WEBHOOK_SECRET = "bench-webhook-secret"


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
    for name in (
        "REDIS_URL",
        "REDIS_PREFIX",
        "ADMIN_IDS",
        "VNPTPAY_URL",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
    ):
        env.pop(name, None)
    if redis:
        env["REDIS_URL"] = REDIS_URL
        env["REDIS_PREFIX"] = redis_prefix(token)
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


async def port_open(port: int) -> bool:
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


async def start_py_spy(
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


async def stop_py_spy(spy: tuple[asyncio.subprocess.Process, Path] | None) -> None:
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
