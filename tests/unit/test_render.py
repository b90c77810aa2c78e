"""Rendering screens: formatting, keyboards, callback data, long texts, and what is sent.

The Bot API side uses a recording aiogram session (a fake, not a mock): it answers like Telegram
and keeps every request, so the tests assert which calls a reply costs and what they carry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    Chat,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.callbacks import CallbackDataTooLong, FlowCallback, pack_button
from bot.i18n import I18n
from bot.render import Origin, Renderer, html_to_plain, qr_png, split_html, utf16_len
from conversations.reply import Reply
from conversations.screens import (
    Button,
    ButtonStyle,
    Cycle,
    Day,
    Delivery,
    Join,
    Money,
    Msg,
    Plain,
    ReplyKeyboard,
    Screen,
)
from conversations.session import ChatSession, EventKind, Outgoing
from sandbox.botapi.formatting import parse_html

MESSAGES = {
    "vi": {
        "t.hello": "Xin chào <b>{name}</b>",
        "t.price": "Giá: {amount} / {cycle} từ {day}",
        "t.at": "Lúc {moment}",
        "t.count": "{n} mục",
        "t.outer": "[{inner}]",
        "t.plain": "Chọn gói",
        "t.notice": "Đã lưu <i>nháp</i>",
        "btn.back": "Quay lại",
        "btn.cancel": "Hủy",
        "btn.keep": "Giữ nguyên",
        "btn.share_contact": "📱 Chia sẻ số điện thoại",
        "btn.pay": "Thanh toán",
        "bot.qr_caption": "Quét mã",
    },
    "en": {"t.hello": "Hello <b>{name}</b>", "btn.back": "Back", "btn.cancel": "Cancel"},
}
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
CHAT = 42


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(I18n(MESSAGES))


class RecordingSession(BaseSession):
    """Answers Bot API methods like Telegram would; ``fail`` maps a method name to an error
    description raised once."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.fail: dict[str, str] = {}
        self._next_id = 100

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    def _message(self, chat_id: int, text: str | None = None) -> Message:
        self._next_id += 1
        return Message(
            message_id=self._next_id,
            date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            chat=Chat(id=chat_id, type="private"),
            text=text,
        )

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> Any:
        self.calls.append(method)
        name = type(method).__name__
        if name in self.fail:
            raise TelegramBadRequest(method=method, message=self.fail.pop(name))
        if isinstance(method, AnswerCallbackQuery):
            return True
        if isinstance(method, SendMessage | SendPhoto):
            return self._message(int(method.chat_id), getattr(method, "text", None))
        if isinstance(method, EditMessageReplyMarkup):
            return True
        if isinstance(method, EditMessageText):
            return Message(
                message_id=int(method.message_id or 0),
                date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                chat=Chat(id=int(method.chat_id or 0), type="private"),
                text=method.text,
            )
        raise AssertionError(f"unexpected {name}")

    def names(self) -> list[str]:
        return [type(c).__name__ for c in self.calls]


@pytest.fixture
async def bot() -> AsyncGenerator[Bot, None]:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await bot.session.close()


def calls(bot: Bot) -> RecordingSession:
    session = bot.session
    assert isinstance(session, RecordingSession)
    return session


# --- text ---------------------------------------------------------------------------------


def test_parameters_are_formatted_by_type(renderer: Renderer) -> None:
    text = renderer.text(
        "vi",
        Msg(
            "t.price",
            {
                "amount": Money(1_800_000),
                "cycle": Cycle(12, "month"),
                "day": Day(dt.date(2026, 3, 5)),
            },
        ),
    )
    assert text == "Giá: 1.800.000\u00a0₫ / 12 tháng từ 05/03/2026"
    moment = dt.datetime(2026, 3, 5, 17, 30, tzinfo=dt.UTC)
    assert renderer.text("vi", Msg("t.at", {"moment": Day(moment, with_time=True)})) == (
        "Lúc 06/03/2026 00:30"
    )
    assert renderer.text("vi", Msg("t.count", {"n": 3})) == "3 mục"


def test_user_text_is_escaped_and_nested_messages_are_not(renderer: Renderer) -> None:
    text = renderer.text("vi", Msg("t.hello", {"name": Plain('<script>&"x"')}))
    assert text == "Xin chào <b>&lt;script&gt;&amp;&quot;x&quot;</b>"
    assert renderer.text("vi", Msg("t.hello", {"name": "a<b"})) == "Xin chào <b>a&lt;b</b>"
    nested = renderer.text("vi", Msg("t.outer", {"inner": Msg("t.hello", {"name": Plain("A")})}))
    assert nested == "[Xin chào <b>A</b>]"
    parse_html(text)


def test_join_drops_empty_parts_and_language_falls_back(renderer: Renderer) -> None:
    joined = Join((Msg("t.plain"), Plain(""), Msg("t.hello", {"name": Plain("B")})), sep=" | ")
    assert renderer.text("vi", joined) == "Chọn gói | Xin chào <b>B</b>"
    assert renderer.text("en", Msg("t.plain")) == "Chọn gói"  # no English text: Vietnamese
    assert renderer.text("en", Msg("t.hello", {"name": "B"})) == "Hello <b>B</b>"


def test_plain_text_for_callback_answers() -> None:
    assert html_to_plain("Đã lưu <i>nháp</i> &lt;1&gt; &amp; xong") == "Đã lưu nháp <1> & xong"


# --- buttons ------------------------------------------------------------------------------


def test_inline_keyboard_rows_labels_and_callback_data(renderer: Renderer) -> None:
    rows = (
        (
            Button(Plain("Gói <Cơ bản>"), action="plan", arg="SMARTCA-BASIC"),
            Button(Plain("TSA"), action="tog", arg="SMARTCA-TSA", style=ButtonStyle.CHECKED),
        ),
        (Button(Plain("BK"), action="tog", arg="BK", style=ButtonStyle.UNCHECKED),),
        (Button(Msg("btn.pay"), url="https://pay.example/x"),),
    )
    markup = renderer.inline_markup("vi", rows, rev=17)
    assert markup is not None
    keyboard = markup.inline_keyboard
    assert [[b.text for b in row] for row in keyboard] == [
        ["Gói <Cơ bản>", "✅ TSA"],
        ["⬜ BK"],
        ["Thanh toán"],
    ]
    assert keyboard[0][0].callback_data == "f:17:plan:SMARTCA-BASIC"
    assert keyboard[2][0].url == "https://pay.example/x"
    assert keyboard[2][0].callback_data is None
    unpacked = FlowCallback.unpack(keyboard[0][1].callback_data or "")
    assert (unpacked.rev, unpacked.action, unpacked.arg) == (17, "tog", "SMARTCA-TSA")
    assert renderer.inline_markup("vi", (), rev=1) is None


def test_packing_matches_aiogram_and_refuses_oversized_data() -> None:
    assert pack_button("cyc", "M12", 3) == FlowCallback(rev=3, action="cyc", arg="M12").pack()
    assert pack_button("done", "", 0) == FlowCallback(rev=0, action="done").pack()
    assert FlowCallback.unpack("f:5:done:").arg == ""
    with pytest.raises(CallbackDataTooLong):
        pack_button("plan", "X" * 60, 1)
    with pytest.raises(ValueError, match="':'"):
        pack_button("plan", "a:b", 1)
    with pytest.raises(CallbackDataTooLong):
        Renderer(I18n(MESSAGES)).inline_markup(
            "vi", ((Button(Plain("x"), action="plan", arg="P" * 58),),), rev=123
        )


def test_reply_keyboard_carries_contact_suggestions_and_navigation(renderer: Renderer) -> None:
    screen = Screen(
        Msg("t.plain"),
        (
            (Button(Msg("btn.keep"), action="keep"),),
            (Button(Msg("btn.back"), action="back"), Button(Msg("btn.cancel"), action="cancel")),
            (Button(Plain("odd"), action="odd"),),
        ),
        reply_keyboard=ReplyKeyboard(share_contact=True, suggestions=("0912345678",)),
    )
    markup = renderer.reply_markup("vi", screen)
    assert [[b.text for b in row] for row in markup.keyboard] == [
        ["📱 Chia sẻ số điện thoại"],
        ["0912345678"],
        ["Giữ nguyên"],
        ["Quay lại", "Hủy"],
    ]
    assert markup.keyboard[0][0].request_contact is True
    assert markup.one_time_keyboard and markup.resize_keyboard
    assert renderer.reply_button("vi", " Hủy ") == ("cancel", "")
    assert renderer.reply_button("en", "Back") == ("back", "")
    assert renderer.reply_button("vi", "Back") is None
    assert renderer.reply_button("vi", "odd") is None


# --- long texts ---------------------------------------------------------------------------


def _visible(text: str) -> str:
    return parse_html(text).text


@pytest.mark.parametrize("limit", [60, 200, 4096])
def test_long_html_is_split_between_lines_with_balanced_tags(limit: int) -> None:
    lines = [f"<b>Dòng {i}</b> có <i>chữ nghiêng &amp; {i}</i> và 😀 emoji" for i in range(400)]
    text = "<blockquote>" + "\n".join(lines) + "</blockquote>"
    parts = split_html(text, limit)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= limit
        parse_html(part)  # every part is valid on its own: no tag or entity cut in two
        assert part.startswith("<blockquote>")
    # Telegram trims each message, so whitespace at a cut is not kept
    joined = "".join(_visible(p) for p in parts)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", _visible(text))


def test_a_line_longer_than_the_limit_is_cut_between_words() -> None:
    text = "<b>" + " ".join(f"từ{i}" for i in range(3000)) + "</b>"
    parts = split_html(text, 4096)
    assert len(parts) >= 4
    for part in parts:
        assert utf16_len(part) <= 4096
        assert parse_html(part).entities  # still bold after the cut
    assert "".join(_visible(p) for p in parts).replace(" ", "") == _visible(text).replace(" ", "")


def test_short_text_is_one_part() -> None:
    assert split_html("<b>ngắn</b>") == ["<b>ngắn</b>"]


def test_qr_code_is_a_png() -> None:
    assert qr_png("https://pay.example/p/abc").startswith(b"\x89PNG")


# --- delivery -----------------------------------------------------------------------------


def _session(message_id: int | None = 77, rev: int = 4) -> ChatSession:
    return ChatSession(key=f"1:{CHAT}", lang="vi", rev=rev, message_id=message_id)


def _press(message_id: int | None = 77) -> Origin:
    return Origin(
        chat_id=CHAT, kind=EventKind.BUTTON, callback_id="cb1", callback_message_id=message_id
    )


SCREEN = Screen(Msg("t.plain"), ((Button(Msg("btn.back"), action="back"),),))


async def test_button_press_edits_in_place_with_two_calls(renderer: Renderer, bot: Bot) -> None:
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(SCREEN,)), _press())
    assert message_id == 77
    assert calls(bot).names() == ["AnswerCallbackQuery", "EditMessageText"]
    edit = calls(bot).calls[1]
    assert isinstance(edit, EditMessageText)
    assert (edit.chat_id, edit.message_id, edit.text) == (CHAT, 77, "Chọn gói")
    assert isinstance(edit.reply_markup, InlineKeyboardMarkup)
    assert edit.reply_markup.inline_keyboard[0][0].callback_data == "f:4:back:"


async def test_not_modified_is_success(renderer: Renderer, bot: Bot) -> None:
    calls(bot).fail["EditMessageText"] = "Bad Request: message is not modified: specified new "
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(SCREEN,)), _press())
    assert message_id == 77
    assert calls(bot).names() == ["AnswerCallbackQuery", "EditMessageText"]


async def test_a_message_that_cannot_be_edited_is_replaced(renderer: Renderer, bot: Bot) -> None:
    calls(bot).fail["EditMessageText"] = "Bad Request: message to edit not found"
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(SCREEN,)), _press())
    assert calls(bot).names() == ["AnswerCallbackQuery", "EditMessageText", "SendMessage"]
    assert message_id == 101


async def test_other_edit_errors_are_raised(renderer: Renderer, bot: Bot) -> None:
    calls(bot).fail["EditMessageText"] = "Bad Request: can't parse entities: oops"
    with pytest.raises(TelegramBadRequest):
        await renderer.deliver(bot, _session(), Reply(screens=(SCREEN,)), _press())


async def test_a_press_on_an_older_message_sends_a_new_one(renderer: Renderer, bot: Bot) -> None:
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(SCREEN,)), _press(12))
    assert calls(bot).names() == ["AnswerCallbackQuery", "SendMessage"]
    assert message_id == 101


async def test_notice_is_the_callback_answer_or_prepended(renderer: Renderer, bot: Bot) -> None:
    screen = Screen(Msg("t.plain"), notice=Msg("t.notice"))
    await renderer.deliver(bot, _session(), Reply(screens=(screen,)), _press())
    answer = calls(bot).calls[0]
    assert isinstance(answer, AnswerCallbackQuery)
    assert answer.text == "Đã lưu nháp"
    text_origin = Origin(chat_id=CHAT, kind=EventKind.TEXT)
    new = Screen(Msg("t.plain"), notice=Msg("t.notice"), delivery=Delivery.NEW)
    await renderer.deliver(bot, _session(), Reply(screens=(new,)), text_origin)
    sent = calls(bot).calls[-1]
    assert isinstance(sent, SendMessage)
    assert sent.text == "Đã lưu <i>nháp</i>\n\nChọn gói"


async def test_a_callback_is_answered_once_even_without_screens(
    renderer: Renderer, bot: Bot
) -> None:
    origin = _press()
    await renderer.deliver(bot, _session(), Reply(answer=Msg("t.notice"), alert=True), origin)
    await renderer.answer_callback(bot, origin, "again")
    assert calls(bot).names() == ["AnswerCallbackQuery"]
    answer = calls(bot).calls[0]
    assert isinstance(answer, AnswerCallbackQuery)
    assert (answer.text, answer.show_alert) == ("Đã lưu nháp", True)


async def test_reply_keyboard_prompt_final_screen_and_qr(renderer: Renderer, bot: Bot) -> None:
    prompt = Screen(
        Msg("t.plain"),
        ((Button(Msg("btn.back"), action="back"), Button(Msg("btn.cancel"), action="cancel")),),
        reply_keyboard=ReplyKeyboard(share_contact=True),
    )
    await renderer.deliver(bot, _session(), Reply(screens=(prompt,)), _press())
    sent = calls(bot).calls[-1]
    assert isinstance(sent, SendMessage) and isinstance(sent.reply_markup, ReplyKeyboardMarkup)

    final = Screen(Msg("t.plain"), delivery=Delivery.NEW, final=True, qr="https://pay.example/1")
    origin = Origin(chat_id=CHAT, kind=EventKind.CONTACT)
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(final,)), origin)
    assert calls(bot).names()[-2:] == ["SendMessage", "SendPhoto"]
    text_message = calls(bot).calls[-2]
    assert isinstance(text_message, SendMessage)
    assert isinstance(text_message.reply_markup, ReplyKeyboardRemove)
    assert message_id == 102  # the text message, not the photo


async def test_after_a_shared_contact_the_reply_keyboard_goes_away(
    renderer: Renderer, bot: Bot
) -> None:
    origin = Origin(chat_id=CHAT, kind=EventKind.CONTACT)
    screen = Screen(Msg("t.plain"), SCREEN.buttons, delivery=Delivery.NEW)
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(screen,)), origin)
    assert calls(bot).names() == ["SendMessage", "EditMessageReplyMarkup"]
    sent, edit = calls(bot).calls
    assert isinstance(sent, SendMessage) and isinstance(sent.reply_markup, ReplyKeyboardRemove)
    assert isinstance(edit, EditMessageReplyMarkup)
    assert edit.message_id == message_id == 101
    assert isinstance(edit.reply_markup, InlineKeyboardMarkup)

    text_origin = Origin(chat_id=CHAT, kind=EventKind.TEXT)  # typed: one call, inline keyboard
    await renderer.deliver(bot, _session(), Reply(screens=(screen,)), text_origin)
    last = calls(bot).calls[-1]
    assert isinstance(last, SendMessage) and isinstance(last.reply_markup, InlineKeyboardMarkup)


async def test_buttons_already_added_by_an_earlier_delivery_are_not_an_error(
    renderer: Renderer, bot: Bot
) -> None:
    """A replica died after its edit of the buttons landed; the update is delivered again and
    Telegram answers the same edit "message is not modified": the buttons are there."""
    origin = Origin(chat_id=CHAT, kind=EventKind.CONTACT)
    screen = Screen(Msg("t.plain"), SCREEN.buttons, delivery=Delivery.NEW)
    calls(bot).fail["EditMessageReplyMarkup"] = "Bad Request: message is not modified: specified"
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(screen,)), origin)
    assert message_id == 101
    assert calls(bot).names() == ["SendMessage", "EditMessageReplyMarkup"]
    calls(bot).fail["EditMessageReplyMarkup"] = "Bad Request: message to edit not found"
    with pytest.raises(TelegramBadRequest):  # anything else is still an error
        await renderer.deliver(bot, _session(), Reply(screens=(screen,)), origin)


async def test_long_screen_is_sent_in_parts_with_the_keyboard_last(bot: Bot) -> None:
    long_text = "\n".join(["<b>dòng</b>"] * 800)
    renderer = Renderer(I18n({"vi": {**MESSAGES["vi"], "t.long": long_text}}))
    screen = Screen(Msg("t.long"), ((Button(Msg("btn.back"), action="back"),),))
    message_id = await renderer.deliver(bot, _session(), Reply(screens=(screen,)), _press())
    names = calls(bot).names()
    assert names[:2] == ["AnswerCallbackQuery", "EditMessageText"]
    assert names[2:] == ["SendMessage"] * (len(names) - 2) and len(names) >= 3
    edit = calls(bot).calls[1]
    assert isinstance(edit, EditMessageText) and edit.reply_markup is None
    last = calls(bot).calls[-1]
    assert isinstance(last, SendMessage) and isinstance(last.reply_markup, InlineKeyboardMarkup)
    assert message_id == 100 + len(names) - 2


async def test_outgoing_messages_go_to_other_chats(renderer: Renderer, bot: Bot) -> None:
    outgoing = Outgoing(chat_id=999, lang="en", screen=Screen(Msg("t.hello", {"name": "Ann"})))
    reply = Reply(screens=(SCREEN,), outgoing=(outgoing,))
    await renderer.deliver(bot, _session(), reply, Origin(chat_id=CHAT, kind=EventKind.COMMAND))
    sent = calls(bot).calls[-1]
    assert isinstance(sent, SendMessage)
    assert (sent.chat_id, sent.text) == (999, "Hello <b>Ann</b>")
