"""What every conversation flow offers the engine.

A flow keeps its state in ``turn.draft`` (plain JSON data, ids and choices only) and draws its
current step with ``screen``. The engine owns what all flows share: commands, cancel, stale
buttons, expiry, language; it hands a flow only the events meant for it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from conversations.screens import Screen
from conversations.session import SharedUser
from conversations.turn import Turn


class Flow(Protocol):
    async def start(self, t: Turn, arg: str) -> None:
        """Begin the flow (the draft is empty); ``arg`` comes from the command or entry button."""
        ...

    async def screen(self, t: Turn) -> Screen: ...

    async def button(self, t: Turn, action: str, arg: str) -> None: ...

    async def text(self, t: Turn, text: str) -> None: ...

    async def contact(self, t: Turn, phone: str, own: bool) -> None: ...


@runtime_checkable
class PicksUsers(Protocol):
    """A flow with a step that asks the user to pick people in Telegram (a ``request_users``
    button); it gets the ``users_shared`` answer. ``request_id`` is the button's, as the
    client sent it: a hint the flow checks against its step."""

    async def users(self, t: Turn, request_id: int, users: tuple[SharedUser, ...]) -> None: ...
