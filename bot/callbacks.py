"""Typed callback data of the bot's inline buttons.

Every inline button of ours carries one :class:`FlowCallback`: the engine's action name, its
argument (an id or a code, never a price or a role) and the session ``rev`` the screen was drawn
with, so the engine can tell a button from an older screen. The server re-checks everything a
button claims (who presses it, whether they may, whether the draft is current); the data is a
hint, not a credential.

Packed form: ``f:<rev>:<action>:<arg>``, at most 64 bytes (Telegram's limit).
"""

from __future__ import annotations

from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData

__all__ = ["MAX_CALLBACK_LENGTH", "CallbackDataTooLong", "FlowCallback", "pack_button"]


class CallbackDataTooLong(ValueError):
    """A button's callback data would exceed Telegram's 64 bytes."""


class FlowCallback(CallbackData, prefix="f"):
    rev: int
    action: str
    arg: str = ""


def pack_button(action: str, arg: str, rev: int) -> str:
    """The packed callback data; raises :class:`CallbackDataTooLong` or ``ValueError``
    (an action or argument containing ``:``) so a bad screen fails loudly in tests."""
    if not action:
        raise ValueError("a callback button needs an action")
    data = f"{FlowCallback.__prefix__}:{rev}:{action}:{arg}"
    if ":" in action or ":" in arg:
        raise ValueError(f"':' cannot be used in a button's action or argument: {data!r}")
    if len(data.encode()) > MAX_CALLBACK_LENGTH:
        raise CallbackDataTooLong(
            f"callback data {data!r} is {len(data.encode())} bytes (> {MAX_CALLBACK_LENGTH})"
        )
    return data
