"""The composition root builds each dependency once and closes only what it created."""

from __future__ import annotations

from typing import Any

import pytest

from bot.container import Container
from bot.settings import load_settings
from storage.db import Database

TOKEN = "7000000001:unit-test-token-for-the-container-only"


def settings(**values: Any) -> Any:
    base: dict[str, Any] = {
        "_env_file": None,
        "database_url": "sqlite+aiosqlite://",
        "redis_url": None,
        "vnptpay_url": None,
        "vnptpay_merchant_service_id": None,
        "vnptpay_api_key": None,
        "vnptpay_secret_key": None,
    }
    base.update(values)
    return load_settings(**base)


async def test_each_use_case_is_built_once_on_the_same_database() -> None:
    container = Container(settings(bot_token=None))
    try:
        assert container.grant_role is container.grant_role
        assert container.payments is container.payments
        assert container.place_order is container.place_order
        # the CLI's use cases need no bot token; the bot does
        assert container.load_catalog is not None
        with pytest.raises(ValueError, match="BOT_TOKEN"):
            _ = container.bot
        assert container.uow() is container.database.uow
    finally:
        await container.aclose()


async def test_without_a_gateway_there_are_no_payment_routes_and_no_start() -> None:
    container = Container(settings(bot_token=TOKEN))
    try:
        assert container.gateway is None
        assert container.payment_routes == []
        assert container.payments.start is None
        assert container.background == [
            container.reconciler,
            container.outbox,
            container.change_rounds,
            container.lifecycle,
        ]
        assert container.bot_id == 7000000001
    finally:
        await container.aclose()


async def test_a_database_given_is_left_open_and_closing_twice_is_safe() -> None:
    database = Database("sqlite+aiosqlite://")
    disposed: list[str] = []
    real_dispose = database.dispose

    async def dispose() -> None:
        disposed.append("given")
        await real_dispose()

    database.dispose = dispose  # type: ignore[method-assign]
    container = Container(settings(bot_token=TOKEN), database=database)
    _ = container.bot
    assert container.outbox_database is database  # in-memory SQLite cannot be opened twice
    await container.aclose()
    await container.aclose()
    assert disposed == []
    assert container.closers == []
    await real_dispose()


def test_sqlite_mode_imports_no_redis_postgres_driver_migrations_or_pdf() -> None:
    """The bot on SQLite without REDIS_URL, built whole, leaves those modules unimported."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import asyncio, sys
        from bot.app import build_app
        from bot.settings import load_settings

        async def main():
            settings = load_settings(
                _env_file=None, database_url="sqlite+aiosqlite://", redis_url=None,
                bot_token={TOKEN!r},
            )
            app = build_app(settings)
            _ = (app.container.state, app.container.contacts, app.container.background)
            await app.container.aclose()

        asyncio.run(main())
        print(sorted(m for m in ("redis", "asyncpg", "alembic", "fpdf") if m in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
