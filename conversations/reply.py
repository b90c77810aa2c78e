"""What the engine returns for one update."""

from __future__ import annotations

from dataclasses import dataclass

from conversations.screens import Msg, Screen
from conversations.session import Outgoing


@dataclass(frozen=True, slots=True)
class Reply:
    #: screens for the current chat, in order; the first may edit the flow message
    screens: tuple[Screen, ...] = ()
    #: the callback answer (toast); every callback query is answered, with this or empty
    answer: Msg | None = None
    alert: bool = False
    #: messages to other chats
    outgoing: tuple[Outgoing, ...] = ()
    #: False when nothing in the session changed (the bot then skips saving it)
    changed: bool = True
