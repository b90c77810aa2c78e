"""What the conversation engine reads and writes per chat, and the events it receives.

A :class:`ChatSession` is stored once per chat (database or Redis) and loaded and saved once per
update. It holds ids and choices only — never copies of catalog rows — so it stays well under
1 KB of JSON. ``rev`` increases on every transition; buttons carry the ``rev`` they were drawn
with, so a button from an older screen is recognised and never acts on the current draft.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class ChatSession:
    key: str
    lang: str
    rev: int = 0
    #: the message id of the flow message that button screens edit in place
    message_id: int | None = None
    #: the current flow's name and its draft (plain JSON data), or None when idle
    flow: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "l": self.lang,
            "r": self.rev,
            "m": self.message_id,
            "f": self.flow,
            "d": self.draft,
        }

    @classmethod
    def from_dict(cls, key: str, data: dict[str, Any], updated_at: datetime | None) -> ChatSession:
        return cls(
            key=key,
            lang=str(data.get("l") or "vi"),
            rev=int(data.get("r") or 0),
            message_id=data.get("m"),
            flow=data.get("f"),
            draft=dict(data.get("d") or {}),
            updated_at=updated_at,
        )


class EventKind(enum.StrEnum):
    COMMAND = "command"  # /start, /services, /subscriptions, /cancel, /help, /language
    BUTTON = "button"  # an inline button of ours: action, arg, rev
    TEXT = "text"  # a text message
    CONTACT = "contact"  # a shared contact: phone, whether it is the sender's own
    USERS = "users"  # users picked with a request_users keyboard button (users_shared)


@dataclass(frozen=True, slots=True)
class SharedUser:
    """A user picked with a ``request_users`` button: the id, and the name and username when
    the button asked for them."""

    user_id: int
    first_name: str = ""
    username: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    name: str = ""  # command name without the slash, or the button action
    arg: str = ""  # command argument, or the button argument
    rev: int | None = None  # the rev the button was drawn with
    text: str = ""
    phone: str = ""
    own_contact: bool = True
    message_id: int | None = None  # the message the button was on
    request_id: int | None = None  # the request_users button the users were picked with
    users: tuple[SharedUser, ...] = ()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends the update, as Telegram tells it (the permissions come from the database)."""

    user_id: int
    chat_id: int
    first_name: str = ""
    last_name: str = ""
    username: str | None = None
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for another chat than the one being served (e.g. a business owner told that
    an agent registered for them). Rendered like a screen, always as a new message."""

    chat_id: int
    lang: str
    screen: Any  # conversations.screens.Screen (Any avoids an import cycle)
