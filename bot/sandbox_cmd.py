"""``onesme-bot sandbox``: the whole product offline, on one port, in one process.

One aiohttp application serves everything a browser and the bot need:

- ``/bot<token>/...``, ``/file/...``, ``/_sim/...``: the local Telegram Bot API server
  (:mod:`sandbox.botapi`), which the bot polls as it would poll Telegram;
- ``/``: the web chat page (:mod:`sandbox.webchat`), acting as the demo users;
- ``/vnptpay/...``: the VNPT Pay simulator (:mod:`sandbox.vnptpay`), where the payer's page lives;
- the bot's own HTTP routes: ``/payments/vnptpay/ipn`` and ``/payments/vnptpay/return``
  (the simulator's notification and return URLs), ``/healthz``, ``/readyz``, ``/metrics``.

That application IS the bot's HTTP app (``BotApp.http_app``): the outside world is mounted on it
before :meth:`BotApp.start` binds it, so ``TELEGRAM_API_URL``, ``PUBLIC_URL`` and ``VNPTPAY_URL``
all point at the same port and the bot's graceful stop closes the outside world last, after the
updates in hand are finished and confirmed. The bot itself is the real one (``build_app``), on
SQLite (a fresh temporary file unless ``--db`` names one to keep), with the sample catalog and
the demo accounts of :data:`DEMO_USERS`. Nothing leaves the machine and no real token is used.

``sandbox/`` must not import the bot (tests/unit/test_architecture.py), so the composition is
here, in the package that wires everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.app import BotApp, build_app
from bot.logging import configure_logging
from bot.payments_http import IPN_PATH, RETURN_PATH
from bot.settings import Settings, format_settings_errors, load_settings
from domain.usecases.admin import AddEnterpriseRequest, GrantRoleRequest
from sandbox.botapi import BotApiState, setup_botapi
from sandbox.vnptpay import SimulatorConfig, create_vnptpay_app
from sandbox.webchat import setup_webchat

__all__ = [
    "ADMIN_ID",
    "AGENT_ID",
    "BOT_TOKEN",
    "DEMO_BUSINESS",
    "DEMO_USERS",
    "NEW_USER_ID",
    "OWNER_ID",
    "SAMPLE_CATALOG",
    "VNPTPAY_PREFIX",
    "Sandbox",
    "SandboxError",
    "main",
    "run_sandbox",
    "running_sandbox",
]

SAMPLE_CATALOG = Path(__file__).resolve().parent / "data" / "catalog.sample.yaml"
"""The package's copy of the repository's ``catalog.sample.yaml`` (a test keeps them equal):
a non-editable install has no repository around it."""

BOT_TOKEN = "7000000001:SANDBOX-offline-token-not-valid-at-telegram"
"""A well-formed token that only the local Bot API server knows."""
BOT_USERNAME = "onesme_sandbox_bot"
BOT_NAME = "oneSME"

VNPTPAY_PREFIX = "/vnptpay"
MERCHANT_SERVICE_ID = "ONESME-SANDBOX"
MERCHANT_API_KEY = "sandbox-api-key"
MERCHANT_SECRET_KEY = "sandbox-secret-key"

OWNER_ID = 1001
AGENT_ID = 1002
ADMIN_ID = 1003
NEW_USER_ID = 1004


@dataclass(frozen=True)
class DemoBusiness:
    tax_code: str
    name: str
    address: str
    email: str
    phone: str
    province: str


DEMO_BUSINESS = DemoBusiness(
    tax_code="0100233488",
    name="Công ty TNHH An Bình",
    address="57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội",
    email="ketoan@anbinh.vn",
    phone="0912345678",
    province="Hà Nội",
)

DEMO_USERS: tuple[dict[str, Any], ...] = (
    {
        "id": OWNER_ID,
        "first_name": "Lan",
        "last_name": "Nguyễn Thị",
        "label": f"Chị Lan – chủ doanh nghiệp ({DEMO_BUSINESS.name})",
        "phone_number": "+84912345678",
    },
    {
        "id": AGENT_ID,
        "first_name": "Minh",
        "last_name": "Trần Văn",
        "label": "Anh Minh – nhân viên hỗ trợ (agent)",
        "phone_number": "+84987654321",
    },
    {
        "id": ADMIN_ID,
        "first_name": "Hà",
        "last_name": "Phạm Thu",
        "label": "Chị Hà – quản trị viên (admin)",
        "phone_number": "+84901234567",
    },
    {
        "id": NEW_USER_ID,
        "first_name": "Tuấn",
        "last_name": "Lê Anh",
        "label": "Anh Tuấn – người dùng mới, chưa đăng ký",
        "phone_number": "+84934567890",
    },
)

LINKS = {
    "Giao dịch VNPT Pay": f"{VNPTPAY_PREFIX}/_sim/transactions",
    "Tình trạng bot": "/readyz",
}

_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})


def public_base(host: str, port: int) -> str:
    """The URL browsers and the bot use: a wildcard bind address is reached on loopback."""
    shown = "127.0.0.1" if host in _ANY_ADDRESS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def sandbox_settings(host: str, port: int, database_url: str) -> Settings:
    """The bot's settings in the sandbox. Every setting that could reach outside (Redis, a
    webhook, a real gateway, a ``.env`` file) is set here, whatever the environment says."""
    base = public_base(host, port)
    return load_settings(
        _env_file=None,
        bot_token=BOT_TOKEN,
        telegram_api_url=base,
        database_url=database_url,
        redis_url=None,
        webhook_url=None,
        webhook_secret=None,
        http_host=host,
        http_port=port,
        public_url=base,
        chat_url=base + "/",  # the web chat page: t.me is out of reach offline
        vnptpay_url=base + VNPTPAY_PREFIX,
        vnptpay_merchant_service_id=MERCHANT_SERVICE_ID,
        vnptpay_api_key=MERCHANT_API_KEY,
        vnptpay_secret_key=MERCHANT_SECRET_KEY,
        catalog_file=SAMPLE_CATALOG,
        admin_ids=(ADMIN_ID,),
        default_locale="vi",
    )


def mount_outside_world(app: web.Application, settings: Settings) -> BotApiState:
    """Put the Bot API server, the web chat page and the VNPT Pay simulator on ``app`` (the
    bot's HTTP app, not yet started); returns the Bot API server's state."""
    state = BotApiState()
    state.add_bot(BOT_TOKEN, username=BOT_USERNAME, first_name=BOT_NAME)
    setup_botapi(app, state)
    setup_webchat(app, state, demo_users=DEMO_USERS, links=LINKS)
    base = settings.public_url
    simulator = SimulatorConfig(
        merchant_service_id=MERCHANT_SERVICE_ID,
        api_key=MERCHANT_API_KEY,
        secret_key=MERCHANT_SECRET_KEY,
        return_url=base + RETURN_PATH,
        ipn_url=base + IPN_PATH,
        public_base_url=base + VNPTPAY_PREFIX,
    )
    app.add_subapp(VNPTPAY_PREFIX, create_vnptpay_app(simulator))
    return state


async def seed_demo_accounts(bot_app: BotApp) -> None:
    """The owner's business with its full profile, the owner and the agent (the admin comes
    from ``ADMIN_IDS``; the new user has nothing). Idempotent, so a kept ``--db`` restarts."""
    container = bot_app.container
    business = DEMO_BUSINESS
    await container.add_enterprise(
        AddEnterpriseRequest(
            tax_code=business.tax_code,
            name=business.name,
            address=business.address,
            email=business.email,
            phone=business.phone,
            province=business.province,
        )
    )
    grant = container.grant_role
    await grant(GrantRoleRequest(user_id=OWNER_ID, role="owner", tax_code=business.tax_code))
    await grant(GrantRoleRequest(user_id=AGENT_ID, role="agent"))


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: its URL, the bot and the simulated Telegram side."""

    url: str
    bot: BotApp
    botapi: BotApiState
    database_path: Path


class SandboxError(Exception):
    """The sandbox cannot start (e.g. the port is taken): one line for the operator."""


@contextlib.asynccontextmanager
async def running_sandbox(
    *, host: str = "127.0.0.1", port: int = 8080, db: Path | None = None
) -> AsyncIterator[Sandbox]:
    """Start everything (migrate, catalog, demo accounts, then serve and poll); on exit stop the
    bot gracefully, close the server and remove the temporary database (never a ``db`` given)."""
    scratch = Path(tempfile.mkdtemp(prefix="onesme-sandbox-")) if db is None else None
    path = scratch / "sandbox.db" if scratch is not None else db
    assert path is not None
    try:
        settings = sandbox_settings(host, port, f"sqlite+aiosqlite:///{path}")
        bot_app = build_app(settings)
        try:
            state = mount_outside_world(bot_app.http_app, settings)
            # The command menu needs the Bot API server, which only runs after start(); the web
            # chat page shows no command menu, so it is not published.
            await bot_app.prepare(set_commands=False)
            await seed_demo_accounts(bot_app)
            try:
                await bot_app.start()
            except OSError as error:
                raise SandboxError(f"cannot listen on {host}:{port}: {error.strerror}") from None
            yield Sandbox(settings.public_url, bot_app, state, path)
        finally:
            await bot_app.stop()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


async def run_sandbox(*, host: str = "127.0.0.1", port: int = 8080, db: Path | None = None) -> None:
    """The command: serve until SIGINT or SIGTERM, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with running_sandbox(host=host, port=port, db=db) as sandbox:
            kept = "kept" if db is not None else "removed on exit"
            print(f"Sandbox ready: {sandbox.url}", flush=True)
            print(
                f"Open it in a browser and pick who you are. Database: {sandbox.database_path} "
                f"({kept}). Ctrl-C stops it.",
                flush=True,
            )
            await stop.wait()
            print("Sandbox stopping…", flush=True)
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535 (got {value})")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="onesme-bot sandbox",
        description=(
            "Everything offline on one port: a local Telegram Bot API server, a web chat page, "
            "the VNPT Pay simulator and the bot on SQLite with the sample catalog and demo users."
        ),
    )
    parser.add_argument("--port", type=_port, default=8080, help="the port (default 8080)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="a SQLite file to keep between runs (default: a temporary one, removed on exit)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``onesme-bot sandbox [--port 8080] [--db PATH] [--host 127.0.0.1]``; the exit code."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2
    try:
        settings = sandbox_settings(args.host, args.port, "sqlite+aiosqlite://")
    except ValidationError as error:
        for line in format_settings_errors(error):
            print(f"onesme-bot: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        db = args.db.resolve() if args.db is not None else None
        asyncio.run(run_sandbox(host=args.host, port=args.port, db=db))
    except SandboxError as error:
        print(f"onesme-bot: {error}", file=sys.stderr)
        return 1
    return 0
