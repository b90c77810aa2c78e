"""Fixtures for end-to-end tests: the local Bot API server and the real bot running against it.

``botapi``        a local Bot API server (``sandbox.botapi``) on a free port, fresh per test.
``bot_factory``   ``await bot_factory(mode="polling" | "webhook", **BotHarness kwargs)`` starts
                  a bot (migrated database, sample catalog loaded) and returns its
                  :class:`~tests.e2e.harness.BotHarness`; every bot is stopped at teardown,
                  and the test errors if any request the bot sent broke the Bot API spec.
``polling_bot``   a bot polling with getUpdates (the real engine).
``webhook_bot``   a bot served by webhook: the local server POSTs updates to its HTTP server.
``owner``         a :class:`ChatUser` owning the enterprise ``OWNER_TAX_CODE`` of ``polling_bot``.

The database is SQLite (``db_backend`` is overridden here); a test parametrises
``db_backend`` over ``["sqlite", "postgresql"]`` to run on PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sandbox.botapi import BotApiServer, run_botapi_server
from tests.e2e.botapi_client import ChatUser
from tests.e2e.harness import OWNER_NAME, OWNER_TAX_CODE, BotHarness

BotFactory = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


@pytest.fixture
async def botapi() -> AsyncIterator[BotApiServer]:
    async with run_botapi_server() as server:
        yield server


@pytest.fixture
async def bot_factory(botapi: BotApiServer, db_url: str) -> AsyncIterator[BotFactory]:
    started: list[BotHarness] = []

    async def make(mode: str = "polling", **kwargs: Any) -> BotHarness:
        harness = BotHarness(botapi, db_url, mode=mode, **kwargs)
        started.append(harness)
        await harness.start()
        return harness

    yield make
    for harness in started:
        await harness.close()
    refused = [f"{v.method}: {v.description}" for v in botapi.state.violations]
    assert refused == [], f"the bot sent requests Telegram would refuse: {refused}"


@pytest.fixture
async def polling_bot(bot_factory: BotFactory) -> BotHarness:
    return await bot_factory("polling")


@pytest.fixture
async def webhook_bot(bot_factory: BotFactory) -> BotHarness:
    return await bot_factory("webhook")


@pytest.fixture
async def owner(polling_bot: BotHarness) -> ChatUser:
    user = polling_bot.user("Chủ", last_name="Doanh nghiệp", phone_number="+84912345678")
    await polling_bot.add_enterprise(OWNER_TAX_CODE, OWNER_NAME)
    await polling_bot.grant(user.id, "owner", tax_code=OWNER_TAX_CODE)
    return user
