"""The local Bot API server: real aiogram requests pass, Telegram's rules are enforced and
recorded as violations, webhooks are delivered like Telegram delivers them, and simulated users
see what a Telegram user would see."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import segno
from aiogram import Bot, Dispatcher, Router, html
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError, TelegramForbiddenError
from aiogram.filters import Command, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestUsers,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from sandbox.botapi import (
    BotApiServer,
    BotApiState,
    SimError,
    SimUser,
    parse_html,
    run_botapi_server,
    visible_text,
)
from tests.e2e.botapi_client import ChatUser, NoReply

TOKEN = "424242:integration-test-token"
USER_ID = 5550001
OTHER_ID = 5550002
SECRET = "s3cr3t-token_1"


class QuickSession(AiohttpSession):
    """aiogram's session without the 250 ms pause its close() keeps for TLS connections."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
def state() -> BotApiState:
    state = BotApiState()
    state.add_bot(TOKEN, username="onesme_test_bot", first_name="oneSME")
    state.webhook_retry_delays = (0.01, 0.02)
    return state


@pytest.fixture
async def server(state: BotApiState) -> AsyncIterator[BotApiServer]:
    async with run_botapi_server(state) as running:
        yield running


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    session = QuickSession(api=TelegramAPIServer.from_base(server.url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await session.close()


@pytest.fixture
def user(state: BotApiState) -> SimUser:
    """A user who has opened the chat with the bot (its /start is pending as an update)."""
    created = state.create_user(
        "An", user_id=USER_ID, last_name="Nguyễn", username="an_ng", phone_number="84912345678"
    )
    state.send_message(created.id, "/start")
    return created


async def raw(
    server: BotApiServer,
    method: str,
    *,
    json_body: dict[str, Any] | None = None,
    form: dict[str, str] | aiohttp.FormData | None = None,
    token: str = TOKEN,
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/bot{token}/{method}", json=json_body, data=form) as response,
    ):
        return response.status, await response.json()


def png() -> bytes:
    buffer = io.BytesIO()
    segno.make("https://example.test/pay?order=1").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


# -- aiogram's real requests pass ------------------------------------------------------------


async def test_aiogram_requests_pass_validation(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    sent = await bot.send_message(
        user.id,
        f"<b>Chào {html.quote('<An & Bình>')}</b>\nChọn <i>dịch vụ</i>:",
        reply_markup=keyboard([("Đăng ký", "reg:1"), ("Hủy", "cancel")]),
    )
    assert sent.text == "Chào <An & Bình>\nChọn dịch vụ:"
    assert sent.from_user is not None and sent.from_user.username == "onesme_test_bot"
    assert sent.message_id == 2

    pressed = state.press_inline_button(user.id, "Đăng ký")
    updates = await bot.get_updates(timeout=1)
    query = updates[-1].callback_query
    assert query is not None and query.data == "reg:1" and query.id == pressed.callback_query_id
    assert await bot.answer_callback_query(query.id, text="Đang xử lý")
    edited = await bot.edit_message_text(
        "Bước 1/2",
        chat_id=user.id,
        message_id=sent.message_id,
        reply_markup=keyboard([("Tiếp theo", "next")]),
    )
    assert isinstance(edited, Message) and edited.edit_date is not None

    photo = await bot.send_photo(
        user.id, BufferedInputFile(png(), "qr.png"), caption="<i>Quét mã QR</i>"
    )
    assert photo.photo is not None and photo.photo[-1].width == photo.photo[-1].height
    assert photo.caption == "Quét mã QR"
    document = await bot.send_document(
        user.id, BufferedInputFile(b"%PDF-1.4 invoice", "hoa-don.pdf"), caption="Hóa đơn"
    )
    assert document.document is not None
    assert document.document.file_name == "hoa-don.pdf"
    assert document.document.mime_type == "application/pdf"
    file = await bot.get_file(document.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.4 invoice"

    commands = [BotCommand(command="start", description="Bắt đầu")]
    assert await bot.set_my_commands(commands)
    assert await bot.set_my_commands(
        [BotCommand(command="help", description="Help")],
        scope=BotCommandScopeChat(chat_id=user.id),
        language_code="en",
    )
    assert [(c.command, c.description) for c in await bot.get_my_commands()] == [
        ("start", "Bắt đầu")
    ]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert await bot.send_chat_action(user.id, "typing")
    assert await bot.delete_message(user.id, photo.message_id)
    me = await bot.get_me()
    assert me.id == 424242 and me.is_bot

    assert state.violations == []
    seen = state.history(user.id)
    assert [m.text or m.caption for m in seen] == ["/start", "Bước 1/2", "Hóa đơn"]
    assert seen[1].edited and seen[1].labels == [["Tiếp theo"]]
    assert state.documents(user.id)[0].data == b"%PDF-1.4 invoice"
    assert state.callback_answers(user.id)[0].text == "Đang xử lý"
    assert state.unanswered_callback_queries() == []


async def test_json_and_urlencoded_bodies_and_case_insensitive_names(
    server: BotApiServer, state: BotApiState, user: SimUser
) -> None:
    status, body = await raw(
        server,
        "SENDMESSAGE",
        json_body={
            "chat_id": user.id,
            "text": "json",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        },
    )
    assert status == 200 and body["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    status, body = await raw(
        server,
        "sendmessage",
        form={
            "chat_id": str(user.id),
            "text": "form",
            "reply_markup": json.dumps({"keyboard": [[{"text": "Một"}]]}),
        },
    )
    assert status == 200 and body["result"]["text"] == "form"
    assert state.current_keyboard(user.id) is not None
    assert [c.method for c in state.calls] == ["sendMessage", "sendMessage"]
    assert state.violations == []


async def test_deprecated_parameters_aiogram_still_sends_are_accepted(
    server: BotApiServer, state: BotApiState, user: SimUser
) -> None:
    session = QuickSession(api=TelegramAPIServer.from_base(server.url))
    defaults = DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True)
    async with Bot(TOKEN, session=session, default=defaults) as preview_off:
        sent = await preview_off.send_message(user.id, "https://example.test")
    assert sent.link_preview_options is not None and sent.link_preview_options.is_disabled
    assert state.violations == []


# -- polling and webhooks --------------------------------------------------------------------


async def test_long_poll_wakes_on_update_and_offset_confirms(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["/start"]

    poll = asyncio.create_task(bot.get_updates(offset=first[-1].update_id + 1, timeout=5))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    state.send_message(user.id, "xin chào")
    woke = await poll
    assert time.monotonic() - started < 1.0
    assert [u.message.text for u in woke if u.message] == ["xin chào"]

    assert await bot.get_updates(offset=woke[-1].update_id + 1, timeout=0) == []
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9

    await bot.get_updates(allowed_updates=["callback_query"], timeout=0)
    state.send_message(user.id, "filtered out")
    assert await bot.get_updates(timeout=0) == []
    assert state.violations == []


async def test_newer_long_poll_terminates_the_older_one(
    server: BotApiServer, state: BotApiState, user: SimUser
) -> None:
    state.resolve_bot().updates.clear()
    older = asyncio.create_task(raw(server, "getUpdates", json_body={"timeout": 5}))
    await state.wait_until(lambda: state.resolve_bot().poll_generation == 1, 2)
    newer = await raw(server, "getUpdates", json_body={"timeout": 0})
    status, body = await older
    assert newer == (200, {"ok": True, "result": []})
    assert status == 409 and body["description"].startswith("Conflict: terminated by other")
    assert [v.method for v in state.violations] == ["getUpdates"]


async def test_get_updates_conflicts_with_a_webhook(bot: Bot, state: BotApiState) -> None:
    assert await bot.set_webhook("http://127.0.0.1:9/telegram/webhook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []
    assert [v.method for v in state.violations] == ["getUpdates"]


async def test_webhook_must_be_a_loopback_address(bot: Bot, state: BotApiState) -> None:
    with pytest.raises(TelegramBadRequest, match="loopback"):
        await bot.set_webhook("https://bot.example.com/telegram/webhook")
    assert state.violations[-1].method == "setWebhook"


Receiver = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/telegram/webhook", handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"


async def test_webhook_delivery_sends_the_secret_and_retries(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        if len(received) == 1:
            return web.Response(status=500)
        return web.json_response({})

    runner, url = await serve(hook)
    try:
        assert await bot.set_webhook(url, secret_token=SECRET, drop_pending_updates=True)
        state.send_message(user.id, "qua webhook")
        assert await state.wait_until(lambda: len(received) == 2, 5)
        await state.wait_until(lambda: not state.busy(424242), 2)
        info = await bot.get_webhook_info()
    finally:
        await runner.cleanup()
    assert [secret for secret, _ in received] == [SECRET, SECRET]
    assert received[0][1] == received[1][1]
    assert received[0][1]["message"]["text"] == "qua webhook"
    assert info.url == url and info.pending_update_count == 0
    assert [(v.method, v.description) for v in state.violations] == [
        (
            "webhook",
            "webhook delivery failed: Wrong response from the webhook: 500 Internal Server Error",
        )
    ]


async def test_webhook_gives_up_after_the_retries_and_reports_the_error(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    calls = 0

    async def broken(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=502)

    runner, url = await serve(broken)
    try:
        assert await bot.set_webhook(url, drop_pending_updates=True)
        state.send_message(user.id, "lost")
        assert await state.wait_until(lambda: calls == 3 and not state.busy(424242), 5)
        info = await bot.get_webhook_info()
    finally:
        await runner.cleanup()
    assert info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    assert len(state.violations) == 3


async def test_webhook_is_sequential_per_chat_and_parallel_across_chats(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    other = state.create_user("Bình", user_id=OTHER_ID)
    release = asyncio.Event()
    texts: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        update = await request.json()
        texts.append(update["message"]["text"])
        if update["message"]["text"] == "first":
            await release.wait()
        return web.json_response({})

    runner, url = await serve(slow)
    try:
        assert await bot.set_webhook(url, drop_pending_updates=True)
        state.send_message(user.id, "first")
        state.send_message(user.id, "second")
        state.send_message(other.id, "other chat")
        assert await state.wait_until(lambda: len(texts) == 2, 5)
        await asyncio.sleep(0.05)
        assert texts == ["first", "other chat"]
        release.set()
        assert await state.wait_until(lambda: len(texts) == 3, 5)
    finally:
        await runner.cleanup()
    assert texts[-1] == "second"
    assert state.violations == []


async def test_a_method_in_the_webhook_answer_is_executed(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    async def reply(request: web.Request) -> web.Response:
        update = await request.json()
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "pong"})

    runner, url = await serve(reply)
    try:
        assert await bot.set_webhook(url, drop_pending_updates=True)
        state.send_message(user.id, "ping")
        assert await state.wait_until(lambda: state.history(user.id)[-1].text == "pong", 5)
    finally:
        await runner.cleanup()
    assert state.violations == []


# -- Telegram's rules ------------------------------------------------------------------------


def _button(**fields: Any) -> str:
    return json.dumps({"inline_keyboard": [[{"text": "Nút", **fields}]]})


def _pick(*, request_contact: bool = False, **request: Any) -> str:
    """A reply keyboard with one request_users button."""
    button: dict[str, Any] = {"text": "Chọn", "request_users": request}
    if request_contact:
        button["request_contact"] = True
    return json.dumps({"keyboard": [[button]]})


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("sendMessage", {"text": "a" * 4097}, "Bad Request: message is too long"),
    (
        "sendMessage",
        {"text": "<b> </b>", "parse_mode": "HTML"},
        "Bad Request: message text is empty",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(callback_data="d" * 65)},
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(callback_data="đ" * 33)},
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button()},
        "Bad Request: text buttons are unallowed in the inline keyboard",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(callback_data="a", url="https://a.test")},
        "Bad Request: inline button reply_markup.inline_keyboard[0][0] must use exactly one of "
        "its optional fields, got callback_data, url",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(copy_text={"text": ""})},
        "Bad Request: COPY_TEXT_INVALID (the text to copy must be 1-256 characters)",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(copy_text={"text": "đ" * 257})},
        "Bad Request: COPY_TEXT_INVALID (the text to copy must be 1-256 characters)",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(copy_text={"text": "SUB-1"}, callback_data="a")},
        "Bad Request: inline button reply_markup.inline_keyboard[0][0] must use exactly one of "
        "its optional fields, got callback_data, copy_text",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _button(copy_text="SUB-1")},
        'Bad Request: field "reply_markup.inline_keyboard[0][0].copy_text" must be of type '
        "CopyTextButton",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _pick(request_id=2**31)},
        "Bad Request: request_id must be a signed 32-bit integer",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _pick(request_id=1, max_quantity=11)},
        "Bad Request: max_quantity must be 1-10",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": _pick(request_id=1, request_contact=True)},
        "Bad Request: keyboard button reply_markup.keyboard[0][0] uses request_contact, "
        "request_users",
    ),
    (
        "sendMessage",
        {
            "text": "x",
            "reply_markup": json.dumps({"inline_keyboard": [[{"text": "", "callback_data": "a"}]]}),
        },
        "Bad Request: BUTTON_TEXT_INVALID (inline button text must be non-empty)",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_markup": json.dumps({"keyboard": [[{"text": ""}]]})},
        "Bad Request: BUTTON_TEXT_INVALID (keyboard button text must be non-empty)",
    ),
    (
        "sendMessage",
        {"text": "<b>đậm", "parse_mode": "HTML"},
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ),
    (
        "sendMessage",
        {"text": "<b>x</i>", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 4, expected "</b>", '
        'found "</i>"',
    ),
    (
        "sendMessage",
        {"text": "<div>x</div>", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 0',
    ),
    (
        "sendMessage",
        {"text": "giá < 5", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 5',
    ),
    (
        "sendMessage",
        {"text": "A&nbsp;B", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Unsupported HTML entity "&nbsp;" at byte offset 1',
    ),
    (
        "sendMessage",
        {"text": "<span>x</span>", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte '
        "offset 0",
    ),
    ("sendMessage", {"text": "x", "colour": "red"}, 'Bad Request: unknown parameter "colour"'),
    ("sendMessage", {}, 'Bad Request: parameter "text" is required'),
    (
        "sendMessage",
        {"text": "x", "disable_notification": "maybe"},
        'Bad Request: parameter "disable_notification" must be of type Boolean',
    ),
    (
        "sendMessage",
        {
            "text": "x",
            "reply_markup": json.dumps({"inline_keyboard": [[{"text": 5, "callback_data": "a"}]]}),
        },
        'Bad Request: field "reply_markup.inline_keyboard[0][0].text" must be of type String',
    ),
    (
        "sendMessage",
        {"text": "x", "link_preview_options": json.dumps({"disabled": True})},
        'Bad Request: unknown field "disabled" in parameter "link_preview_options" '
        "(LinkPreviewOptions)",
    ),
    (
        "sendMessage",
        {"text": "x", "parse_mode": "Bold"},
        "Bad Request: unsupported parse_mode Bold",
    ),
    (
        "sendMessage",
        {"text": "x", "reply_parameters": json.dumps({"message_id": 999})},
        "Bad Request: message to be replied not found",
    ),
    (
        "deleteMessage",
        {"message_id": "abc"},
        'Bad Request: parameter "message_id" must be of type Integer',
    ),
    ("deleteMessage", {"message_id": "999"}, "Bad Request: message to delete not found"),
    (
        "editMessageText",
        {"message_id": "999", "text": "x"},
        "Bad Request: message to edit not found",
    ),
    ("editMessageText", {"message_id": "1", "text": "x"}, "Bad Request: message can't be edited"),
    (
        "answerCallbackQuery",
        {"callback_query_id": "1", "text": "a" * 201},
        "Bad Request: MESSAGE_TOO_LONG (callback answer text is 0-200 characters)",
    ),
    (
        "answerCallbackQuery",
        {"callback_query_id": "12345"},
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    ),
    ("sendChatAction", {"action": "dancing"}, "Bad Request: wrong parameter action in request"),
    (
        "setMyCommands",
        {"commands": json.dumps([{"command": "Start", "description": "x"}])},
        "Bad Request: BOT_COMMAND_INVALID",
    ),
    (
        "setWebhook",
        {"url": "http://127.0.0.1:1/", "secret_token": "a b"},
        "Bad Request: secret token contains unallowed characters",
    ),
    ("getFile", {"file_id": "nope"}, "Bad Request: invalid file_id"),
]


IN_CHAT = frozenset({"sendMessage", "deleteMessage", "editMessageText", "sendChatAction"})
"""Methods whose cases above are sent to the user's chat (``chat_id`` added)."""


@pytest.mark.parametrize(
    ("method", "params", "description"),
    REJECTED,
    ids=[f"{m}-{d.removeprefix('Bad Request: ')[:32]}" for m, _, d in REJECTED],
)
async def test_rejected_requests_are_recorded_as_violations(
    server: BotApiServer,
    state: BotApiState,
    user: SimUser,
    method: str,
    params: dict[str, Any],
    description: str,
) -> None:
    fields = {"chat_id": str(user.id), **params} if method in IN_CHAT else dict(params)
    status, body = await raw(server, method, form=fields)
    assert (status, body) == (400, {"ok": False, "error_code": 400, "description": description})
    assert len(state.violations) == 1
    violation = state.violations[0]
    assert (violation.method, violation.description) == (method, description)
    assert violation.params.keys() == fields.keys()


async def test_limits_count_visible_characters_and_bytes(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    long_html = "<b>" + "ậ" * 4096 + "</b>"
    sent = await bot.send_message(user.id, long_html)
    assert sent.text == "ậ" * 4096
    await bot.send_message(user.id, "x", reply_markup=keyboard([("Nút", "đ" * 32)]))
    await bot.send_photo(user.id, BufferedInputFile(png(), "qr.png"), caption="c" * 1024)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(user.id, BufferedInputFile(png(), "qr.png"), caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "x", reply_markup=keyboard([("Nút", "d" * 65)]))
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(user.id, BufferedInputFile(b"not an image", "x.png"))
    assert [v.method for v in state.violations] == ["sendPhoto", "sendMessage", "sendPhoto"]


async def test_edits_that_change_nothing_are_refused(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    markup = keyboard([("Tiếp theo", "next")])
    sent = await bot.send_message(user.id, "<b>Bước 1</b>", reply_markup=markup)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>Bước 1</b>", chat_id=user.id, message_id=sent.message_id, reply_markup=markup
        )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=user.id, message_id=sent.message_id, reply_markup=markup
        )
    await bot.edit_message_text(
        "Bước 1", chat_id=user.id, message_id=sent.message_id, reply_markup=markup
    )
    await bot.edit_message_text("Bước 1", chat_id=user.id, message_id=sent.message_id)
    assert state.history(user.id)[-1].buttons == ()
    assert [v.method for v in state.violations] == ["editMessageText", "editMessageReplyMarkup"]


async def test_messages_of_another_chat_and_stale_queries_are_refused(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    state.create_user("Bình", user_id=OTHER_ID)
    state.send_message(OTHER_ID, "/start")
    sent = await bot.send_message(user.id, "chỉ cho An", reply_markup=keyboard([("OK", "ok")]))
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=OTHER_ID, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(OTHER_ID, sent.message_id)
    assert await bot.delete_message(user.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.id, message_id=sent.message_id)

    again = await bot.send_message(user.id, "lại", reply_markup=keyboard([("OK", "ok")]))
    query_id = state.press_inline_button(
        user.id, "OK", message_id=again.message_id
    ).callback_query_id
    assert query_id is not None
    assert await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    assert len(state.violations) == 4


async def test_unknown_chats_tokens_and_methods(
    server: BotApiServer, bot: Bot, state: BotApiState
) -> None:
    state.create_user("Chưa bắt đầu", user_id=OTHER_ID)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "ai đó")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(OTHER_ID, "chưa /start")
    state.send_message(OTHER_ID, "/start")
    state.block_bot(OTHER_ID)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(OTHER_ID, "đã chặn")
    assert await raw(server, "getMe", token="1:wrong") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert await raw(server, "sendSmokeSignal", json_body={}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    status, _ = await raw(server, "sendDice", json_body={"chat_id": OTHER_ID})
    assert status == 501
    assert [v.method for v in state.violations] == [
        "sendMessage",
        "sendMessage",
        "sendMessage",
        "getMe",
        "sendSmokeSignal",
        "sendDice",
    ]


async def test_blocking_the_bot_sends_my_chat_member_and_writing_again_unblocks(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    state.block_bot(user.id)
    state.send_message(user.id, "tôi quay lại")
    updates = await bot.get_updates(timeout=0)
    members = [u.my_chat_member for u in updates if u.my_chat_member is not None]
    assert [(m.old_chat_member.status, m.new_chat_member.status) for m in members] == [
        ("member", "kicked"),
        ("kicked", "member"),
    ]
    assert updates[-1].message is not None and updates[-1].message.text == "tôi quay lại"
    assert (await bot.send_message(user.id, "chào mừng trở lại")).text == "chào mừng trở lại"
    assert state.violations == []


async def test_mentions_carry_the_user_and_unknown_ones_become_text(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    sent = await bot.send_message(
        user.id, f'<a href="tg://user?id={user.id}">An</a> và <a href="tg://user?id=9">ai</a>'
    )
    assert sent.text == "An và ai"
    assert sent.entities is not None and len(sent.entities) == 1
    mention = sent.entities[0]
    assert mention.type == "text_mention" and mention.user is not None
    assert (mention.user.id, mention.user.first_name) == (user.id, "An")


# -- the user side ---------------------------------------------------------------------------


async def test_user_sees_edits_deletions_buttons_and_callback_answers(
    bot: Bot, state: BotApiState, user: SimUser
) -> None:
    menu = await bot.send_message(
        user.id,
        "Menu",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Dịch vụ", callback_data="services")],
                [
                    InlineKeyboardButton(
                        text="Thanh toán qua VNPT Pay", url="https://pay.example.test/1"
                    )
                ],
            ]
        ),
    )
    url_press = state.press_inline_button(user.id, "Thanh toán qua VNPT Pay")
    assert url_press.url == "https://pay.example.test/1" and url_press.update_id is None
    press = state.press_inline_button(user.id, "Dịch vụ")
    update = (await bot.get_updates(timeout=0))[-1]
    assert update.update_id == press.update_id and update.callback_query is not None
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == menu.message_id
    await bot.answer_callback_query(update.callback_query.id, text="Chưa mở", show_alert=True)
    await bot.edit_message_text("Danh sách", chat_id=user.id, message_id=menu.message_id)
    with pytest.raises(SimError, match="no inline button"):
        state.press_inline_button(user.id, "Dịch vụ")

    await bot.send_message(
        user.id,
        "Số điện thoại?",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(text="Chia sẻ", request_contact=True),
                    KeyboardButton(text="Bỏ qua"),
                ]
            ],
            resize_keyboard=True,
        ),
    )
    shared = state.press_reply_button(user.id, "Chia sẻ")
    contact_update = (await bot.get_updates(offset=update.update_id + 1, timeout=0))[-1]
    assert contact_update.update_id == shared.update_id and contact_update.message is not None
    contact = contact_update.message.contact
    assert contact is not None
    assert (contact.phone_number, contact.user_id) == ("84912345678", user.id)
    with pytest.raises(SimError, match="no reply-keyboard button"):
        state.press_reply_button(user.id, "Không có")
    await bot.send_message(user.id, "Cảm ơn", reply_markup=ReplyKeyboardRemove())
    assert state.current_keyboard(user.id) is None
    state.send_contact(user.id, phone_number="+84987654321", first_name="Kế toán")

    seen = state.history(user.id)
    assert [(m.from_bot, m.text) for m in seen] == [
        (False, "/start"),
        (True, "Danh sách"),
        (True, "Số điện thoại?"),
        (False, None),
        (True, "Cảm ơn"),
        (False, None),
    ]
    assert seen[1].edited and seen[1].buttons == ()
    assert seen[3].contact is not None and seen[5].contact == {
        "phone_number": "+84987654321",
        "first_name": "Kế toán",
    }
    answer = state.callback_answers(user.id)[0]
    assert (answer.text, answer.show_alert, answer.message_id) == ("Chưa mở", True, menu.message_id)
    assert state.violations == []


async def test_copy_text_buttons_and_users_shared(
    bot: Bot, state: BotApiState, user: SimUser, server: BotApiServer
) -> None:
    await bot.get_updates(timeout=0)
    colleague = state.create_user("Bình", username="binh_kt")
    stranger = state.create_user("Chi")
    await bot.send_message(
        user.id,
        "Mã thuê bao SUB-1",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Sao chép", copy_text=CopyTextButton(text="SUB-1"))]
            ]
        ),
    )
    copied = state.press_inline_button(user.id, "Sao chép")
    assert (copied.copied, copied.update_id) == ("SUB-1", None)

    await bot.send_message(
        user.id,
        "Chọn nhân viên",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(
                        text="Chọn",
                        request_users=KeyboardButtonRequestUsers(
                            request_id=7, user_is_bot=False, request_name=True
                        ),
                    )
                ]
            ],
            one_time_keyboard=True,
        ),
    )
    [button] = (state.current_keyboard(user.id) or ((),))[0]
    assert (button.kind, button.request_id) == ("request_users", 7)
    with pytest.raises(SimError, match="no request_users button with request_id 8"):
        state.share_users(user.id, 8, [colleague.id])
    with pytest.raises(SimError, match="pick 1-1"):
        state.share_users(user.id, 7, [colleague.id, stranger.id])
    shared = state.share_users(user.id, 7, [colleague.id])
    update = (await bot.get_updates(timeout=0))[-1]
    assert update.update_id == shared.update_id and update.message is not None
    users_shared = update.message.users_shared
    assert users_shared is not None and users_shared.request_id == 7
    [picked] = users_shared.users
    # the name was asked for, the username was not
    assert (picked.user_id, picked.first_name, picked.username) == (colleague.id, "Bình", None)
    # the user's side shows the message too (the web chat's "Đã chọn: Bình")
    mine = state.history(user.id)[-1]
    assert not mine.from_bot and mine.to_json()["users_shared"] == {
        "request_id": 7,
        "users": [{"user_id": colleague.id, "first_name": "Bình"}],
    }

    async with aiohttp.ClientSession(base_url=server.url) as http:  # a modified client
        body = {"request_id": 99, "user_ids": [stranger.id], "forged": True}
        async with http.post(f"/_sim/users/{user.id}/users_shared", json=body) as response:
            assert response.status == 200
    forged = (await bot.get_updates(offset=update.update_id + 1, timeout=0))[-1]
    assert forged.message is not None and forged.message.users_shared is not None
    assert forged.message.users_shared.request_id == 99
    assert state.violations == []


async def test_sim_http_api_drives_a_user_and_long_polls_events(
    server: BotApiServer, bot: Bot, state: BotApiState
) -> None:
    async with aiohttp.ClientSession(base_url=server.url) as http:
        async with http.post("/_sim/users", json={"first_name": "Web", "id": 6001}) as response:
            assert (await response.json())["result"]["id"] == 6001
        async with http.post("/_sim/users/6001/messages", json={"text": "/start"}) as response:
            action = (await response.json())["result"]
        assert action["update_id"] is not None and action["message_id"] == 1

        async def bot_replies() -> None:
            await asyncio.sleep(0.05)
            await bot.send_message(6001, "<b>Chào</b>", reply_markup=keyboard([("Dịch vụ", "svc")]))

        replying = asyncio.create_task(bot_replies())
        after = len(state.events)
        async with http.get(f"/_sim/events?after={after}&timeout=5&chat_id=6001") as response:
            events = (await response.json())["result"]["events"]
        await replying
        assert [(e["kind"], e["data"]["text"]) for e in events] == [("message", "Chào")]
        assert events[0]["data"]["buttons"][0][0]["callback_data"] == "svc"

        async with http.post("/_sim/users/6001/press", json={"label": "Dịch vụ"}) as response:
            assert (await response.json())["result"]["callback_query_id"]
        async with http.post("/_sim/users/6001/press", json={"label": "Không có"}) as response:
            assert response.status == 400
            assert "no inline button" in (await response.json())["error"]
        async with http.get("/_sim/users/6001/history") as response:
            history = (await response.json())["result"]["messages"]
        assert [m["text"] for m in history] == ["/start", "Chào"]
        assert history[1]["html"] == "<b>Chào</b>"


@pytest.mark.parametrize(
    ("source", "seen"),
    [
        ("<b>Đăng ký</b> &amp; <i>thanh toán</i>", "Đăng ký & thanh toán"),
        ('<a href="https://x.test">liên kết</a> &lt;3 &quot;q&quot;', 'liên kết <3 "q"'),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1"),
        ("<blockquote expandable>trích</blockquote>\n  ", "trích"),
        ("&#272;&#x1EA1;i A & B", "Đại A & B"),
        ('<tg-spoiler>ẩn</tg-spoiler> <span class="tg-spoiler">x</span>', "ẩn x"),
    ],
)
def test_visible_text_strips_tags_and_unescapes(source: str, seen: str) -> None:
    assert visible_text(source) == seen


def test_entities_are_in_utf16_units() -> None:
    parsed = parse_html("😀 <b>đậm</b>")
    assert parsed.entities == ({"type": "bold", "offset": 3, "length": 3},)


# -- the ChatUser driver against a real aiogram bot ----------------------------------------


def demo_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        name = message.from_user.first_name if message.from_user else ""
        await message.answer(
            f"Chào <b>{html.quote(name)}</b>",
            reply_markup=keyboard([("Dịch vụ", "services"), ("Quản lý", "manage")]),
        )

    @router.message(Command("phone"))
    async def ask_phone(message: Message) -> None:
        await message.answer(
            "Gửi số điện thoại",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text="Chia sẻ số điện thoại", request_contact=True)]],
                resize_keyboard=True,
            ),
        )

    @router.message(Command("bad"))
    async def bad(message: Message) -> None:
        with contextlib.suppress(TelegramBadRequest):
            await message.answer("<b>unclosed")

    @router.message(Command("ping"))
    async def ping(message: Message) -> SendMessage:
        return message.answer("pong")

    @router.message()
    async def anything(message: Message) -> None:
        if message.contact is not None:
            await message.answer(
                f"Đã nhận {message.contact.phone_number}", reply_markup=ReplyKeyboardRemove()
            )

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        if not isinstance(query.message, Message):
            return
        if query.data == "services":
            await query.answer()
            await query.message.edit_text(
                "Danh sách dịch vụ", reply_markup=keyboard([("12 tháng – 1.800.000 ₫", "m12")])
            )
        elif query.data == "m12":
            await query.answer()
            await asyncio.sleep(0.03)
            await query.message.edit_text("Đã chọn 12 tháng")
        else:
            await query.answer("Chưa hỗ trợ", show_alert=True)

    return router


@pytest.fixture
async def polling(bot: Bot, state: BotApiState) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher()
    dispatcher.include_router(demo_router())
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=5,
            handle_as_tasks=False,
        )
    )
    assert await state.wait_until(lambda: state.resolve_bot().poll_generation > 0, 5)
    yield dispatcher
    await dispatcher.stop_polling()
    await task


async def test_chat_user_drives_a_polling_bot(polling: Dispatcher, state: BotApiState) -> None:
    user = ChatUser.create(state, "An <3", phone_number="+84912345678")
    replies = await user.send("/start")
    assert [m.text for m in replies] == ["Chào An <3"]
    assert user.last_buttons() == [["Dịch vụ", "Quản lý"]]

    await user.press("Dịch vụ")
    assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    assert user.last_text() == "Danh sách dịch vụ"
    await user.press("12 tháng", prefix=True)
    assert user.last_text() == "Đã chọn 12 tháng" and user.last_buttons() == []

    await user.send("/start")
    await user.press("Quản lý")
    answer = user.last_callback_answer()
    assert answer is not None and (answer.text, answer.show_alert) == ("Chưa hỗ trợ", True)

    await user.send("/phone")
    assert user.keyboard() == [["Chia sẻ số điện thoại"]]
    await user.share_contact()
    assert user.last_text() == "Đã nhận +84912345678" and user.keyboard() is None

    await user.send("/ping")
    assert user.last_text() == "pong"
    with pytest.raises(SimError, match="no inline button"):
        await user.press("Không có")
    with pytest.raises(NoReply, match="reacted visibly"):
        await user.send("chỉ là chữ", wait=False)
        await user.wait_reply(timeout=0.3)
    assert state.violations == [] and state.unanswered_callback_queries() == []


async def test_chat_user_fails_fast_on_a_violation(polling: Dispatcher, state: BotApiState) -> None:
    user = ChatUser.create(state, "An")
    with pytest.raises(AssertionError, match="can't parse entities"):
        await user.send("/bad", wait=False)
        await user.settle()


async def test_chat_user_drives_a_webhook_bot(bot: Bot, state: BotApiState) -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(demo_router())
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=SECRET, handle_in_background=False
    ).register(app, path="/telegram/webhook")
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
        assert await bot.set_webhook(url, secret_token=SECRET)
        user = ChatUser.create(state, "Bình", quiet=0.02)
        await user.send("/start")
        await user.press("Dịch vụ")
        assert user.last_text() == "Danh sách dịch vụ"
        await user.send("/ping")
        assert user.last_text() == "pong"
        assert [c.method for c in state.calls if c.method == "sendMessage"] == ["sendMessage"] * 2
    finally:
        await runner.cleanup()
    assert state.violations == []
