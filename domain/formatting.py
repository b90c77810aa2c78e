"""How amounts, dates and billing cycles are written for people, in Vietnamese and English.

The contract fixes the money display to ``1.800.000 ₫`` (dot thousands separator, a no-break
space U+00A0, then ``₫``) in *both* languages: Babel's English pattern (``₫1,800,000``) is not
used. Dates are ``dd/mm/yyyy`` (and ``dd/mm/yyyy HH:MM``) in Asia/Ho_Chi_Minh in both languages.

A locale is ``"vi"`` or ``"en"``; a Telegram-style tag such as ``"en-US"`` counts by its primary
subtag, and anything that is not English is shown in Vietnamese, the default language.
"""

from __future__ import annotations

import datetime as dt
import re

from domain.constants import VN_TZ
from domain.errors import InvalidInput

__all__ = [
    "format_cycle",
    "format_date",
    "format_datetime",
    "format_money",
    "parse_money",
]

NBSP = "\u00a0"
CURRENCY_SIGN = "₫"

_UNIT_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "vi": {
        "day": ("ngày", "ngày"),
        "week": ("tuần", "tuần"),
        "month": ("tháng", "tháng"),
        "year": ("năm", "năm"),
    },
    "en": {
        "day": ("day", "days"),
        "week": ("week", "weeks"),
        "month": ("month", "months"),
        "year": ("year", "years"),
    },
}

_CURRENCY_AFFIX = r"(?:₫|đ|vnđ|vnd|d)"
_MONEY = re.compile(
    rf"(?:{_CURRENCY_AFFIX}\s*)?(?P<number>\d+(?:[.,\s]\d{{3}})*)(?:\s*{_CURRENCY_AFFIX})?",
    re.IGNORECASE,
)
_EXAMPLE_MONEY = "1.800.000"


def _language(locale: str) -> str:
    return "en" if locale.replace("_", "-").split("-")[0].lower() == "en" else "vi"


def format_money(amount: int, locale: str = "vi") -> str:
    """``1800000`` → ``1.800.000 ₫`` (with U+00A0) whatever the locale; negatives get ``-``."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money is an int of đồng, not {type(amount).__name__}")
    grouped = f"{abs(amount):,}".replace(",", ".")
    sign = "-" if amount < 0 else ""
    return f"{sign}{grouped}{NBSP}{CURRENCY_SIGN}"


def parse_money(text: str) -> int:
    """An amount a person typed, in whole đồng.

    Accepts ``1.800.000``, ``1,800,000``, ``1800000đ``, ``1 800 000 VND``, ``1.800.000 ₫`` and
    ``₫1,800,000``. A separator must be followed by exactly three digits (``1.8`` is refused:
    VND has no decimals). Raises :class:`InvalidInput` with reason ``money.format``.
    """
    value = text.replace(NBSP, " ").replace("\u202f", " ").strip()
    match = _MONEY.fullmatch(value)
    if match is None:
        raise InvalidInput(
            "amount: money.format", field="amount", reason="money.format", example=_EXAMPLE_MONEY
        )
    return int(re.sub(r"[.,\s]", "", match.group("number")))


def _local(moment: dt.datetime) -> dt.datetime:
    """Aware datetimes are converted; naive ones are taken as UTC (how times are stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN_TZ)


def format_date(d: dt.date | dt.datetime, locale: str = "vi") -> str:
    """``dd/mm/yyyy``; a datetime is first converted to Asia/Ho_Chi_Minh."""
    if isinstance(d, dt.datetime):
        d = _local(d).date()
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def format_datetime(moment: dt.datetime, locale: str = "vi") -> str:
    """``dd/mm/yyyy HH:MM`` in Asia/Ho_Chi_Minh."""
    local = _local(moment)
    return f"{format_date(local.date(), locale)} {local.hour:02d}:{local.minute:02d}"


def format_cycle(every: int, unit: str, locale: str = "vi") -> str:
    """``(12, "month")`` → ``12 tháng`` / ``12 months``; ``unit`` is a PeriodUnit or its value."""
    words = _UNIT_WORDS[_language(locale)].get(str(unit))
    if words is None:
        raise ValueError(f"unknown period unit {unit!r}")
    singular, plural = words
    return f"{every} {singular if every == 1 else plural}"
