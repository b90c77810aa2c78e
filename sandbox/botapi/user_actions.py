"""What the simulated users do in their chats with a bot: send text, a contact, shared users;
press reply and inline buttons (see :mod:`sandbox.botapi.state`). A mixin of
:class:`~sandbox.botapi.state.BotApiState`, whose state it reads and changes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.botapi.records import (
    _COMMAND,
    BotAccount,
    Chat,
    SimError,
    SimUser,
    StoredMessage,
    UserAction,
    _CallbackQuery,
)


class SimulatedUsers:
    """The client side of :class:`BotApiState`: each action stores the user's message (or
    press) and queues the update the bot receives."""

    if TYPE_CHECKING:  # provided by BotApiState
        clock: Callable[[], float]
        users: dict[int, SimUser]
        _callbacks: dict[str, _CallbackQuery]

        def resolve_bot(self, bot: str | int | None = None) -> BotAccount: ...

        def user(self, user_id: int) -> SimUser: ...

        def chat(self, bot_id: int, chat_id: int) -> Chat | None: ...

        def _open_chat(self, bot: BotAccount, user_id: int) -> Chat: ...

        def _enqueue(
            self, bot: BotAccount, update_type: str, payload: dict[str, Any]
        ) -> int | None: ...

        def _event(
            self,
            kind: str,
            bot_id: int,
            chat_id: int,
            message_id: int,
            from_bot: bool,
            message: StoredMessage,
        ) -> None: ...

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
        self,
        bot: BotAccount,
        chat: Chat,
        message: StoredMessage,
        button: dict[str, Any],
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
