"""A test driver that plays one Telegram user against the local Bot API server.

    user = ChatUser.create(state, "An", phone_number="+84912345678")
    await user.send("/start")              # waits until the bot has finished reacting
    await user.press("Dịch vụ")            # the newest bot message showing that button
    await user.press("12 tháng", prefix=True)
    await user.share_contact()             # the reply keyboard's request_contact button
    assert "Đăng ký thành công" in user.last_text()

"Finished reacting" means: the bot is done taking the update (its webhook answered, or it
polled again after fetching it), it changed something the user can see in this chat (a
message, an edit, a deletion, or a callback answer with text), no request of the bot is in
flight, and no new one arrived for ``quiet`` seconds. The first two are exact when the bot
handles an update before taking the next one: aiogram polling with ``handle_as_tasks=False``,
or a webhook handler with ``handle_in_background=False``; the quiet period then only covers
follow-up calls. With background handling it is a heuristic (``quiet`` after the last call),
unless the bot runs in this process and reports what it handled (``updates``, a
:class:`HandledUpdates`, the e2e harness's UpdateLog): then the action also waits until the bot
handled its update to the end, and ``calls_since_action`` lists the requests made for that
update only, not those of the bot's background work or of other chats meanwhile.
Every action also fails the test at once when it caused a Bot API violation (``strict``).
"""

# ruff: noqa: ASYNC109 - waits take a timeout and raise NoReply, with the chat in the message

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol, Self

from sandbox.botapi import (
    BotApiState,
    Button,
    CallbackAnswer,
    MessageView,
    SimError,
    SimUser,
    StoredFile,
    UserAction,
)

__all__ = ["ChatUser", "HandledUpdates", "NoReply"]

_VISIBLE = frozenset({"message", "edit", "delete"})


class NoReply(AssertionError):
    """The bot did not visibly react in time."""


class HandledUpdates(Protocol):
    """What a bot running in this process did per update (tests/e2e/harness.py)."""

    def is_handled(self, bot_id: int, update_id: int) -> bool:
        """The bot handled the update to the end."""

    def calls(self, bot_id: int, update_id: int) -> list[str]:
        """The Bot API methods the bot requested while handling the update, in order."""


class ChatUser:
    """One simulated user in a private chat with one bot."""

    def __init__(
        self,
        state: BotApiState,
        user: SimUser,
        *,
        bot: str | int | None = None,
        timeout: float = 5.0,
        quiet: float = 0.08,
        strict: bool = True,
        updates: HandledUpdates | None = None,
    ) -> None:
        self.state = state
        self.updates = updates
        self.user = user
        self.bot = state.resolve_bot(bot)
        self.timeout = timeout
        self.quiet = quiet
        self.strict = strict
        self._action: UserAction | None = None
        self._event_mark = len(state.events)
        self._call_mark = len(state.calls)
        self._violation_mark = len(state.violations)
        self._started = time.monotonic()

    @classmethod
    def create(
        cls,
        state: BotApiState,
        first_name: str = "Test",
        *,
        user_id: int | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        phone_number: str | None = None,
        bot: str | int | None = None,
        timeout: float = 5.0,
        quiet: float = 0.08,
        strict: bool = True,
        updates: HandledUpdates | None = None,
    ) -> Self:
        user = state.create_user(
            first_name,
            user_id=user_id,
            last_name=last_name,
            username=username,
            language_code=language_code,
            phone_number=phone_number,
        )
        return cls(
            state, user, bot=bot, timeout=timeout, quiet=quiet, strict=strict, updates=updates
        )

    @property
    def id(self) -> int:
        return self.user.id

    # -- actions -----------------------------------------------------------------------------

    async def send(self, text: str, *, wait: bool = True) -> list[MessageView]:
        """Send a text (a leading /command is marked as a command) and wait for the reply."""
        self._begin()
        return await self._after(self.state.send_message(self.id, text, bot=self.bot.id), wait)

    async def press(
        self,
        label: str,
        *,
        prefix: bool = False,
        message_id: int | None = None,
        wait: bool = True,
    ) -> list[MessageView]:
        """Press the inline button labelled ``label`` (or starting with it, with ``prefix``)
        on the newest bot message that shows one, or on ``message_id``."""
        message, button = self._find_button(label, prefix=prefix, message_id=message_id)
        self._begin()
        action = self.state.press_inline_button(
            self.id, button.text, message_id=message.message_id, bot=self.bot.id
        )
        if action.url is not None or action.copied is not None:
            return []  # the app opens the link or copies the text; the bot hears nothing
        return await self._after(action, wait)

    async def press_data(
        self, callback_data: str, *, message_id: int | None = None, wait: bool = True
    ) -> list[MessageView]:
        """Press the inline button carrying ``callback_data``."""
        self._begin()
        action = self.state.press_inline_button(
            self.id, callback_data=callback_data, message_id=message_id, bot=self.bot.id
        )
        return await self._after(action, wait)

    async def tap(self, text: str, *, wait: bool = True) -> list[MessageView]:
        """Press a button of the reply keyboard the bot currently shows."""
        self._begin()
        return await self._after(
            self.state.press_reply_button(self.id, text, bot=self.bot.id), wait
        )

    async def share_contact(self, *, wait: bool = True) -> list[MessageView]:
        """Press the reply keyboard's request_contact button: shares the user's own phone."""
        keyboard = self.state.current_keyboard(self.id, bot=self.bot.id) or ()
        buttons = [b for row in keyboard for b in row if b.kind == "request_contact"]
        if not buttons:
            raise SimError(f"no share-contact button on the reply keyboard {self.keyboard()}")
        return await self.tap(buttons[0].text, wait=wait)

    async def share_users(
        self, *users: ChatUser | int, request_id: int | None = None, forged: bool = False
    ) -> list[MessageView]:
        """Pick ``users`` with the reply keyboard's request_users button (its request_id
        unless given); ``forged`` sends it as a modified client would, without a button."""
        if request_id is None:
            keyboard = self.state.current_keyboard(self.id, bot=self.bot.id) or ()
            ids = [b.request_id for row in keyboard for b in row if b.kind == "request_users"]
            if not ids or ids[0] is None:
                raise SimError(f"no request_users button on the reply keyboard {self.keyboard()}")
            request_id = ids[0]
        user_ids = [u if isinstance(u, int) else u.id for u in users]
        self._begin()
        action = self.state.share_users(
            self.id, request_id, user_ids, bot=self.bot.id, forged=forged
        )
        return await self._after(action, True)

    async def send_contact(
        self,
        phone_number: str,
        first_name: str = "Contact",
        *,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        wait: bool = True,
    ) -> list[MessageView]:
        """Send someone's contact card through the attachment menu."""
        self._begin()
        action = self.state.send_contact(
            self.id,
            phone_number=phone_number,
            first_name=first_name,
            last_name=last_name,
            contact_user_id=contact_user_id,
            bot=self.bot.id,
        )
        return await self._after(action, wait)

    # -- waiting -----------------------------------------------------------------------------

    async def wait_reply(
        self, *, timeout: float | None = None, quiet: float | None = None
    ) -> list[MessageView]:
        """Wait until the bot has visibly reacted to the last action and gone quiet.

        Returns the bot messages sent or changed since the action (current state, oldest
        first). Raises NoReply when nothing visible happened within ``timeout``.
        """
        await self._settle(timeout=timeout, quiet=quiet, need_visible=True)
        return self.changed_since_action()

    async def settle(self, *, timeout: float | None = None, quiet: float | None = None) -> None:
        """Wait until the bot took the last update and went quiet, visible reply or not."""
        await self._settle(timeout=timeout, quiet=quiet, need_visible=False)

    async def wait_for(
        self, predicate: Callable[[], bool], *, timeout: float | None = None
    ) -> None:
        """Wait until ``predicate()`` holds, e.g. for a message sent later by a payment."""
        limit = self.timeout if timeout is None else timeout
        if not await self.state.wait_until(predicate, limit):
            raise NoReply(f"condition not met within {limit}s; chat: {self._transcript()}")
        self._check_violations()

    async def wait_for_text(self, fragment: str, *, timeout: float | None = None) -> MessageView:
        """Wait until a bot message containing ``fragment`` is visible; returns it."""
        await self.wait_for(lambda: self._with_text(fragment) is not None, timeout=timeout)
        found = self._with_text(fragment)
        assert found is not None
        return found

    # -- what the user sees ------------------------------------------------------------------

    def history(self) -> list[MessageView]:
        return self.state.history(self.id, bot=self.bot.id)

    def bot_messages(self) -> list[MessageView]:
        return [m for m in self.history() if m.from_bot]

    def last_message(self) -> MessageView:
        messages = self.bot_messages()
        if not messages:
            raise AssertionError("the bot has sent nothing to this user")
        return messages[-1]

    def last_text(self) -> str:
        """The visible text (or caption) of the newest bot message."""
        message = self.last_message()
        return message.text or message.caption or ""

    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.bot_messages()]

    def last_buttons(self) -> list[list[str]]:
        """The inline button labels of the newest bot message, row by row."""
        return self.last_message().labels

    def buttons(self) -> list[str]:
        """Every inline button label currently visible in the chat, newest message first."""
        return [b.text for m in reversed(self.bot_messages()) for b in m.flat_buttons]

    def keyboard(self) -> list[list[str]] | None:
        """The reply keyboard's labels, or None when none is shown."""
        keyboard = self.state.current_keyboard(self.id, bot=self.bot.id)
        return None if keyboard is None else [[b.text for b in row] for row in keyboard]

    def callback_answers(self) -> list[CallbackAnswer]:
        return self.state.callback_answers(self.id, bot=self.bot.id)

    def last_callback_answer(self) -> CallbackAnswer | None:
        answers = self.callback_answers()
        return answers[-1] if answers else None

    def documents(self) -> list[StoredFile]:
        """The files the bot sent as documents, with their bytes and names."""
        return self.state.documents(self.id, bot=self.bot.id)

    def calls_since_action(self) -> list[str]:
        """Bot API methods the bot called since the last action (long polls excluded): with
        ``updates``, those it called handling the action's update."""
        update_id = self._action.update_id if self._action else None
        if self.updates is not None and update_id is not None:
            return self.updates.calls(self.bot.id, update_id)
        return [
            c.method
            for c in self.state.calls[self._call_mark :]
            if c.bot_id == self.bot.id and c.method != "getUpdates"
        ]

    def changed_since_action(self) -> list[MessageView]:
        touched = {
            e.message_id
            for e in self.state.events[self._event_mark :]
            if e.bot_id == self.bot.id and e.chat_id == self.id and e.from_bot
        }
        return [m for m in self.bot_messages() if m.message_id in touched]

    # -- internals ---------------------------------------------------------------------------

    def _begin(self) -> None:
        self._event_mark = len(self.state.events)
        self._call_mark = len(self.state.calls)
        self._violation_mark = len(self.state.violations)
        self._started = time.monotonic()

    async def _after(self, action: UserAction, wait: bool) -> list[MessageView]:
        self._action = action
        if not wait:
            return []
        return await self.wait_reply()

    def _visible_reaction(self) -> bool:
        query = self._action.callback_query_id if self._action else None
        for event in self.state.events[self._event_mark :]:
            if event.bot_id != self.bot.id or event.chat_id != self.id:
                continue
            if event.kind in _VISIBLE and event.from_bot:
                return True
            if (
                event.kind == "callback_answer"
                and event.data.get("callback_query_id") == query
                and event.data.get("text")
            ):
                return True
        return False

    async def _settle(
        self, *, timeout: float | None, quiet: float | None, need_visible: bool
    ) -> None:
        state, bot_id = self.state, self.bot.id
        limit = self.timeout if timeout is None else timeout
        pause = self.quiet if quiet is None else quiet
        update_id = self._action.update_id if self._action else None
        deadline = time.monotonic() + limit
        while True:
            waiter = state.change_waiter()
            now = time.monotonic()
            consumed = update_id is None or (
                state.update_consumed(bot_id, update_id)
                and (self.updates is None or self.updates.is_handled(bot_id, update_id))
            )
            ready = consumed and not state.busy(bot_id)
            if ready and need_visible:
                ready = self._visible_reaction()
            if ready:
                idle = now - max(state.last_activity(bot_id), self._started)
                if idle >= pause:
                    break
                wait = pause - idle
            else:
                wait = deadline - now
            if now >= deadline:
                self._check_violations()
                what = "took (and handled) the update" if not consumed else "reacted visibly"
                raise NoReply(
                    f"the bot never {what} within {limit}s; calls since the action: "
                    f"{self.calls_since_action()}; chat: {self._transcript()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), min(wait, deadline - now))
        self._check_violations()

    def _check_violations(self) -> None:
        new = self.state.violations[self._violation_mark :]
        self._violation_mark = len(self.state.violations)
        if self.strict and new:
            listed = "; ".join(f"{v.method}: {v.description}" for v in new)
            raise AssertionError(f"Bot API violations: {listed}")

    def _with_text(self, fragment: str) -> MessageView | None:
        for message in reversed(self.bot_messages()):
            if fragment in (message.text or message.caption or ""):
                return message
        return None

    def _find_button(
        self, label: str, *, prefix: bool, message_id: int | None
    ) -> tuple[MessageView, Button]:
        for message in reversed(self.bot_messages()):
            if message_id is not None and message.message_id != message_id:
                continue
            matches = [
                b
                for b in message.flat_buttons
                if (b.text.startswith(label) if prefix else b.text == label)
            ]
            if len({b.text for b in matches}) > 1:
                raise SimError(f"{label!r} matches several buttons: {[b.text for b in matches]}")
            if matches:
                return message, matches[0]
        raise SimError(f"no inline button {label!r}; visible buttons: {self.buttons()}")

    def _transcript(self) -> str:
        lines = []
        for message in self.history()[-6:]:
            who = "bot" if message.from_bot else "user"
            body = (
                message.text or message.caption or ("<contact>" if message.contact else "<media>")
            )
            lines.append(f"[{who} #{message.message_id}] {body!r} {message.labels or ''}")
        return " | ".join(lines) or "(empty)"
