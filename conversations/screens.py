"""Screens described as data.

The conversation engine never produces final text: it produces a :class:`Screen` made of
message keys with parameters, and buttons that carry an :class:`Action`. The bot layer looks
the keys up in the locale files, formats typed values (money, dates, cycles) for the user's
language, HTML-escapes user-supplied text, and turns buttons into Telegram keyboards.

Parameter values are typed so the renderer knows how to show them:
``Money`` (int đồng), ``Day`` (date/datetime), ``Cycle`` (every + unit), ``Plain`` (text from
the catalog or a user: always escaped), ``Msg`` (a nested translated fragment), ``int``.
``str`` values are treated like ``Plain`` (escaped).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Money:
    amount: int


@dataclass(frozen=True, slots=True)
class Day:
    value: date | datetime
    with_time: bool = False


@dataclass(frozen=True, slots=True)
class Cycle:
    every: int
    unit: str  # PeriodUnit value


@dataclass(frozen=True, slots=True)
class Plain:
    text: str


@dataclass(frozen=True, slots=True)
class Msg:
    """A translatable fragment: ``key`` in the locale files, formatted with ``params``."""

    key: str
    params: dict[str, Param] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Join:
    """Fragments joined with ``sep`` (a newline by default); empty parts are dropped."""

    parts: tuple[Param, ...]
    sep: str = "\n"


Param = Money | Day | Cycle | Plain | Msg | Join | int | str


def money_in(amount: int, currency: str) -> Param:
    """An amount a payment gateway reported: formatted as money in đồng (``VND``), else shown
    as given, with its currency."""
    return Money(amount) if currency == "VND" else Plain(f"{amount} {currency}")


class ButtonStyle(enum.StrEnum):
    NORMAL = "normal"
    CHECKED = "checked"  # a toggle that is on: rendered with a ✅ mark
    UNCHECKED = "unchecked"  # a toggle that is off: rendered with a ⬜ mark


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button. ``label`` is a Msg (translated) or Plain (catalog names).

    Exactly one of ``action`` (a callback into the engine), ``url`` or ``copy_text`` (the
    client copies that text to the clipboard; nothing reaches the bot) is set.
    """

    label: Msg | Plain
    action: str | None = None
    arg: str = ""
    url: str | None = None
    style: ButtonStyle = ButtonStyle.NORMAL
    copy_text: str | None = None


@dataclass(frozen=True, slots=True)
class PickUsers:
    """Telegram's ``request_users`` button: the user picks people (not bots) in their
    contacts; the bot gets their ids, names and usernames back with ``request_id``."""

    request_id: int
    label: Msg
    max_quantity: int = 1


@dataclass(frozen=True, slots=True)
class ReplyKeyboard:
    """A reply keyboard for a text prompt; ``share_contact`` adds Telegram's contact button,
    ``pick_users`` a button to pick people."""

    share_contact: bool = False
    suggestions: tuple[str, ...] = ()
    pick_users: PickUsers | None = None


class Delivery(enum.StrEnum):
    EDIT = "edit"  # replace the flow message in place when possible
    NEW = "new"  # send a new message (after a text reply, or at the end of a flow)


@dataclass(frozen=True, slots=True)
class Screen:
    text: Msg | Join
    buttons: tuple[tuple[Button, ...], ...] = ()
    reply_keyboard: ReplyKeyboard | None = None
    delivery: Delivery = Delivery.EDIT
    #: a URL to send as a QR code image after the message (the payment link)
    qr: str | None = None
    #: a short notice for the callback answer (toast) or prepended to a new message
    notice: Msg | Join | None = None
    #: True when the screen ends the flow: the bot removes any reply keyboard
    final: bool = False
    #: a file to send after the message, as a document: (file name, content); the message
    #: stays the flow's message
    document: tuple[str, bytes] | None = None


def notice(text: Msg | Join, *rows: tuple[Button, ...]) -> Screen:
    """A message of its own that ends the flow (a notice, a one-turn command's answer)."""
    return Screen(text, tuple(rows), delivery=Delivery.NEW, final=True)
