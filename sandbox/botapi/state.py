"""The world behind the local Bot API server: bots, simulated users, chats and updates.

Both sides act on one ``BotApiState``: the bot through Bot API methods (``methods/``), the
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
import itertools
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from sandbox.botapi.faults import FaultSwitches
from sandbox.botapi.records import (
    ApiCall,
    BotAccount,
    Button,
    CallbackAnswer,
    Chat,
    MessageView,
    SimError,
    SimEvent,
    SimUser,
    StoredFile,
    StoredMessage,
    UserAction,
    Violation,
    WebhookConfig,
    _CallbackQuery,
)
from sandbox.botapi.user_actions import SimulatedUsers

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


class BotApiState(SimulatedUsers):
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
