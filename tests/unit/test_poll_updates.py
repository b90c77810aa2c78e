"""The polling loop's ``getUpdates`` (``BotSession.poll_updates``, ``BotApp._get_updates``):
the same request, the same updates and the same errors as ``bot.get_updates``, counted as the
session's call counter counts a call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import ALLOWED_UPDATES, POLL_TIMEOUT_SECONDS, build_app
from bot.session import BotSession
from tests.unit.test_container import TOKEN, settings

MESSAGE_UPDATE = {
    "update_id": 41,
    "message": {
        "message_id": 7,
        "date": 1700000000,
        "from": {"id": 5, "is_bot": False, "first_name": "Lan", "language_code": "vi"},
        "chat": {"id": 5, "type": "private", "first_name": "Lan"},
        "text": "Nguyễn Thị Lan",
    },
}
CALLBACK_UPDATE = {
    "update_id": 42,
    "callback_query": {
        "id": "q1",
        "from": {"id": 5, "is_bot": False, "first_name": "Lan"},
        "chat_instance": "-1",
        "data": "f:1:svc:a",
        "message": {
            "message_id": 8,
            "date": 1700000001,
            "chat": {"id": 5, "type": "private"},
            "text": "Chọn gói",
            "reply_markup": {
                "inline_keyboard": [[{"text": "Gói A", "callback_data": "f:1:svc:a"}]]
            },
        },
    },
}


class FakeApi:
    """A Bot API that answers every call with ``answer`` (status, JSON or raw bytes) and
    records what it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.answer: Any = {"ok": True, "result": [MESSAGE_UPDATE, CALLBACK_UPDATE]}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            (request.match_info["method"], request.content_type, orjson.loads(body))
        )
        raw = self.answer if isinstance(self.answer, bytes) else orjson.dumps(self.answer)
        return web.Response(status=self.status, body=raw, content_type="application/json")


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeApi, str]]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def bot(api: tuple[FakeApi, str]) -> AsyncIterator[Bot]:
    _, url = api
    session = BotSession(api=TelegramAPIServer.from_base(url))
    bot = Bot(TOKEN, session=session)
    try:
        yield bot
    finally:
        await session.close()


def _poll(bot: Bot, offset: int | None) -> Any:
    session = bot.session
    assert isinstance(session, BotSession)
    return session.poll_updates(
        bot,
        offset=offset,
        timeout=POLL_TIMEOUT_SECONDS,
        allowed_updates=list(ALLOWED_UPDATES),
        request_timeout=POLL_TIMEOUT_SECONDS + 15,
    )


def _aiogram(bot: Bot, offset: int | None) -> Any:
    return bot.get_updates(
        offset=offset,
        timeout=POLL_TIMEOUT_SECONDS,
        allowed_updates=list(ALLOWED_UPDATES),
        request_timeout=POLL_TIMEOUT_SECONDS + 15,
    )


@pytest.mark.parametrize("offset", [None, 41])
async def test_the_poll_sends_what_aiogram_sends_and_reads_the_same_updates(
    api: tuple[FakeApi, str], bot: Bot, offset: int | None
) -> None:
    fake, _ = api
    polled = await _poll(bot, offset)
    read = await _aiogram(bot, offset)
    assert [u.model_dump() for u in polled] == [u.model_dump() for u in read]
    assert [type(u.message or u.callback_query) for u in polled] == [
        type(u.message or u.callback_query) for u in read
    ]
    # the models are bound to the bot as aiogram binds them (answer(), edit_text() work)
    assert polled[1].callback_query is not None and polled[1].callback_query.bot is bot
    (method, kind, body), (_, _, aiogram_body) = fake.requests
    assert (method, kind) == ("getUpdates", "application/json")
    assert body == aiogram_body
    assert body.get("offset") == offset and body["allowed_updates"] == list(ALLOWED_UPDATES)


async def test_no_updates_is_an_empty_list(api: tuple[FakeApi, str], bot: Bot) -> None:
    fake, _ = api
    fake.answer = {"ok": True, "result": []}
    assert await _poll(bot, 3) == []


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (409, {"ok": False, "error_code": 409, "description": "Conflict: webhook"}),
        (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
        (200, {"ok": True, "result": [{"update_id": "x"}]}),  # not an update
        (200, {"ok": True, "result": {"update_id": 1}}),  # not a list
        (200, b"<html>not json</html>"),
        (502, b"Bad Gateway"),
    ],
)
async def test_a_failed_poll_raises_what_aiogram_raises(
    api: tuple[FakeApi, str], bot: Bot, status: int, answer: Any
) -> None:
    fake, _ = api
    fake.status, fake.answer = status, answer
    with pytest.raises(Exception) as by_aiogram:
        await _aiogram(bot, 1)
    with pytest.raises(type(by_aiogram.value)) as by_poll:
        await _poll(bot, 1)
    assert str(by_poll.value) == str(by_aiogram.value)
    if status == 409:
        assert isinstance(by_poll.value, TelegramConflictError)
    if status == 401:
        assert isinstance(by_poll.value, TelegramUnauthorizedError)


async def test_an_unreachable_api_is_a_network_error() -> None:
    session = BotSession(api=TelegramAPIServer.from_base("http://127.0.0.1:9"))
    bot = Bot(TOKEN, session=session)
    try:
        with pytest.raises(TelegramNetworkError):
            await _poll(bot, None)
    finally:
        await session.close()


async def test_the_app_polls_through_its_session_and_counts_the_call(
    api: tuple[FakeApi, str],
) -> None:
    fake, url = api
    app = build_app(settings(bot_token=TOKEN, telegram_api_url=url))
    polled: list[str] = []
    poll = app.bot.session.poll_updates  # type: ignore[attr-defined]

    async def recording_poll(*args: Any, **kwargs: Any) -> Any:
        polled.append("poll")
        return await poll(*args, **kwargs)

    app.bot.session.poll_updates = recording_poll  # type: ignore[attr-defined]
    registry = app.metrics.registry
    sample = "onesme_bot_api_calls_total"
    try:
        updates = await app._get_updates()
        assert [u.update_id for u in updates] == [41, 42] and polled == ["poll"]
        assert registry.get_sample_value(sample, {"method": "getUpdates", "outcome": "ok"}) == 1
        assert (
            registry.get_sample_value(sample, {"method": "getUpdates", "outcome": "error"}) is None
        )
        fake.status = 409
        fake.answer = {"ok": False, "error_code": 409, "description": "Conflict"}
        with pytest.raises(TelegramConflictError):
            await app._get_updates()
        assert registry.get_sample_value(sample, {"method": "getUpdates", "outcome": "error"}) == 1
    finally:
        await app.container.aclose()
