"""What a quote is made of: the selection priced, its lines, invoice discounts and VAT
groups, and the snapshot an order keeps (see :mod:`domain.pricing` for the rules).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from types import MappingProxyType
from typing import NamedTuple

from domain.catalog import TaxCategory

#: Exact arithmetic: an operation that would have to round raises instead of rounding silently.
_EXACT = Context(
    prec=200,
    rounding=ROUND_HALF_UP,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
_HUNDRED = Decimal(100)
_SNAPSHOT_VERSION = 1


class PromotionRefusal(enum.StrEnum):
    """Why a promotion cannot be used: the ``reason`` of :class:`PromotionNotApplicable`."""

    INACTIVE = "inactive"
    WRONG_SCOPE = "wrong_scope"
    NOT_FOR_PURCHASE = "not_for_purchase"  # e.g. a new-registration promotion on a renewal
    NOT_FOR_TARGET = "not_for_target"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    BELOW_MINIMUM = "below_minimum"
    QUOTA_EXHAUSTED = "quota_exhausted"
    CUSTOMER_LIMIT_REACHED = "customer_limit_reached"


class LineKind(enum.StrEnum):
    """What a quote line bills: the plan, its one-off setup fee, or an add-on."""

    PLAN = "plan"
    ADDON = "addon"
    SETUP = "setup"


@dataclass(frozen=True, slots=True)
class Selection:
    """What a customer picked. Validated by :func:`quote`, not on construction, so that a
    conversation can hold a half-made or stale selection and get a named error at quote time.

    ``addon_promotions`` maps an add-on code to a promotion code as pairs (hashable);
    ``invoice_promotions`` apply in the order given.
    """

    service_code: str
    plan_code: str
    cycle_code: str
    quantity: int = 1
    addon_codes: tuple[str, ...] = ()
    plan_promotion: str | None = None
    addon_promotions: tuple[tuple[str, str], ...] = ()
    invoice_promotions: tuple[str, ...] = ()

    def addon_promotion(self, addon_code: str) -> str | None:
        return next((p for a, p in self.addon_promotions if a == addon_code), None)

    @property
    def promotion_codes(self) -> tuple[str, ...]:
        """Every promotion code the selection uses, once each, sorted: an order counts one use
        of each code however many lines it is on."""
        codes = {c for c in (self.plan_promotion,) if c is not None}
        codes.update(p for _, p in self.addon_promotions)
        codes.update(self.invoice_promotions)
        return tuple(sorted(codes))


@dataclass(frozen=True, slots=True)
class PromotionUsage:
    """How often promotions were used: in total, and by the enterprise being quoted.

    The mappings are copied into read-only views; a missing code counts 0.
    """

    total: Mapping[str, int] = field(default_factory=dict)
    by_customer: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", MappingProxyType(dict(self.total)))
        object.__setattr__(self, "by_customer", MappingProxyType(dict(self.by_customer)))

    def total_uses(self, code: str) -> int:
        return self.total.get(code, 0)

    def customer_uses(self, code: str) -> int:
        return self.by_customer.get(code, 0)


NO_USAGE = PromotionUsage()


class InvoiceDiscount(NamedTuple):
    promotion_code: str
    amount: int


class VatGroup(NamedTuple):
    tax: TaxCategory
    base: int
    vat: int


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One line of a quote.

    ``unit_price`` is the catalog price the line is built from: the cycle price (flat, unit),
    the price of the tier the quantity reaches (tier, volume, stairstep; for stairstep it is the
    flat amount of that step), the add-on's price (per its unit for a periodic add-on), or the
    setup fee. ``base_amount`` is authoritative; it equals ``unit_price × quantity`` for flat,
    unit and volume pricing, once add-ons and setup lines.
    Invariant: ``net_amount = base_amount − line_discount − invoice_discount``, all ≥ 0.
    """

    kind: LineKind
    code: str
    name: str
    tax: TaxCategory
    quantity: int
    unit_price: int
    base_amount: int
    promotion_code: str | None
    line_discount: int
    invoice_discount: int
    net_amount: int

    def __post_init__(self) -> None:
        amounts = (
            self.quantity,
            self.unit_price,
            self.base_amount,
            self.line_discount,
            self.invoice_discount,
            self.net_amount,
        )
        if any(a < 0 for a in amounts):
            raise ValueError(f"quote line {self.code}: negative amount")
        if self.net_amount != self.base_amount - self.line_discount - self.invoice_discount:
            raise ValueError(f"quote line {self.code}: net ≠ base − discounts")
        if self.promotion_code is None and self.line_discount:
            raise ValueError(f"quote line {self.code}: line discount without a promotion")


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of a selection; stored with orders as :meth:`to_dict`.

    The totals are computed from the lines and checked against ``invoice_discounts`` and
    ``vat_groups`` on construction, so an inconsistent snapshot cannot be built or read back.
    """

    lines: tuple[QuoteLine, ...]
    invoice_discounts: tuple[InvoiceDiscount, ...]
    vat_groups: tuple[VatGroup, ...]
    subtotal: int = field(init=False)
    line_discount_total: int = field(init=False)
    invoice_discount_total: int = field(init=False)
    net_total: int = field(init=False)
    vat_total: int = field(init=False)
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(
            self, "invoice_discounts", tuple(InvoiceDiscount(*d) for d in self.invoice_discounts)
        )
        object.__setattr__(self, "vat_groups", tuple(VatGroup(*g) for g in self.vat_groups))
        subtotal = sum(line.base_amount for line in self.lines)
        line_discounts = sum(line.line_discount for line in self.lines)
        invoice_discount = sum(line.invoice_discount for line in self.lines)
        net = sum(line.net_amount for line in self.lines)
        vat = sum(g.vat for g in self.vat_groups)
        if sum(d.amount for d in self.invoice_discounts) != invoice_discount:
            raise ValueError("quote: invoice discounts do not add up to the spread discount")
        if any(d.amount < 0 for d in self.invoice_discounts):
            raise ValueError("quote: negative invoice discount")
        bases: dict[TaxCategory, int] = {}
        for line in self.lines:
            bases[line.tax] = bases.get(line.tax, 0) + line.net_amount
        if {g.tax: g.base for g in self.vat_groups} != bases or len(self.vat_groups) != len(bases):
            raise ValueError("quote: VAT group bases do not match the lines")
        if any(g.vat < 0 for g in self.vat_groups):
            raise ValueError("quote: negative VAT")
        object.__setattr__(self, "subtotal", subtotal)
        object.__setattr__(self, "line_discount_total", line_discounts)
        object.__setattr__(self, "invoice_discount_total", invoice_discount)
        object.__setattr__(self, "net_total", net)
        object.__setattr__(self, "vat_total", vat)
        object.__setattr__(self, "total", net + vat)

    @property
    def discounted_subtotal(self) -> int:
        """The subtotal after line discounts: what invoice promotions apply to."""
        return self.subtotal - self.line_discount_total

    def to_dict(self) -> dict[str, object]:
        """A compact JSON-safe snapshot (ints, strings and lists only).

        Lines are positional lists: ``[kind, code, name, tax, quantity, unit_price, base_amount,
        promotion_code or "", line_discount, invoice_discount, net_amount]``; invoice discounts
        ``[code, amount]``; VAT groups ``[tax, base, vat]``. Totals are derived on reading.
        """
        return {
            "v": _SNAPSHOT_VERSION,
            "lines": [
                [
                    line.kind.value,
                    line.code,
                    line.name,
                    line.tax.value,
                    line.quantity,
                    line.unit_price,
                    line.base_amount,
                    line.promotion_code or "",
                    line.line_discount,
                    line.invoice_discount,
                    line.net_amount,
                ]
                for line in self.lines
            ],
            "invoice_discounts": [[d.promotion_code, d.amount] for d in self.invoice_discounts],
            "vat_groups": [[g.tax.value, g.base, g.vat] for g in self.vat_groups],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Quote:
        """Reads a :meth:`to_dict` snapshot back; ``ValueError`` if it is malformed or its
        amounts do not add up."""
        if _int(data.get("v")) != _SNAPSHOT_VERSION:
            raise ValueError(f"quote snapshot: unsupported version {data.get('v')!r}")
        try:
            lines = tuple(_line_from_list(_list(row, 11)) for row in _list(data.get("lines")))
            discounts = tuple(
                InvoiceDiscount(_str(r[0]), _int(r[1]))
                for r in (_list(row, 2) for row in _list(data.get("invoice_discounts")))
            )
            groups = tuple(
                VatGroup(TaxCategory(_str(r[0])), _int(r[1]), _int(r[2]))
                for r in (_list(row, 3) for row in _list(data.get("vat_groups")))
            )
        except (KeyError, IndexError) as exc:
            raise ValueError(f"quote snapshot: malformed ({exc})") from exc
        return cls(lines=lines, invoice_discounts=discounts, vat_groups=groups)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"quote snapshot: expected an integer, got {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"quote snapshot: expected a string, got {value!r}")
    return value


def _list(value: object, length: int | None = None) -> list[object]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise ValueError(f"quote snapshot: expected a list, got {value!r}")
    return value


def _line_from_list(row: list[object]) -> QuoteLine:
    promotion = _str(row[7])
    return QuoteLine(
        kind=LineKind(_str(row[0])),
        code=_str(row[1]),
        name=_str(row[2]),
        tax=TaxCategory(_str(row[3])),
        quantity=_int(row[4]),
        unit_price=_int(row[5]),
        base_amount=_int(row[6]),
        promotion_code=promotion or None,
        line_discount=_int(row[8]),
        invoice_discount=_int(row[9]),
        net_amount=_int(row[10]),
    )


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _round_ratio(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up, exactly; both ≥ 0, denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)
