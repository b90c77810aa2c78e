"""Promotions: scope, amount, window, quota, purchases, coupon code and what they apply to."""

from __future__ import annotations

from decimal import Decimal

from domain.catalog import Promotion, PromotionScope, Purchase, coupon_key
from domain.catalog_parse.reading import (
    _BLANK,
    _PROMOTION_KEYS,
    COUPON_MAX_LENGTH,
    _integer,
    _mapping,
    _Node,
    _Problems,
    _type_name,
    _Unique,
)


def _percent(value: object, path: str, p: _Problems) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        p.add(path, f"must be a number, not {_type_name(value)}")
        return None
    percent = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not percent.is_finite() or not Decimal(0) < percent <= Decimal(100):
        p.add(path, "must be > 0 and ≤ 100")
        return None
    return percent


def _promotion(
    raw: object,
    path: str,
    unique: tuple[_Unique, _Unique],
    plan_codes: frozenset[str],
    addon_codes: frozenset[str],
    p: _Problems,
) -> Promotion | None:
    """``unique``: the promotion codes and the coupon codes (case-folded) seen so far."""
    data = _mapping(raw, path, p)
    if data is None:
        return None
    promotion_codes, coupon_codes = unique
    n = _Node(data, path, _PROMOTION_KEYS, p)
    code = n.code()
    promotion_codes.add(code, n.at("code"))
    coupon_code = _coupon_code(n, coupon_codes, p)
    name = n.text("name")
    scope = n.choice("scope", PromotionScope)

    has_percent = n.has("percent") and n.raw("percent") is not None
    has_amount = n.has("amount") and n.raw("amount") is not None
    percent: Decimal | None = None
    amount: int | None = None
    max_discount: int | None = None
    bad_value = False
    if has_percent and has_amount:
        p.add(path, "give either percent or amount, not both")
        bad_value = True
    elif not has_percent and not has_amount:
        p.add(path, "needs percent or amount")
        bad_value = True
    if has_percent:
        percent = _percent(n.raw("percent"), n.at("percent"), p)
        bad_value = bad_value or percent is None
    if has_amount:
        amount = _integer(n.raw("amount"), n.at("amount"), 1, p)
        bad_value = bad_value or amount is None
    if n.has("max_discount") and n.raw("max_discount") is not None:
        if has_percent:
            max_discount = _integer(n.raw("max_discount"), n.at("max_discount"), 1, p)
        else:
            p.add(n.at("max_discount"), "only used with percent")

    applies_to = _applies_to(n, scope, plan_codes, addon_codes, p)
    starts = n.date("starts")
    ends = n.date("ends")
    if starts is not None and ends is not None and ends < starts:
        p.add(n.at("ends"), f"must not be before starts ({starts.isoformat()})")
    min_amount = n.integer("min_amount", minimum=0, required=False)
    quota = n.optional_integer("quota", minimum=0)
    per_customer = n.optional_integer("per_customer", minimum=0)
    purchases = _purchases(n, p)

    if scope is None or bad_value or min_amount is None:
        return None
    return Promotion(
        code=code,
        name=name,
        scope=scope,
        percent=percent,
        amount=amount,
        max_discount=max_discount,
        applies_to=applies_to,
        starts=starts,
        ends=ends,
        min_amount=min_amount,
        quota=quota,
        per_customer=per_customer,
        purchases=purchases,
        coupon_code=coupon_code,
    )


def _purchases(n: _Node, p: _Problems) -> tuple[Purchase, ...]:
    """``purchases: [new, renewal]``: what the promotion discounts (default: new only)."""
    if not n.has("purchases") or n.raw("purchases") is None:
        return (Purchase.NEW,)
    raw = n.sequence("purchases", required=False, non_empty=False)
    if isinstance(n.raw("purchases"), list | tuple) and not raw:
        p.add(n.at("purchases"), "must not be empty (omit it for new registrations only)")
        return (Purchase.NEW,)
    allowed = ", ".join(k.value for k in Purchase)
    chosen: list[Purchase] = []
    for i, value in enumerate(raw):
        at = n.at(f"purchases[{i}]")
        if not isinstance(value, str) or value not in {k.value for k in Purchase}:
            p.add(at, f"must be one of {allowed}, not {value!r}")
        elif Purchase(value) in chosen:
            p.add(at, f"{value!r} is listed twice")
        else:
            chosen.append(Purchase(value))
    return tuple(chosen) or (Purchase.NEW,)


def _coupon_code(n: _Node, coupon_codes: _Unique, p: _Problems) -> str | None:
    """The optional ``coupon_code``: text, no blanks, unique case-insensitively."""
    if not n.has("coupon_code") or n.raw("coupon_code") is None:
        return None
    at = n.at("coupon_code")
    value = n.raw("coupon_code")
    if not isinstance(value, str):
        p.add(at, f"must be text, not {_type_name(value)}")
        return None
    if not value.strip():
        p.add(at, "must not be empty")
        return None
    if _BLANK.search(value):
        p.add(at, f"{value!r} must not contain spaces")
        return None
    if len(value) > COUPON_MAX_LENGTH:
        p.add(at, f"must be at most {COUPON_MAX_LENGTH} characters")
        return None
    coupon_codes.add(coupon_key(value), at)
    return value


def _applies_to(
    n: _Node,
    scope: PromotionScope | None,
    plan_codes: frozenset[str],
    addon_codes: frozenset[str],
    p: _Problems,
) -> tuple[str, ...] | None:
    if not n.has("applies_to") or n.raw("applies_to") is None:
        return None
    if scope is PromotionScope.INVOICE:
        p.add(n.at("applies_to"), "not used with scope invoice (it applies to the whole invoice)")
        return None
    raw = n.sequence("applies_to", required=False, non_empty=False)
    if isinstance(n.raw("applies_to"), list | tuple) and not raw:
        p.add(n.at("applies_to"), "must not be empty (omit it to apply to all)")
    known: frozenset[str] | None
    what: str
    if scope is PromotionScope.PLAN:
        known, what = plan_codes, "plan"
    elif scope is PromotionScope.ADDON:
        known, what = addon_codes, "add-on"
    else:
        known, what = None, ""
    codes: list[str] = []
    for i, code in enumerate(raw):
        at = n.at(f"applies_to[{i}]")
        if not isinstance(code, str):
            p.add(at, f"must be a code (text), not {_type_name(code)}")
        elif known is not None and code not in known:
            p.add(at, f"unknown {what} {code!r}: no {what} in this file has that code")
        elif code in codes:
            p.add(at, f"{code!r} is listed twice")
        else:
            codes.append(code)
    return tuple(codes)
