"""The world behind the local Bot API server: bots, simulated users, chats and updates.

Both sides act on one ``BotApiState``: the bot through Bot API methods (``methods.py``), the
simulated users through the ``create_user``/``send_message``/``press_inline_button``/...
methods here (also reachable over HTTP under ``/_sim/``). Everything runs on one event loop and
is synchronous except the waits; each change wakes every waiter (``_notify``).

A private chat's id is the user's id and its message ids count up from 1 for the user's and the
bot's messages alike, as in Telegram. Deleted messages stay stored (flagged) so that edits and
deletions of them fail the way Telegram fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.botapi.faults import FaultSwitches

__all__ = [
    "ApiCall",
    "BotAccount",
    "BotApiState",
    "Button",
    "CallbackAnswer",
    "Chat",
    "MessageView",
    "SimError",
    "SimEvent",
    "SimUser",
    "StoredFile",
    "StoredMessage",
    "UserAction",
    "Violation",
    "WebhookConfig",
]

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


class BotApiState:
    """Everything the local Bot API server knows; shared by the server and the tests.

    Attributes tests read directly: ``violations`` (every refused request, in order),
    ``calls`` (every answered request), ``events`` (what users can observe), ``users``,
    ``files``. ``webhook_retry_delays`` are the pauses between webhook delivery attempts.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.bots: dict[str, BotAccount] = {}
        self.users: dict[int, SimUser] = {}
        self.files: dict[str, StoredFile] = {}
        self.violations: list[Violation] = []
        self.calls: list[ApiCall] = []
        self.faults = FaultSwitches()
        self.events: list[SimEvent] = []
        self.webhook_retry_delays: tuple[float, ...] = (0.05, 0.2, 0.5)
        self.webhook_timeout: float = 30.0
        self.closing = False
        self._chats: dict[tuple[int, int], Chat] = {}
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._user_ids = itertools.count(100_000_001)
        self._changed = asyncio.Event()
        self._busy: dict[int, int] = {}
        self._last_activity: dict[int, float] = {}

    # -- change notification ------------------------------------------------------------

    def notify(self) -> None:
        """Wake every waiter; they re-check their conditions."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def change_waiter(self) -> asyncio.Event:
        """The event the next change sets; take it before checking a condition, then wait."""
        return self._changed

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 - False on timeout, the caller decides
    ) -> bool:
        """Wait until ``predicate()`` holds (checked after every change); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            waiter = self._changed
            if predicate():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), remaining)

    # -- bots -------------------------------------------------------------------------------

    def add_bot(
        self,
        token: str,
        bot_id: int | None = None,
        username: str = "onesme_test_bot",
        first_name: str = "Test Bot",
    ) -> BotAccount:
        """Register a bot; its id defaults to the number before the token's colon."""
        if bot_id is None:
            head = token.split(":", 1)[0]
            if not head.isdigit():
                raise ValueError("token must look like '<bot id>:<secret>' or bot_id be given")
            bot_id = int(head)
        bot = BotAccount(token=token, id=bot_id, username=username, first_name=first_name)
        self.bots[token] = bot
        return bot

    def bot_by_token(self, token: str) -> BotAccount | None:
        return self.bots.get(token)

    def resolve_bot(self, bot: str | int | None = None) -> BotAccount:
        """Find a bot by token, id or username; None means the only registered bot."""
        if bot is None:
            if len(self.bots) != 1:
                raise SimError(f"{len(self.bots)} bots registered: say which one")
            return next(iter(self.bots.values()))
        for account in self.bots.values():
            if bot in (account.token, account.id, account.username, str(account.id)):
                return account
        raise SimError(f"no bot {bot!r}")

    # -- users and chats (the client side) -------------------------------------------------

    def create_user(
        self,
        first_name: str = "Test",
        *,
        user_id: int | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        phone_number: str | None = None,
    ) -> SimUser:
        """A Telegram user; their private chat with a bot opens when they first write to it."""
        if user_id is None:
            user_id = next(self._user_ids)
            while user_id in self.users:
                user_id = next(self._user_ids)
        if user_id in self.users:
            raise SimError(f"user {user_id} already exists")
        user = SimUser(user_id, first_name, last_name, username, language_code, phone_number)
        self.users[user_id] = user
        return user

    def user(self, user_id: int) -> SimUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise SimError(f"no user {user_id}") from None

    def _open_chat(self, bot: BotAccount, user_id: int) -> Chat:
        """The chat the user writes in; writing again after blocking unblocks the bot."""
        user = self.user(user_id)
        chat = self._chats.get((bot.id, user_id))
        if chat is None:
            chat = Chat(bot_id=bot.id, user=user)
            self._chats[(bot.id, user_id)] = chat
        if chat.blocked:
            chat.blocked = False
            self._member_update(bot, chat, old="kicked", new="member")
        return chat

    def chat(self, bot_id: int, chat_id: int) -> Chat | None:
        """The chat a bot may write to, or None when the user never opened it."""
        return self._chats.get((bot_id, chat_id))

    def block_bot(self, user_id: int, *, bot: str | int | None = None) -> None:
        """The user blocks the bot: a my_chat_member update, then 403 for the bot's messages
        until the user writes again."""
        account = self.resolve_bot(bot)
        chat = self._open_chat(account, user_id)
        chat.blocked = True
        self._member_update(account, chat, old="member", new="kicked")

    def _member_update(self, bot: BotAccount, chat: Chat, *, old: str, new: str) -> None:
        def member(status: str) -> dict[str, Any]:
            entry: dict[str, Any] = {"status": status, "user": bot.to_user()}
            if status == "kicked":
                entry["until_date"] = 0
            return entry

        self._enqueue(
            bot,
            "my_chat_member",
            {
                "chat": chat.user.to_chat(),
                "from": chat.user.to_api(),
                "date": int(self.clock()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def send_message(self, user_id: int, text: str, *, bot: str | int | None = None) -> UserAction:
        """The user sends a text; a leading /command gets a bot_command entity like Telegram's."""
        if not text.strip():
            raise SimError("Telegram does not send empty messages")
        account = self.resolve_bot(bot)
        chat = self._open_chat(account, user_id)
        message = self._user_message(account, chat)
        message.text = text
        match = _COMMAND.match(text)
        if match:
            length = len(match.group().encode("utf-16-le")) // 2
            message.entities = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._deliver_user_message(account, chat, message)

    def send_contact(
        self,
        user_id: int,
        *,
        phone_number: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        bot: str | int | None = None,
    ) -> UserAction:
        """Share a contact: the user's own (no phone_number given) or anyone's."""
        account = self.resolve_bot(bot)
        user = self.user(user_id)
        chat = self._open_chat(account, user_id)
        if phone_number is None:
            if user.phone_number is None:
                raise SimError(f"user {user_id} has no phone_number to share")
            contact: dict[str, Any] = {
                "phone_number": user.phone_number,
                "first_name": user.first_name,
                "user_id": user.id,
            }
            if user.last_name:
                contact["last_name"] = user.last_name
        else:
            contact = {"phone_number": phone_number, "first_name": first_name or "Contact"}
            if last_name:
                contact["last_name"] = last_name
            if contact_user_id is not None:
                contact["user_id"] = contact_user_id
        message = self._user_message(account, chat)
        message.contact = contact
        return self._deliver_user_message(account, chat, message)

    def share_users(
        self,
        user_id: int,
        request_id: int,
        user_ids: list[int],
        *,
        bot: str | int | None = None,
        forged: bool = False,
    ) -> UserAction:
        """The user picks ``user_ids`` with a ``request_users`` button: a message with
        ``users_shared`` (ids, and the names and usernames the button asked for).

        The button must be on the reply keyboard shown now (its limits apply: how many users,
        no bots unless allowed); with ``forged`` the message is sent as a modified client
        would, for any ``request_id`` and users."""
        account = self.resolve_bot(bot)
        chat = self.chat(account.id, user_id)
        request: dict[str, Any] = {}
        if not forged:
            keyboard = chat.keyboard if chat else None
            found = [
                b["request_users"]
                for row in (keyboard or {}).get("keyboard", [])
                for b in row
                if isinstance(b.get("request_users"), dict)
                and b["request_users"].get("request_id") == request_id
            ]
            if not found:
                raise SimError(f"no request_users button with request_id {request_id} shown")
            request = found[0]
            if not 1 <= len(user_ids) <= int(request.get("max_quantity", 1)):
                raise SimError(f"the button lets the user pick 1-{request.get('max_quantity', 1)}")
        users: list[dict[str, Any]] = []
        for shared_id in user_ids:
            if shared_id == user_id and not forged:
                raise SimError("Telegram does not let users share themselves")
            shared = self.users.get(shared_id)
            entry: dict[str, Any] = {"user_id": shared_id}
            if shared is not None and (forged or request.get("request_name")):
                entry["first_name"] = shared.first_name
                if shared.last_name:
                    entry["last_name"] = shared.last_name
            if (
                shared is not None
                and shared.username
                and (forged or request.get("request_username"))
            ):
                entry["username"] = shared.username
            users.append(entry)
        chat = self._open_chat(account, user_id)
        message = self._user_message(account, chat)
        message.users_shared = {"request_id": request_id, "users": users}
        return self._deliver_user_message(account, chat, message)

    def press_reply_button(
        self, user_id: int, text: str, *, bot: str | int | None = None
    ) -> UserAction:
        """Press a button of the reply keyboard the bot currently shows in this chat."""
        account = self.resolve_bot(bot)
        chat = self.chat(account.id, user_id)
        keyboard = chat.keyboard if chat else None
        if chat is None or keyboard is None:
            raise SimError("the bot shows no reply keyboard in this chat")
        for row in keyboard["keyboard"]:
            for button in row:
                if button["text"] != text:
                    continue
                if button.get("request_contact"):
                    return self.send_contact(user_id, bot=account.id)
                action = next(
                    (k for k in button if k.startswith("request_") or k == "web_app"), None
                )
                if action is not None:
                    raise SimError(f"the sandbox cannot simulate a {action} button")
                return self.send_message(user_id, text, bot=account.id)
        labels = [b["text"] for row in keyboard["keyboard"] for b in row]
        raise SimError(f"no reply-keyboard button {text!r}; the keyboard has {labels}")

    def press_inline_button(
        self,
        user_id: int,
        label: str | None = None,
        *,
        callback_data: str | None = None,
        message_id: int | None = None,
        bot: str | int | None = None,
    ) -> UserAction:
        """Press an inline button on a bot message's current markup.

        Without ``message_id`` the newest bot message showing such a button is used. A callback
        button produces a callback_query update with a fresh id; a URL button produces none and
        the result carries the URL the app would open; a copy_text button neither, and the
        result carries the text the app copied.
        """
        if (label is None) == (callback_data is None):
            raise SimError("give exactly one of label and callback_data")
        account = self.resolve_bot(bot)
        chat = self.chat(account.id, user_id)
        if chat is None:
            raise SimError(f"user {user_id} has no chat with the bot")

        def matches(button: dict[str, Any]) -> bool:
            if label is not None:
                return bool(button["text"] == label)
            return bool(button.get("callback_data") == callback_data)

        candidates = [
            m
            for m in sorted(chat.messages.values(), key=lambda m: -m.message_id)
            if m.from_bot and not m.deleted and m.reply_markup
        ]
        if message_id is not None:
            candidates = [m for m in candidates if m.message_id == message_id]
        for message in candidates:
            assert message.reply_markup is not None
            found = [
                b for row in message.reply_markup["inline_keyboard"] for b in row if matches(b)
            ]
            if not found:
                continue
            if len(found) > 1 and label is not None:
                raise SimError(f"message {message.message_id} has {len(found)} buttons {label!r}")
            return self._press(account, chat, message, found[0])
        wanted = label if label is not None else f"callback_data={callback_data!r}"
        where = f"message {message_id}" if message_id is not None else "any bot message"
        raise SimError(f"no inline button {wanted} on {where}")

    def _press(
        self, bot: BotAccount, chat: Chat, message: StoredMessage, button: dict[str, Any]
    ) -> UserAction:
        if "url" in button:
            return UserAction(bot.id, chat.user.id, None, message.message_id, url=button["url"])
        if isinstance(button.get("copy_text"), dict):
            copied = button["copy_text"]["text"]
            return UserAction(bot.id, chat.user.id, None, message.message_id, copied=copied)
        if "callback_data" not in button:
            raise SimError(f"the sandbox cannot simulate pressing {button}")
        query_id = str(secrets.randbits(63))
        self._callbacks[query_id] = _CallbackQuery(
            query_id, bot.id, chat.user.id, message.message_id
        )
        update_id = self._enqueue(
            bot,
            "callback_query",
            {
                "id": query_id,
                "from": chat.user.to_api(),
                "message": message.to_api(),
                "chat_instance": chat.chat_instance,
                "data": button["callback_data"],
            },
        )
        return UserAction(
            bot.id, chat.user.id, update_id, message.message_id, callback_query_id=query_id
        )

    def _user_message(self, bot: BotAccount, chat: Chat) -> StoredMessage:
        return StoredMessage(
            message_id=chat.take_message_id(),
            chat_id=chat.user.id,
            bot_id=bot.id,
            from_bot=False,
            sender=chat.user.to_api(),
            chat=chat.user.to_chat(),
            date=int(self.clock()),
        )

    def _deliver_user_message(
        self, bot: BotAccount, chat: Chat, message: StoredMessage
    ) -> UserAction:
        chat.messages[message.message_id] = message
        self._event("message", bot.id, chat.user.id, message.message_id, False, message)
        update_id = self._enqueue(bot, "message", message.to_api())
        return UserAction(bot.id, chat.user.id, update_id, message.message_id)

    def history(self, user_id: int, *, bot: str | int | None = None) -> list[MessageView]:
        """The chat as the user sees it now: deleted messages gone, edits applied, oldest first."""
        account = self.resolve_bot(bot)
        chat = self.chat(account.id, user_id)
        if chat is None:
            return []
        ordered = sorted(chat.messages.values(), key=lambda m: m.message_id)
        return [m.view() for m in ordered if not m.deleted]

    def current_keyboard(
        self, user_id: int, *, bot: str | int | None = None
    ) -> tuple[tuple[Button, ...], ...] | None:
        """The reply keyboard the bot currently shows the user, if any."""
        account = self.resolve_bot(bot)
        chat = self.chat(account.id, user_id)
        if chat is None or chat.keyboard is None:
            return None
        return tuple(tuple(Button.from_api(b) for b in row) for row in chat.keyboard["keyboard"])

    def callback_answers(
        self, user_id: int, *, bot: str | int | None = None
    ) -> list[CallbackAnswer]:
        account = self.resolve_bot(bot)
        chat = self.chat(account.id, user_id)
        return list(chat.answers) if chat else []

    def unanswered_callback_queries(self) -> list[str]:
        """Callback queries the bot never answered (the user's app would show a spinner)."""
        return [q.id for q in self._callbacks.values() if not q.answered]

    def documents(self, user_id: int, *, bot: str | int | None = None) -> list[StoredFile]:
        """The files of the documents the bot sent to the user, oldest first."""
        return [
            self.files[view.document["file_id"]]
            for view in self.history(user_id, bot=bot)
            if view.from_bot and view.document is not None
        ]

    # -- updates ----------------------------------------------------------------------------

    def _enqueue(self, bot: BotAccount, update_type: str, payload: dict[str, Any]) -> int | None:
        if not bot.accepts(update_type):
            return None
        update_id = bot.next_update_id
        bot.next_update_id += 1
        bot.updates.append({"update_id": update_id, update_type: payload})
        self.notify()
        return update_id

    def update_consumed(self, bot_id: int, update_id: int) -> bool:
        """True once the bot is done taking the update: its webhook answered for it, or it
        fetched it with getUpdates and has polled again since. A bot that handles updates
        before polling again (aiogram's ``handle_as_tasks=False``) has then processed it."""
        bot = next(b for b in self.bots.values() if b.id == bot_id)
        if update_id not in bot.handed_over:
            return all(u["update_id"] != update_id for u in bot.updates)
        generation = bot.handed_over[update_id]
        return generation is None or bot.poll_generation > generation

    def drop_updates(self, bot: BotAccount) -> None:
        bot.handed_over.update((u["update_id"], None) for u in bot.updates)
        bot.updates.clear()
        self.notify()

    # -- bot-side bookkeeping ----------------------------------------------------------------

    def new_bot_message(self, bot: BotAccount, chat: Chat, **fields: Any) -> StoredMessage:
        message = StoredMessage(
            message_id=chat.take_message_id(),
            chat_id=chat.user.id,
            bot_id=bot.id,
            from_bot=True,
            sender=bot.to_user(),
            chat=chat.user.to_chat(),
            date=int(self.clock()),
            **fields,
        )
        chat.messages[message.message_id] = message
        self._event("message", bot.id, chat.user.id, message.message_id, True, message)
        return message

    def message_changed(self, bot: BotAccount, message: StoredMessage, kind: str) -> None:
        self._event(kind, bot.id, message.chat_id, message.message_id, True, message)

    def chat_event(self, bot: BotAccount, chat_id: int, kind: str, data: dict[str, Any]) -> None:
        self._append_event(SimEvent(len(self.events) + 1, kind, bot.id, chat_id, None, True, data))

    def _event(
        self,
        kind: str,
        bot_id: int,
        chat_id: int,
        message_id: int,
        from_bot: bool,
        message: StoredMessage,
    ) -> None:
        data = {"message_id": message_id} if kind == "delete" else message.view().to_json()
        seq = len(self.events) + 1
        self._append_event(SimEvent(seq, kind, bot_id, chat_id, message_id, from_bot, data))

    def _append_event(self, event: SimEvent) -> None:
        self.events.append(event)
        self.notify()

    def register_callback_answer(
        self, query_id: str, bot: BotAccount, answer: dict[str, Any]
    ) -> bool:
        query = self._callbacks.get(query_id)
        if query is None or query.bot_id != bot.id or query.answered:
            return False
        query.answered = True
        result = CallbackAnswer(
            callback_query_id=query_id,
            message_id=query.message_id,
            text=answer.get("text"),
            show_alert=bool(answer.get("show_alert", False)),
            url=answer.get("url"),
        )
        chat = self.chat(bot.id, query.chat_id)
        if chat is not None:
            chat.answers.append(result)
        self.chat_event(bot, query.chat_id, "callback_answer", result.to_json())
        return True

    def store_file(
        self,
        bot: BotAccount,
        kind: str,
        data: bytes,
        *,
        extension: str,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        number = len(self.files)
        folder = {"photo": "photos", "document": "documents"}.get(kind, kind)
        stored = StoredFile(
            file_id=f"{kind[:2].upper()}AC{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQ{secrets.token_urlsafe(9)}",
            bot_id=bot.id,
            kind=kind,
            file_path=f"{folder}/file_{number}{extension}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self.files[stored.file_id] = stored
        return stored

    # -- request accounting ------------------------------------------------------------------

    def request_started(self, bot_id: int | None, method: str) -> float:
        now = time.monotonic()
        if bot_id is not None and method != "getUpdates":
            self._busy[bot_id] = self._busy.get(bot_id, 0) + 1
            self._last_activity[bot_id] = now
        return now

    def request_finished(
        self,
        bot_id: int | None,
        method: str,
        params: dict[str, Any],
        error: str | None,
        *,
        violation: bool = True,
        received_at: float | None = None,
        status: int | None = None,
        fault: int | None = None,
    ) -> ApiCall:
        """Record an answered request (started with ``request_started``, which gave
        ``received_at``); a refused one is also a violation unless ``violation`` is False."""
        now = time.monotonic()
        if bot_id is not None and method != "getUpdates":
            self._busy[bot_id] = self._busy.get(bot_id, 1) - 1
            self._last_activity[bot_id] = now
        call = ApiCall(
            len(self.calls) + 1,
            method,
            bot_id,
            now,
            error is None,
            params,
            error,
            received_at=now if received_at is None else received_at,
            status=status if status is not None else (200 if error is None else 400),
            fault=fault,
        )
        self.calls.append(call)
        if error is not None and violation:
            self.violations.append(Violation(method, params, error, bot_id))
        self.notify()
        return call

    def mark_activity(self, bot_id: int) -> None:
        """Note that the bot just did something (e.g. received updates) for quiet periods."""
        self._last_activity[bot_id] = time.monotonic()

    def delivery_started(self, bot_id: int) -> None:
        self._busy[bot_id] = self._busy.get(bot_id, 0) + 1
        self._last_activity[bot_id] = time.monotonic()

    def delivery_finished(self, bot_id: int) -> None:
        self._busy[bot_id] = self._busy.get(bot_id, 1) - 1
        self._last_activity[bot_id] = time.monotonic()
        self.notify()

    def busy(self, bot_id: int) -> bool:
        """True while a request of the bot (other than getUpdates) or a webhook delivery runs."""
        return self._busy.get(bot_id, 0) > 0

    def last_activity(self, bot_id: int) -> float:
        """``time.monotonic()`` of the bot's latest request or delivery start or end."""
        return self._last_activity.get(bot_id, 0.0)

    def record_violation(
        self, method: str, params: dict[str, Any], description: str, bot_id: int | None = None
    ) -> None:
        self.violations.append(Violation(method, params, description, bot_id))
        self.notify()

    def calls_of(self, method: str, *, since: int = 0) -> list[ApiCall]:
        """Answered requests of one method, from ``calls[since]`` on."""
        return [c for c in self.calls[since:] if c.method == method]

    def events_after(
        self, after: int, *, chat_id: int | None = None, bot_id: int | None = None
    ) -> list[SimEvent]:
        return [
            e
            for e in self.events[after:]
            if (chat_id is None or e.chat_id == chat_id) and (bot_id is None or e.bot_id == bot_id)
        ]

    async def wait_for_events(
        self,
        after: int,
        timeout: float,  # noqa: ASYNC109 - an empty list on timeout, as a long poll answers
        *,
        chat_id: int | None = None,
        bot_id: int | None = None,
    ) -> list[SimEvent]:
        """Events with ``seq > after`` (optionally of one chat); waits up to ``timeout``."""
        await self.wait_until(
            lambda: self.closing or bool(self.events_after(after, chat_id=chat_id, bot_id=bot_id)),
            timeout,
        )
        return self.events_after(after, chat_id=chat_id, bot_id=bot_id)


def scope_key(scope: dict[str, Any] | None, language_code: str | None) -> tuple[str, str]:
    """The key commands are stored under: scope (default when absent) and language."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""
