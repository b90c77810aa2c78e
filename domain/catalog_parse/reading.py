"""Reading a catalog document: the keys each mapping may have, code and number checks,
and the problems collected on the way (see :mod:`domain.catalog_parse`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from domain.catalog import PricingStrategy

CODE_PATTERN = re.compile(r"[A-Z0-9_-]+")
CODE_MAX_LENGTH = 64
#: the longest free trial a plan may offer (``trial_days``)
MAX_TRIAL_DAYS = 365
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")

_E = TypeVar("_E", bound=StrEnum)

_TOP_KEYS = frozenset({"services", "promotions"})
_SERVICE_KEYS = frozenset({"code", "name", "kind", "description", "plans", "addons"})
_PLAN_KEYS = frozenset(
    {
        "code",
        "name",
        "tax",
        "pricing",
        "cycles",
        "features",
        "addons",
        "setup_fee",
        "description",
        "trial_days",
        "downgrade",
    }
)
_CYCLE_KEYS = frozenset({"code", "every", "unit", "price", "tiers"})
_TIER_KEYS = frozenset({"up_to", "price"})
_ADDON_KEYS = frozenset({"code", "name", "tax", "type", "price", "unit", "description"})
_PROMOTION_KEYS = frozenset(
    {
        "code",
        "name",
        "scope",
        "percent",
        "amount",
        "max_discount",
        "applies_to",
        "starts",
        "ends",
        "min_amount",
        "quota",
        "per_customer",
        "purchases",
        "coupon_code",
    }
)
#: a coupon code is typed by customers: no blanks inside, at most this long
COUPON_MAX_LENGTH = 32
_BLANK = re.compile(r"\s")
_TIERED = frozenset({PricingStrategy.TIER, PricingStrategy.VOLUME, PricingStrategy.STAIRSTEP})


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


class _Node:
    """One mapping of the document, with its path, checked against the keys it may hold."""

    def __init__(
        self, data: Mapping[object, object], path: str, allowed: frozenset[str], p: _Problems
    ) -> None:
        self.data = data
        self.path = path
        self.p = p
        for key in data:
            if not isinstance(key, str) or key not in allowed:
                self.p.add(_join(path, str(key)), "unknown key")

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        return self.data.get(key)

    def text(self, key: str, *, required: bool = True) -> str:
        """A non-empty string, stripped; ``""`` when absent-and-optional or invalid."""
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
            return ""
        value = self.data[key]
        if not isinstance(value, str):
            self.p.add(self.at(key), f"must be text, not {_type_name(value)}")
            return ""
        value = value.strip()
        if required and not value:
            self.p.add(self.at(key), "must not be empty")
        return value

    def code(self, key: str = "code") -> str:
        """The code as written (even if malformed, for cross-references); ``""`` if not text."""
        if key not in self.data:
            self.p.add(self.at(key), "required")
            return ""
        value = self.data[key]
        if not isinstance(value, str):
            self.p.add(self.at(key), f"must be a code (text), not {_type_name(value)}")
            return ""
        _check_code(value, self.at(key), self.p)
        return value

    def integer(
        self, key: str, *, minimum: int, required: bool = True, default: int = 0
    ) -> int | None:
        """An ``int`` (never a bool, float or numeric string) ``≥ minimum``.

        Returns ``default`` when absent and optional, ``None`` when invalid.
        """
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
                return None
            return default
        return _integer(self.data[key], self.at(key), minimum, self.p)

    def optional_integer(self, key: str, *, minimum: int) -> int | None:
        if key not in self.data or self.data[key] is None:
            return None
        return _integer(self.data[key], self.at(key), minimum, self.p)

    def choice(self, key: str, enum: type[_E], *, required: bool = True) -> _E | None:
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
            return None
        return _choice(self.data[key], self.at(key), enum, self.p)

    def sequence(self, key: str, *, required: bool, non_empty: bool) -> list[object]:
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
            return []
        value = self.data[key]
        if not isinstance(value, list | tuple):
            self.p.add(self.at(key), f"must be a list, not {_type_name(value)}")
            return []
        if non_empty and not value:
            self.p.add(self.at(key), "must not be empty")
        return list(value)

    def date(self, key: str) -> dt.date | None:
        if key not in self.data or self.data[key] is None:
            return None
        value = self.data[key]
        path = self.at(key)
        if isinstance(value, dt.datetime):
            self.p.add(path, "must be a date (YYYY-MM-DD) without a time")
            return None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _DATE_PATTERN.fullmatch(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                self.p.add(path, f"{value!r} is not a valid date")
                return None
        self.p.add(path, f"must be a date (YYYY-MM-DD), not {_type_name(value)}")
        return None


def _check_code(value: str, path: str, p: _Problems) -> None:
    if not value:
        p.add(path, "must not be empty")
    elif not CODE_PATTERN.fullmatch(value):
        p.add(path, f"{value!r} must use only A-Z, 0-9, '_' and '-'")
    elif len(value) > CODE_MAX_LENGTH:
        p.add(path, f"must be at most {CODE_MAX_LENGTH} characters")


def _integer(value: object, path: str, minimum: int, p: _Problems) -> int | None:
    if not _is_int(value):
        p.add(path, f"must be a whole number, not {_type_name(value)}")
        return None
    assert isinstance(value, int)
    if value < minimum:
        p.add(path, f"must be ≥ {minimum}")
        return None
    return value


def _choice(value: object, path: str, enum: type[_E], p: _Problems) -> _E | None:
    allowed = [str(m.value) for m in enum]
    if isinstance(value, str) and value in allowed:
        return enum(value)
    p.add(path, f"must be one of {', '.join(allowed)}, not {_type_name(value)}")
    return None


def _mapping(value: object, path: str, p: _Problems) -> Mapping[object, object] | None:
    if isinstance(value, Mapping):
        return value
    p.add(path or "<root>", f"must be a mapping, not {_type_name(value)}")
    return None


class _Unique:
    """Remembers where each code was first written, to report duplicates with both places."""

    def __init__(self, what: str, p: _Problems) -> None:
        self.what = what
        self.p = p
        self.seen: dict[str, str] = {}

    def add(self, code: str, path: str) -> None:
        if not code:
            return
        first = self.seen.get(code)
        if first is None:
            self.seen[code] = path
        else:
            self.p.add(path, f"duplicate {self.what} code {code!r} (first at {first})")


def _written_codes(raw_services: list[object], key: str) -> frozenset[str]:
    """Every ``code`` string written under ``services[*].<key>[*]``, valid or not."""
    codes: set[str] = set()
    for service in raw_services:
        if not isinstance(service, Mapping):
            continue
        items = service.get(key)
        if not isinstance(items, list | tuple):
            continue
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("code"), str):
                codes.add(item["code"])
    return frozenset(codes)
