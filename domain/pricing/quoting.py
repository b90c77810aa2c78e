"""The quote of a selection: lines, promotions, spreading of the invoice discount and VAT
(rules 2 to 5 of :mod:`domain.pricing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from domain.catalog import (
    Addon,
    BillingCycle,
    Catalog,
    Plan,
    Promotion,
    PromotionScope,
    Purchase,
    Service,
    TaxCategory,
)
from domain.errors import CatalogInvalid, InvalidInput, NotFound
from domain.pricing.amounts import _plan_pricing, addon_base_amount
from domain.pricing.model import (
    _EXACT,
    InvoiceDiscount,
    LineKind,
    PromotionUsage,
    Quote,
    QuoteLine,
    Selection,
    VatGroup,
    _round,
    _round_ratio,
)
from domain.pricing.promotions import check_promotion, promotion_discount


@dataclass(frozen=True, slots=True)
class _Draft:
    kind: LineKind
    code: str
    name: str
    tax: TaxCategory
    quantity: int
    unit_price: int
    base: int
    promotion: Promotion | None


def _service(catalog: Catalog, code: str) -> Service:
    service = catalog.service(code)
    if service is None:
        raise NotFound(field="service_code", code=code, reason="unknown")
    if not service.active:
        raise NotFound(field="service_code", code=code, reason="inactive")
    return service


def _plan(service: Service, code: str) -> Plan:
    plan = service.plan(code)
    if plan is None:
        raise NotFound(field="plan_code", code=code, reason="unknown")
    if not plan.active:
        raise NotFound(field="plan_code", code=code, reason="inactive")
    return plan


def _cycle(plan: Plan, code: str) -> BillingCycle:
    cycle = plan.cycle(code)
    if cycle is None:
        raise NotFound(field="cycle_code", code=code, reason="unknown")
    return cycle


def _duplicate(codes: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            return code
        seen.add(code)
    return None


def _addons(service: Service, plan: Plan, selection: Selection) -> list[Addon]:
    """The ticked add-ons, in the plan's order (so the tick order never changes a quote)."""
    dup = _duplicate(selection.addon_codes)
    if dup is not None:
        raise InvalidInput(field="addon_codes", reason="duplicate", code=dup)
    for code in selection.addon_codes:
        addon = service.addon(code)
        if addon is None:
            raise NotFound(field="addon_codes", code=code, reason="unknown")
        if code not in plan.addons:
            raise InvalidInput(field="addon_codes", reason="not_allowed", code=code)
        if not addon.active:
            raise NotFound(field="addon_codes", code=code, reason="inactive")
    ticked = set(selection.addon_codes)
    ordered = [c for c in dict.fromkeys(plan.addons) if c in ticked]
    return [a for a in (service.addon(c) for c in ordered) if a is not None]


def _promotion(
    catalog: Catalog,
    code: str,
    *,
    field_name: str,
    scope: PromotionScope,
    target_code: str,
    amount: int,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> Promotion:
    promo = catalog.promotion(code)
    if promo is None:
        raise NotFound(field=field_name, code=code, reason="unknown")
    check_promotion(
        promo,
        scope=scope,
        target_code=target_code,
        amount=amount,
        today=today,
        usage=usage,
        purchase=purchase,
    )
    return promo


def _spread(amounts: Sequence[int], total: int) -> list[int]:
    """Splits ``total`` (0 ≤ total ≤ sum(amounts)) over ``amounts`` pro rata: each part is its
    exact share rounded half-up; the leftover goes to the largest amount (first on a tie), then
    to the next largest ones, keeping every part within ``[0, amount]``."""
    whole = sum(amounts)
    if whole == 0:
        return [0 for _ in amounts]
    parts = [_round_ratio(a * total, whole) for a in amounts]
    leftover = total - sum(parts)
    for i in sorted(range(len(amounts)), key=lambda i: (-amounts[i], i)):
        if leftover == 0:
            break
        room = amounts[i] - parts[i] if leftover > 0 else -parts[i]
        step = min(room, leftover) if leftover > 0 else max(room, leftover)
        parts[i] += step
        leftover -= step
    return parts


def _vat_groups(lines: Sequence[tuple[TaxCategory, int]]) -> tuple[VatGroup, ...]:
    bases: dict[TaxCategory, int] = {}
    for tax, net in lines:
        bases[tax] = bases.get(tax, 0) + net
    with localcontext(_EXACT):
        return tuple(
            VatGroup(tax, bases[tax], _round(Decimal(bases[tax]) * tax.rate))
            for tax in TaxCategory
            if tax in bases
        )


def quote(
    catalog: Catalog,
    selection: Selection,
    *,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> Quote:
    """Prices ``selection`` on ``today`` (Asia/Ho_Chi_Minh date) as described in the module
    docstring. Lines: the plan, its setup fee (if any), then the ticked add-ons in the plan's
    order. A renewal (``purchase``) has no setup line and takes only renewal promotions.

    Raises ``NotFound`` (``field`` = ``service_code``, ``plan_code``, ``cycle_code``,
    ``addon_codes``, ``plan_promotion``, ``addon_promotions`` or ``invoice_promotions``;
    ``reason`` ``unknown`` or ``inactive``), ``InvalidInput`` (``quantity``: ``below_minimum``,
    ``fixed``, ``above_maximum``; ``addon_codes``: ``duplicate``, ``not_allowed``;
    ``addon_promotions``: ``addon_not_selected``, ``duplicate``; ``invoice_promotions``:
    ``duplicate``) or ``PromotionNotApplicable`` for a promotion that cannot be used.
    """
    service = _service(catalog, selection.service_code)
    plan = _plan(service, selection.plan_code)
    cycle = _cycle(plan, selection.cycle_code)
    unit_price, plan_base = _plan_pricing(plan, cycle, selection.quantity)
    addons = _addons(service, plan, selection)

    dup = _duplicate(a for a, _ in selection.addon_promotions)
    if dup is not None:
        raise InvalidInput(field="addon_promotions", reason="duplicate", code=dup)
    for addon_code, _ in selection.addon_promotions:
        if addon_code not in selection.addon_codes:
            raise InvalidInput(
                field="addon_promotions", reason="addon_not_selected", code=addon_code
            )
    dup = _duplicate(selection.invoice_promotions)
    if dup is not None:
        raise InvalidInput(field="invoice_promotions", reason="duplicate", code=dup)

    def promo(
        code: str | None, field_name: str, scope: PromotionScope, target: str, base: int
    ) -> Promotion | None:
        if code is None:
            return None
        return _promotion(
            catalog,
            code,
            field_name=field_name,
            scope=scope,
            target_code=target,
            amount=base,
            today=today,
            usage=usage,
            purchase=purchase,
        )

    drafts = [
        _Draft(
            LineKind.PLAN,
            plan.code,
            plan.name,
            plan.tax,
            selection.quantity,
            unit_price,
            plan_base,
            promo(
                selection.plan_promotion,
                "plan_promotion",
                PromotionScope.PLAN,
                plan.code,
                plan_base,
            ),
        )
    ]
    if plan.setup_fee and purchase is Purchase.NEW:
        if plan.setup_fee < 0:
            raise CatalogInvalid([(f"{plan.code}.setup_fee", "must be ≥ 0")])
        drafts.append(
            _Draft(
                LineKind.SETUP,
                plan.code,
                plan.name,
                plan.tax,
                1,
                plan.setup_fee,
                plan.setup_fee,
                None,
            )
        )
    for addon in addons:
        base = addon_base_amount(addon, cycle)
        drafts.append(
            _Draft(
                LineKind.ADDON,
                addon.code,
                addon.name,
                addon.tax,
                1,
                addon.price,
                base,
                promo(
                    selection.addon_promotion(addon.code),
                    "addon_promotions",
                    PromotionScope.ADDON,
                    addon.code,
                    base,
                ),
            )
        )

    with localcontext(_EXACT):
        after_line = [
            d.base
            if d.promotion is None
            else _round(d.base - promotion_discount(d.promotion, d.base))
            for d in drafts
        ]
        discounted_subtotal = sum(after_line)
        invoice_promos = [
            _promotion(
                catalog,
                code,
                field_name="invoice_promotions",
                scope=PromotionScope.INVOICE,
                target_code=plan.code,
                amount=discounted_subtotal,
                today=today,
                usage=usage,
                purchase=purchase,
            )
            for code in selection.invoice_promotions
        ]
        running = Decimal(discounted_subtotal)
        shown = discounted_subtotal
        invoice_discounts: list[InvoiceDiscount] = []
        for p in invoice_promos:
            running -= promotion_discount(p, running)
            rounded = _round(running)
            invoice_discounts.append(InvoiceDiscount(p.code, shown - rounded))
            shown = rounded
    nets = _spread(after_line, shown)

    lines = tuple(
        QuoteLine(
            kind=d.kind,
            code=d.code,
            name=d.name,
            tax=d.tax,
            quantity=d.quantity,
            unit_price=d.unit_price,
            base_amount=d.base,
            promotion_code=None if d.promotion is None else d.promotion.code,
            line_discount=d.base - after,
            invoice_discount=after - net,
            net_amount=net,
        )
        for d, after, net in zip(drafts, after_line, nets, strict=True)
    )
    return Quote(
        lines=lines,
        invoice_discounts=tuple(invoice_discounts),
        vat_groups=_vat_groups([(line.tax, line.net_amount) for line in lines]),
    )
