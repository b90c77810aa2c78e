"""Turning the engine's :class:`Reply` into Telegram messages.

The text side is pure: a :class:`Msg` is looked up in the locale files for the session's
language and its typed parameters are formatted (money, dates, cycles through
:mod:`domain.formatting`; catalog and user text HTML-escaped). Buttons become an inline keyboard
whose callback data is a packed :class:`bot.callbacks.FlowCallback` carrying the session's
``rev``. The only I/O is :meth:`Renderer.deliver` and friends, which call the Bot API.

Delivery rules (the cost of a button press is at most answerCallbackQuery + editMessageText):

- ``Delivery.EDIT`` edits the flow message (``session.message_id``) when the update is a press on
  that very message; otherwise, or when Telegram says the message is gone or too old, a new
  message is sent. "message is not modified" counts as success.
- A screen with a reply keyboard is always a new message (a message cannot carry an inline and a
  reply keyboard). Its inline buttons labelled with a key of :data:`REPLY_BUTTON_ACTIONS`
  (Quay lại, Hủy, …) become reply-keyboard buttons; the text the user then sends back is mapped
  to the same button event by :meth:`Renderer.reply_button`.
- A new message without inline buttons after a text or contact reply, or on a ``final`` screen,
  carries ``ReplyKeyboardRemove``. After a shared contact (the reply keyboard was surely shown),
  or a ``final`` screen answering a text, a message with inline buttons is sent with
  ``ReplyKeyboardRemove`` and gets its inline keyboard by ``editMessageReplyMarkup`` (one
  message cannot carry both).
- Texts longer than Telegram's 4096 characters are split between lines, never inside a tag or
  an entity; open tags are closed at the cut and reopened in the next part. The keyboard goes on
  the last part.
- Every callback query is answered exactly once (:class:`Origin` remembers it).
- A screen's ``qr`` (a photo) and ``document`` (a file) follow its message; they never become
  the flow message.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import segno
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNotFound
from aiogram.types import (
    BufferedInputFile,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestUsers,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot import webhook_reply
from bot.callbacks import pack_button
from bot.html_text import MESSAGE_LIMIT, _escape, _truncate, html_to_plain, split_html, utf16_len
from bot.i18n import I18n
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
    Param,
    Plain,
    Screen,
)
from conversations.session import ChatSession, EventKind, Outgoing
from domain.formatting import format_cycle, format_date, format_datetime, format_money

__all__ = [
    "CALLBACK_ANSWER_LIMIT",
    "MESSAGE_LIMIT",
    "REPLY_BUTTON_ACTIONS",
    "Origin",
    "Renderer",
    "html_to_plain",
    "split_html",
    "utf16_len",
]

log = logging.getLogger(__name__)

CALLBACK_ANSWER_LIMIT = 200
CHECKED_MARK = "✅ "
UNCHECKED_MARK = "⬜ "

#: inline buttons that may stand on a reply keyboard: label key → (action, arg)
REPLY_BUTTON_ACTIONS: Mapping[str, tuple[str, str]] = {
    "btn.back": ("back", ""),
    "btn.cancel": ("cancel", ""),
    "btn.keep": ("keep", ""),
    "acc.btn.invite_link": ("link", ""),
}

_NOT_MODIFIED = "message is not modified"
_EDIT_IMPOSSIBLE = (
    "message to edit not found",
    "message can't be edited",
    "message_id_invalid",
    "message is too old",
    "there is no text in the message to edit",
    "message not found",
)

# --- where an update came from -----------------------------------------------------------


@dataclass(slots=True)
class Origin:
    """The update being answered: its chat, and for a button press the callback query."""

    chat_id: int
    kind: EventKind
    callback_id: str | None = None
    #: the message the pressed button was on (None when Telegram no longer shows it to us)
    callback_message_id: int | None = None
    answered: bool = field(default=False)

    @property
    def is_callback(self) -> bool:
        return self.callback_id is not None


# --- the renderer ------------------------------------------------------------------------


class Renderer:
    """Formats screens for one language at a time and sends them; holds no per-chat state."""

    def __init__(
        self,
        i18n: I18n,
        *,
        reply_actions: Mapping[str, tuple[str, str]] = REPLY_BUTTON_ACTIONS,
        message_limit: int = MESSAGE_LIMIT,
    ) -> None:
        self.i18n = i18n
        self.reply_actions = dict(reply_actions)
        self.message_limit = message_limit
        self._reply_labels: dict[str, dict[str, tuple[str, str]]] = {
            lang: {
                i18n.template(lang, key): action
                for key, action in self.reply_actions.items()
                if i18n.has(key)
            }
            for lang in i18n.languages
        }

    # text

    def param(self, lang: str, value: Param, *, markup: bool = True) -> str:
        """One parameter as the user reads it; HTML-escaped unless ``markup`` is False."""
        if isinstance(value, Money):
            return format_money(value.amount, lang)
        if isinstance(value, Day):
            if value.with_time and isinstance(value.value, datetime):
                return format_datetime(value.value, lang)
            return format_date(value.value, lang)
        if isinstance(value, Cycle):
            return format_cycle(value.every, value.unit, lang)
        if isinstance(value, Plain):
            return _escape(value.text) if markup else value.text
        if isinstance(value, Msg | Join):
            return self.text(lang, value, markup=markup)
        if isinstance(value, bool):
            raise TypeError("a bool is not a screen parameter")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            return _escape(value) if markup else value
        raise TypeError(f"unsupported screen parameter {type(value).__name__}")

    def text(self, lang: str, fragment: Param, *, markup: bool = True) -> str:
        """A screen's text (a Msg or Join; any other parameter is shown as it is)."""
        if not isinstance(fragment, Msg | Join):
            return self.param(lang, fragment, markup=markup)
        if isinstance(fragment, Join):
            rendered = (self.param(lang, part, markup=markup) for part in fragment.parts)
            return fragment.sep.join(part for part in rendered if part)
        template = self.i18n.template(lang, fragment.key)
        if not fragment.params:
            return template
        values = {name: self.param(lang, v, markup=markup) for name, v in fragment.params.items()}
        return template.format_map(values)

    def plain(self, lang: str, fragment: Param) -> str:
        """A fragment as plain text (callback answers): markup dropped, entities decoded."""
        return html_to_plain(self.text(lang, fragment))

    def label(self, lang: str, button: Button) -> str:
        if isinstance(button.label, Plain):
            text = button.label.text
        else:
            text = html_to_plain(self.text(lang, button.label))
        if button.style is ButtonStyle.CHECKED:
            return CHECKED_MARK + text
        if button.style is ButtonStyle.UNCHECKED:
            return UNCHECKED_MARK + text
        return text

    # keyboards

    def inline_markup(
        self, lang: str, rows: Sequence[Sequence[Button]], rev: int
    ) -> InlineKeyboardMarkup | None:
        keyboard = [
            [self._inline_button(lang, button, rev) for button in row] for row in rows if row
        ]
        return InlineKeyboardMarkup(inline_keyboard=keyboard) if keyboard else None

    def _inline_button(self, lang: str, button: Button, rev: int) -> InlineKeyboardButton:
        text = self.label(lang, button)
        if button.url is not None:
            if button.action is not None:
                raise ValueError(f"button {text!r} has both a url and an action")
            return InlineKeyboardButton(text=text, url=button.url)
        if button.copy_text is not None:
            if button.action is not None:
                raise ValueError(f"button {text!r} has both copy_text and an action")
            return InlineKeyboardButton(text=text, copy_text=CopyTextButton(text=button.copy_text))
        if button.action is None:
            raise ValueError(f"button {text!r} has neither a url nor an action")
        return InlineKeyboardButton(
            text=text, callback_data=pack_button(button.action, button.arg, rev)
        )

    def reply_markup(self, lang: str, screen: Screen) -> ReplyKeyboardMarkup:
        """The reply keyboard of a text prompt: the contact button, the suggestions, then the
        prompt's navigation buttons (those of :attr:`reply_actions`)."""
        spec = screen.reply_keyboard
        rows: list[list[KeyboardButton]] = []
        if spec is not None and spec.share_contact:
            rows.append(
                [
                    KeyboardButton(
                        text=self.i18n.template(lang, "btn.share_contact"), request_contact=True
                    )
                ]
            )
        if spec is not None and spec.pick_users is not None:
            pick = spec.pick_users
            rows.append(
                [
                    KeyboardButton(
                        text=self.plain(lang, pick.label),
                        request_users=KeyboardButtonRequestUsers(
                            request_id=pick.request_id,
                            user_is_bot=False,
                            max_quantity=pick.max_quantity,
                            request_name=True,
                            request_username=True,
                        ),
                    )
                ]
            )
        if spec is not None and spec.suggestions:
            rows.extend([KeyboardButton(text=s)] for s in spec.suggestions)
        for row in screen.buttons:
            converted = [
                KeyboardButton(text=self.label(lang, b)) for b in row if self._on_reply_keyboard(b)
            ]
            dropped = [b for b in row if not self._on_reply_keyboard(b)]
            if dropped:
                log.warning(
                    "buttons %s cannot stand on a reply keyboard and are left out",
                    [b.action or b.url for b in dropped],
                )
            if converted:
                rows.append(converted)
        return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)

    def _on_reply_keyboard(self, button: Button) -> bool:
        if not isinstance(button.label, Msg) or button.label.params or button.action is None:
            return False
        return self.reply_actions.get(button.label.key) == (button.action, button.arg)

    def reply_button(self, lang: str, text: str) -> tuple[str, str] | None:
        """(action, arg) when ``text`` is the label of a reply-keyboard navigation button."""
        return self._reply_labels.get(lang, {}).get(text.strip())

    # sending

    async def answer_callback(
        self, bot: Bot, origin: Origin, text: str | None = None, *, alert: bool = False
    ) -> None:
        """Answer the update's callback query, once; a failure is logged, never raised."""
        if origin.callback_id is None or origin.answered:
            return
        origin.answered = True
        text = _truncate(text, CALLBACK_ANSWER_LIMIT) if text else None
        if webhook_reply.offer(origin.callback_id, {"text": text, "show_alert": alert or None}):
            return  # it travels in the webhook's answer
        try:
            await bot.answer_callback_query(
                callback_query_id=origin.callback_id, text=text, show_alert=alert or None
            )
        except TelegramAPIError as error:
            log.warning("answerCallbackQuery failed: %s", error)

    async def deliver(self, bot: Bot, session: ChatSession, reply: Reply, origin: Origin) -> int:
        """Show ``reply`` in the chat; returns the id of the message the flow now lives in
        (``session.message_id`` when nothing new was shown)."""
        lang = session.lang
        answer: str | None = None
        if reply.answer is not None:
            answer = self.plain(lang, reply.answer)
        flow_message = session.message_id
        for index, screen in enumerate(reply.screens):
            notice = None
            if screen.notice is not None:
                if origin.is_callback and answer is None and not origin.answered:
                    answer = self.plain(lang, screen.notice)
                else:
                    notice = self.text(lang, screen.notice)
            if index == 0:
                await self.answer_callback(bot, origin, answer, alert=reply.alert)
            text = self.text(lang, screen.text)
            if notice:
                text = f"{notice}\n\n{text}"
            flow_message = await self._show(bot, origin, session, screen, text, may_edit=index == 0)
            if screen.qr:
                await self._send_qr(bot, origin.chat_id, lang, screen.qr)
            if screen.document is not None:
                await self._send_document(bot, origin.chat_id, screen.document)
        await self.answer_callback(bot, origin, answer, alert=reply.alert)
        for outgoing in reply.outgoing:
            await self.send_outgoing(bot, outgoing)
        return flow_message if flow_message is not None else 0

    async def _show(
        self,
        bot: Bot,
        origin: Origin,
        session: ChatSession,
        screen: Screen,
        text: str,
        *,
        may_edit: bool,
    ) -> int:
        lang = session.lang
        chunks = split_html(text, self.message_limit)
        if screen.reply_keyboard is not None:
            return await self._send_chunks(
                bot, origin.chat_id, chunks, self.reply_markup(lang, screen)
            )
        inline = self.inline_markup(lang, screen.buttons, session.rev)
        if (
            may_edit
            and screen.delivery is Delivery.EDIT
            and origin.callback_message_id is not None
            and origin.callback_message_id == session.message_id
        ):
            edited = await self._edit(
                bot,
                origin.chat_id,
                origin.callback_message_id,
                chunks[0],
                inline if len(chunks) == 1 else None,
            )
            if edited:
                if len(chunks) == 1:
                    return origin.callback_message_id
                return await self._send_chunks(bot, origin.chat_id, chunks[1:], inline)
        remove = ReplyKeyboardRemove(remove_keyboard=True)
        if inline is None:
            after_reply = origin.kind in (EventKind.TEXT, EventKind.CONTACT, EventKind.USERS)
            return await self._send_chunks(
                bot, origin.chat_id, chunks, remove if screen.final or after_reply else None
            )
        if origin.kind in (EventKind.CONTACT, EventKind.USERS) or (
            screen.final and origin.kind is EventKind.TEXT
        ):
            # The contact or users button was just used (or a typed answer ends the flow): take the
            # reply keyboard away. A message cannot carry both keyboards, so the inline one
            # follows by edit. (After a button press nothing is done: a press costs at most
            # two calls, and a one-time keyboard has already folded away.)
            message_id = await self._send_chunks(bot, origin.chat_id, chunks, remove)
            try:
                await bot.edit_message_reply_markup(
                    chat_id=origin.chat_id, message_id=message_id, reply_markup=inline
                )
            except TelegramBadRequest as error:
                # a replayed update (another replica died after this edit landed): the
                # buttons are there already
                if _NOT_MODIFIED not in error.message.lower():
                    raise
            return message_id
        return await self._send_chunks(bot, origin.chat_id, chunks, inline)

    async def _edit(
        self,
        bot: Bot,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> bool:
        """True when the message shows ``text`` now; False when it cannot be edited."""
        try:
            await bot.edit_message_text(
                chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup
            )
        except (TelegramBadRequest, TelegramNotFound) as error:
            description = error.message.lower()
            if _NOT_MODIFIED in description:
                return True
            if any(reason in description for reason in _EDIT_IMPOSSIBLE):
                log.info("message %s cannot be edited (%s): sending a new one", message_id, error)
                return False
            raise
        return True

    async def _send_chunks(
        self,
        bot: Bot,
        chat_id: int,
        chunks: Sequence[str],
        markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None,
    ) -> int:
        message: Message | None = None
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            message = await bot.send_message(
                chat_id=chat_id, text=chunk, reply_markup=markup if last else None
            )
        if message is None:
            raise ValueError("a screen rendered to an empty text")
        return message.message_id

    async def _send_qr(self, bot: Bot, chat_id: int, lang: str, url: str) -> None:
        await bot.send_photo(
            chat_id=chat_id,
            photo=BufferedInputFile(qr_png(url), filename="payment-qr.png"),
            caption=self.i18n.template(lang, "bot.qr_caption"),
        )

    async def _send_document(self, bot: Bot, chat_id: int, document: tuple[str, bytes]) -> None:
        """A file after the screen's message; the flow message stays the screen's, so its
        buttons keep editing it."""
        name, content = document
        await bot.send_document(chat_id=chat_id, document=BufferedInputFile(content, filename=name))

    async def send_outgoing(self, bot: Bot, outgoing: Outgoing) -> None:
        """A screen for another chat, always as new messages; a chat that blocked the bot or
        never started it is logged and skipped."""
        try:
            await self.send_screen(bot, outgoing)
        except TelegramAPIError as error:
            log.warning("could not notify chat %s: %s", outgoing.chat_id, error)

    async def send_screen(self, bot: Bot, outgoing: Outgoing) -> int:
        """A screen for another chat as new messages; Telegram's errors are raised (the outbox
        worker decides what they mean). The id of the (last) text message."""
        screen: Screen = outgoing.screen
        text = self.text(outgoing.lang, screen.text)
        if screen.notice is not None:
            text = f"{self.text(outgoing.lang, screen.notice)}\n\n{text}"
        markup = self.inline_markup(outgoing.lang, screen.buttons, 0)
        message_id = await self._send_chunks(bot, outgoing.chat_id, split_html(text), markup)
        if screen.qr:
            await self._send_qr(bot, outgoing.chat_id, outgoing.lang, screen.qr)
        return message_id


def qr_png(url: str) -> bytes:
    """A PNG QR code of ``url``, large enough to scan from a phone screen."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def error_params(template_names: Iterable[str], params: Mapping[str, Any]) -> dict[str, Param]:
    """Parameters for an error text: the ones the template names, missing ones blank."""
    out: dict[str, Param] = {}
    for name in template_names:
        value = params.get(name, "")
        out[name] = (
            value
            if isinstance(value, Money | Day | Cycle | Plain | Msg | Join)
            else Plain(str(value))
        )
    return out
