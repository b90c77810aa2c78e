"""What the local Bot API server stores and shows: bots, simulated users, chats, messages,
buttons, files, callback answers, recorded calls, violations and events (see
:mod:`sandbox.botapi.state`).
"""

from __future__ import annotations

import copy
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?")
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


class SimError(Exception):
    """A simulated user tried something the Telegram app would not let them do."""


@dataclass(frozen=True)
class Violation:
    """A request the server refused: the bot (or the test) did something Telegram rejects."""

    method: str
    params: dict[str, Any]
    description: str
    bot_id: int | None = None


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request, recorded when it was answered.

    ``received_at`` (the request was read in full) and ``at`` (it was answered) are the
    server's ``time.monotonic()``: measure the bot's pacing on them. ``status`` is the HTTP
    status answered (499 when a slow answer's client had gone); ``fault`` the id of the fault
    switch that answered it, if one did.
    """

    seq: int
    method: str
    bot_id: int | None
    at: float
    ok: bool
    params: dict[str, Any]
    description: str | None = None
    received_at: float = 0.0
    status: int = 200
    fault: int | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass(frozen=True)
class SimEvent:
    """Something the user side can observe: kind is message, edit, delete, callback_answer
    or chat_action; ``data`` is a JSON-ready payload (a MessageView's ``to_json`` for messages)."""

    seq: int
    kind: str
    bot_id: int
    chat_id: int
    message_id: int | None
    from_bot: bool
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "from_bot": self.from_bot,
            "data": self.data,
        }


@dataclass
class SimUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "vi"
    phone_number: str | None = None

    def to_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                user[key] = value
        return user

    def to_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            chat["last_name"] = self.last_name
        if self.username is not None:
            chat["username"] = self.username
        return chat

    def to_json(self) -> dict[str, Any]:
        return {**self.to_api(), "phone_number": self.phone_number}


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int


@dataclass
class BotAccount:
    token: str
    id: int
    username: str
    first_name: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    handed_over: dict[int, int | None] = field(default_factory=dict)
    """Updates the bot has taken, with the getUpdates generation that returned each one
    (None when a webhook delivered it or it was dropped)."""
    allowed_updates: list[str] | None = None
    webhook: WebhookConfig | None = None
    webhook_last_error: tuple[int, str] | None = None
    poll_generation: int = 0
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)
    texts: dict[tuple[str, str], str] = field(default_factory=dict)

    def to_user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def accepts(self, update_type: str) -> bool:
        allowed = self.allowed_updates
        if not allowed:
            return update_type in DEFAULT_ALLOWED_UPDATES
        return update_type in allowed


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    bot_id: int
    kind: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    photo_sizes: list[dict[str, Any]] | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    """A message as stored: ``text``/``caption`` as the user sees them, ``source`` as sent."""

    message_id: int
    chat_id: int
    bot_id: int
    from_bot: bool
    sender: dict[str, Any]
    chat: dict[str, Any]
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None
    parse_mode: str | None = None
    photo: list[dict[str, Any]] | None = None
    document: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    users_shared: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None
    keyboard: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    link_preview_options: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Message object the Bot API returns (inline markup included, reply keyboards not)."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": dict(self.sender),
            "chat": dict(self.chat),
            "date": self.date,
        }
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if self.text is not None:
            message["text"] = self.text
            if self.entities:
                message["entities"] = copy.deepcopy(self.entities)
            if self.link_preview_options:
                message["link_preview_options"] = dict(self.link_preview_options)
        if self.photo is not None:
            message["photo"] = copy.deepcopy(self.photo)
        if self.document is not None:
            message["document"] = dict(self.document)
        if self.contact is not None:
            message["contact"] = dict(self.contact)
        if self.users_shared is not None:
            message["users_shared"] = copy.deepcopy(self.users_shared)
        if self.caption:
            message["caption"] = self.caption
            if self.caption_entities:
                message["caption_entities"] = copy.deepcopy(self.caption_entities)
        if self.reply_markup is not None:
            message["reply_markup"] = copy.deepcopy(self.reply_markup)
        return message

    def view(self) -> MessageView:
        inline = self.reply_markup["inline_keyboard"] if self.reply_markup else []
        keyboard = self.keyboard.get("keyboard") if self.keyboard else None
        return MessageView(
            message_id=self.message_id,
            chat_id=self.chat_id,
            from_bot=self.from_bot,
            date=self.date,
            text=self.text,
            html=self.source if self.parse_mode and self.parse_mode.lower() == "html" else None,
            caption=self.caption,
            buttons=tuple(tuple(Button.from_api(b) for b in row) for row in inline),
            keyboard=(
                tuple(tuple(Button.from_api(b) for b in row) for row in keyboard)
                if keyboard is not None
                else None
            ),
            photo=dict(self.photo[-1]) if self.photo else None,
            document=dict(self.document) if self.document else None,
            contact=dict(self.contact) if self.contact else None,
            users_shared=copy.deepcopy(self.users_shared) if self.users_shared else None,
            edited=self.edit_date is not None,
        )


@dataclass(frozen=True)
class Button:
    """A button as the user sees it; ``kind`` is the button's action field (callback_data, url,
    request_contact, ... or ``text`` for a plain reply-keyboard button)."""

    text: str
    kind: str
    callback_data: str | None = None
    url: str | None = None
    #: what a copy_text button copies to the clipboard
    copy_text: str | None = None
    #: a request_users button's request_id
    request_id: int | None = None

    @classmethod
    def from_api(cls, button: dict[str, Any]) -> Button:
        kinds = [k for k in button if k not in ("text", "icon_custom_emoji_id", "style")]
        kinds = [k for k in kinds if button[k] not in (None, False)]
        copy_text = button.get("copy_text")
        request_users = button.get("request_users")
        return cls(
            text=button["text"],
            kind=kinds[0] if kinds else "text",
            callback_data=button.get("callback_data"),
            url=button.get("url"),
            copy_text=copy_text.get("text") if isinstance(copy_text, dict) else None,
            request_id=(
                request_users.get("request_id") if isinstance(request_users, dict) else None
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "callback_data": self.callback_data,
            "url": self.url,
            "copy_text": self.copy_text,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class MessageView:
    """A snapshot of one message as the user sees it (edits applied)."""

    message_id: int
    chat_id: int
    from_bot: bool
    date: int
    text: str | None
    html: str | None
    caption: str | None
    buttons: tuple[tuple[Button, ...], ...]
    keyboard: tuple[tuple[Button, ...], ...] | None
    photo: dict[str, Any] | None
    document: dict[str, Any] | None
    contact: dict[str, Any] | None
    edited: bool
    #: the users picked with a request_users button (a user's message)
    users_shared: dict[str, Any] | None = None

    @property
    def labels(self) -> list[list[str]]:
        """The inline buttons' labels, row by row."""
        return [[button.text for button in row] for row in self.buttons]

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "from_bot": self.from_bot,
            "date": self.date,
            "text": self.text,
            "html": self.html,
            "caption": self.caption,
            "buttons": [[b.to_json() for b in row] for row in self.buttons],
            "keyboard": (
                [[b.to_json() for b in row] for row in self.keyboard]
                if self.keyboard is not None
                else None
            ),
            "photo": self.photo,
            "document": self.document,
            "contact": self.contact,
            "users_shared": self.users_shared,
            "edited": self.edited,
        }


@dataclass(frozen=True)
class CallbackAnswer:
    callback_query_id: str
    message_id: int | None
    text: str | None
    show_alert: bool
    url: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "callback_query_id": self.callback_query_id,
            "message_id": self.message_id,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
        }


@dataclass(frozen=True)
class UserAction:
    """What a user action produced: the update (if any) and the message or callback query."""

    bot_id: int
    chat_id: int
    update_id: int | None
    message_id: int | None = None
    callback_query_id: str | None = None
    url: str | None = None
    #: what a copy_text button put on the clipboard (nothing reaches the bot)
    copied: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "update_id": self.update_id,
            "message_id": self.message_id,
            "callback_query_id": self.callback_query_id,
            "url": self.url,
            "copied": self.copied,
        }


@dataclass
class Chat:
    """A private chat between one bot and one user (its id is the user's id)."""

    bot_id: int
    user: SimUser
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    keyboard: dict[str, Any] | None = None
    blocked: bool = False
    answers: list[CallbackAnswer] = field(default_factory=list)
    chat_instance: str = field(default_factory=lambda: str(secrets.randbelow(10**18)))

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class _CallbackQuery:
    id: str
    bot_id: int
    chat_id: int
    message_id: int
    answered: bool = False
