"""bot/session.py reads the answers the bot uses, and not an edit's edited message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    EditMessageReplyMarkup,
    EditMessageText,
    GetUpdates,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestUsers,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.metrics import Metrics
from bot.middlewares import BotApiCallCounter
from bot.session import BotSession, json_dumps, json_loads

TOKEN = "42:session-test-token"
MESSAGE = {
    "message_id": 7,
    "date": 1700000000,
    "chat": {"id": 5, "type": "private"},
    "text": "xin chào",
}


@pytest.fixture
def session() -> BotSession:
    return BotSession()


def answer(result: object) -> str:
    return json.dumps({"ok": True, "result": result})


def test_a_sent_message_is_read_into_aiogram_models(session: BotSession) -> None:
    bot = Bot(TOKEN, session=session)
    response = session.check_response(bot, SendMessage(chat_id=5, text="x"), 200, answer(MESSAGE))
    assert isinstance(response.result, Message) and response.result.message_id == 7


def test_a_sent_message_keeps_its_id_date_and_chat_and_dumps_as_aiogram_reads_it(
    session: BotSession,
) -> None:
    bot = Bot(TOKEN, session=session)
    sent = session.check_response(bot, SendMessage(chat_id=5, text="x"), 200, answer(MESSAGE))
    message = sent.result
    assert isinstance(message, Message)
    full = Message.model_validate(MESSAGE)
    assert (message.message_id, message.date, message.chat.id, message.chat.type) == (
        full.message_id,
        full.date,
        full.chat.id,
        full.chat.type,
    )
    # what the replay journal records, read back as a replayed answer is
    dumped = message.model_dump(mode="json", exclude_none=True)
    assert dumped == {"message_id": 7, "date": 1700000000, "chat": {"id": 5, "type": "private"}}
    assert Message.model_validate(dumped).message_id == 7


@pytest.mark.parametrize(
    "result",
    [True, {"message_id": 7, "date": 1700000000}, {**MESSAGE, "chat": {"id": 5}}],
)
def test_a_sent_message_answer_without_its_head_is_read_by_aiogram(
    session: BotSession, result: object
) -> None:
    bot = Bot(TOKEN, session=session)
    with pytest.raises(Exception) as raised:
        session.check_response(bot, SendMessage(chat_id=5, text="x"), 200, answer(result))
    assert "validation" in str(raised.value).lower()


@pytest.mark.parametrize(
    "method",
    [
        EditMessageText(chat_id=5, message_id=7, text="x"),
        EditMessageReplyMarkup(chat_id=5, message_id=7),
    ],
)
def test_an_edit_answers_true_without_reading_the_message(
    session: BotSession, method: EditMessageText | EditMessageReplyMarkup
) -> None:
    bot = Bot(TOKEN, session=session)
    response = session.check_response(bot, method, 200, answer(MESSAGE))
    assert response.ok is True and response.result is True


def test_a_failed_edit_is_still_an_error(session: BotSession) -> None:
    bot = Bot(TOKEN, session=session)
    failure = json.dumps(
        {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
    )
    with pytest.raises(TelegramBadRequest, match="not modified"):
        session.check_response(
            bot, EditMessageText(chat_id=5, message_id=7, text="x"), 400, failure
        )


def form_of(session: BotSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, str]:
    """What aiogram itself would post: its form's fields, each a string."""
    form = session.build_form_data(bot, method)
    return {options["name"]: value for options, _headers, value in form._fields}


def as_form(body: dict[str, Any]) -> dict[str, str]:
    """A JSON body's fields as aiogram's form writes them (objects and numbers as JSON, with
    the session's ``json_dumps``)."""
    return {
        key: value if isinstance(value, str) else json_dumps(value) for key, value in body.items()
    }


INLINE = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Gói một ✅", callback_data="f:pick:1:3"),
            InlineKeyboardButton(text="Trang", url="https://example.com/x"),
        ],
        [InlineKeyboardButton(text="Sao chép", copy_text=CopyTextButton(text="MÃ-123"))],
    ]
)


@pytest.mark.parametrize("default_parse_mode", [ParseMode.HTML, None])
@pytest.mark.parametrize(
    "method",
    [
        SendMessage(chat_id=5, text="xin <b>chào</b>", reply_markup=INLINE),
        SendMessage(chat_id="@kenh", text="x", parse_mode=ParseMode.MARKDOWN_V2),
        SendMessage(
            chat_id=5,
            text="x",
            entities=[MessageEntity(type="bold", offset=0, length=1)],
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_markup=ReplyKeyboardRemove(remove_keyboard=True),
        ),
        SendMessage(
            chat_id=5,
            text="Tên?",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[
                    [KeyboardButton(text="Chia sẻ", request_contact=True)],
                    [
                        KeyboardButton(
                            text="Chọn",
                            request_users=KeyboardButtonRequestUsers(
                                request_id=1, user_is_bot=False, max_quantity=3, request_name=True
                            ),
                        )
                    ],
                ],
                resize_keyboard=True,
                one_time_keyboard=True,
            ),
        ),
        EditMessageText(chat_id=5, message_id=7, text="x", reply_markup=INLINE),
        EditMessageText(chat_id=5, message_id=7, text="", reply_markup=None),
        EditMessageReplyMarkup(chat_id=5, message_id=7, reply_markup=INLINE),
        AnswerCallbackQuery(callback_query_id="q", text=None, show_alert=None),
        AnswerCallbackQuery(callback_query_id="q", text="Đã lưu", show_alert=True),
        AnswerCallbackQuery(callback_query_id="q", text="x", show_alert=False, cache_time=0),
        BanChatMember(chat_id=5, user_id=6, until_date=datetime(2030, 1, 2, tzinfo=UTC)),
        GetUpdates(offset=10, timeout=30, allowed_updates=["message", "callback_query"]),
        SetMyCommands(commands=[BotCommand(command="start", description="Bắt đầu")]),
    ],
)
def test_the_json_body_carries_what_aiogram_would_post(
    method: TelegramMethod[Any], default_parse_mode: ParseMode | None
) -> None:
    session = BotSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=default_parse_mode))
    body = session.json_body(bot, method)
    assert body is not None
    assert as_form(json.loads(body)) == form_of(session, bot, method)


def test_a_call_with_a_file_is_not_posted_as_json() -> None:
    session = BotSession()
    bot = Bot(TOKEN, session=session)
    photo = SendPhoto(chat_id=5, photo=BufferedInputFile(b"png", filename="qr.png"), caption="x")
    assert session.json_body(bot, photo) is None


# the session's middleware chain, built once (bot/session.py 8.) and the call counter's
# children looked up once


class Recording(BaseRequestMiddleware):
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        self.seen.append(self.name)
        return await make_request(bot, method)


async def test_the_middleware_chain_is_built_once_and_again_when_middlewares_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = BotSession()
    bot = Bot(TOKEN, session=session)
    timeouts: list[int | None] = []

    async def make_request(
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        timeouts.append(timeout)
        return True

    monkeypatch.setattr(session, "make_request", make_request)
    wraps: list[int] = []
    wrap = session.middleware.wrap_middlewares

    def counting_wrap(callback: Any, **kwargs: Any) -> Any:
        wraps.append(1)
        return wrap(callback, **kwargs)

    monkeypatch.setattr(session.middleware, "wrap_middlewares", counting_wrap)
    seen: list[str] = []
    session.middleware(Recording("outer", seen))
    call = AnswerCallbackQuery(callback_query_id="q")
    for _ in range(3):
        assert await bot(call) is True
    assert (len(wraps), seen) == (1, ["outer"] * 3)
    assert await bot(call, request_timeout=7) is True  # another timeout: its own chain
    assert len(wraps) == 2 and timeouts[-1] == 7
    inner = Recording("inner", seen)
    session.middleware(inner)  # registered later (as the composition root does)
    seen.clear()
    await bot(call)
    assert seen == ["outer", "inner"] and len(wraps) == 3
    session.middleware.unregister(inner)
    seen.clear()
    await bot(call)
    assert seen == ["outer"] and timeouts == [None, None, None, 7, None, None]


async def test_the_call_counter_counts_each_outcome_and_asks_labels_once_each() -> None:
    metrics = Metrics()
    counter = BotApiCallCounter(metrics)
    asked: list[tuple[str, ...]] = []
    labels = metrics.bot_api_calls.labels

    def counting_labels(*values: str) -> Any:
        asked.append(values)
        return labels(*values)

    metrics.bot_api_calls.labels = counting_labels  # type: ignore[method-assign,assignment]
    bot = Bot(TOKEN)

    async def ok(bot: Bot, method: TelegramMethod[Any]) -> Any:
        return True

    async def failing(bot: Bot, method: TelegramMethod[Any]) -> Any:
        raise TelegramBadRequest(method=method, message="Bad Request: no")

    for _ in range(3):
        await counter(ok, bot, AnswerCallbackQuery(callback_query_id="q"))
        with pytest.raises(TelegramBadRequest):
            await counter(failing, bot, AnswerCallbackQuery(callback_query_id="q"))
    await counter(ok, bot, SendMessage(chat_id=1, text="x"))

    def sample(method: str, outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "onesme_bot_api_calls_total", {"method": method, "outcome": outcome}
        )

    assert (sample("answerCallbackQuery", "ok"), sample("answerCallbackQuery", "error")) == (3, 3)
    assert sample("sendMessage", "ok") == 1
    assert sorted(asked) == [
        ("answerCallbackQuery", "error"),
        ("answerCallbackQuery", "ok"),
        ("sendMessage", "ok"),
    ]


# the JSON of bodies and answers (bot/session.py 8.)


class Label(str):
    """A subclass of ``str``: orjson hands it to ``json``."""


@pytest.mark.parametrize(
    "value",
    [
        {"chat_id": -1001234567890, "text": "<b>Chọn gói</b> ✓ 😀", "parse_mode": "HTML"},
        {"reply_markup": {"inline_keyboard": [[{"text": "Gói 1", "callback_data": "f:p:1:7"}]]}},
        {"n": 2**70, "f": 2.5, "b": True, "none": None, "empty": [], "s": "\ud800"[:0] + "a"},
        {"lone": "\ud800"},
        {"label": Label("x")},
        [1, "two", {"three": 3}],
    ],
)
def test_json_dumps_writes_the_value_json_writes(value: Any) -> None:
    written = json_dumps(value)
    assert isinstance(written, str)
    assert json.loads(written) == json.loads(json.dumps(value))


def test_json_dumps_fails_where_json_fails() -> None:
    with pytest.raises(TypeError):
        json_dumps({"at": datetime(2030, 1, 2, tzinfo=UTC)})
    # keys that are not strings: orjson refuses them, json writes them
    assert json_dumps({2: "a", 1.5: "b"}) == json.dumps({2: "a", 1.5: "b"})


@pytest.mark.parametrize(
    "text",
    [
        '{"ok": true, "result": {"message_id": 7, "text": "Ch\\u1ecdn"}}',
        '{"ok":true,"result":[{"update_id":1}]}',
        '{"lone": "\\ud800"}',
        '{"id": -1001234567890, "max": 9223372036854775807, "min": -9223372036854775808}',
        '{"nan": NaN}',
    ],
)
def test_json_loads_reads_what_json_reads(text: str) -> None:
    assert repr(json_loads(text)) == repr(json.loads(text))
    assert repr(json_loads(text.encode())) == repr(json.loads(text))


def test_json_loads_fails_as_json_fails() -> None:
    with pytest.raises(json.JSONDecodeError):
        json_loads("<html>502 Bad Gateway</html>")


def test_the_session_uses_them_unless_given_its_own() -> None:
    assert BotSession().json_dumps is json_dumps
    assert BotSession().json_loads is json_loads
    assert BotSession(json_dumps=json.dumps).json_dumps is json.dumps
