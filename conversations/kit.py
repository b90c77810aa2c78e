"""What every flow draws the same way: navigation rows, the refusal of an unexpected button,
the notice after a rejected typed value, and the price breakdown of a quote."""

from __future__ import annotations

from conversations.screens import Button, Day, Join, Money, Msg, Param, Plain
from domain.catalog import Catalog, PromotionScope
from domain.constants import MAX_FAILURES
from domain.errors import InvalidInput, PromotionNotApplicable
from domain.pricing import UNKNOWN_COUPON, PromotionRefusal, Quote
from domain.proration import CHARGE_CODE, CREDIT_CODE

#: the deductions of a change's settlement invoice (docs/proration.md), by their code
CHANGE_DEDUCTIONS = {CREDIT_CODE: "chg.quote.credit", CHARGE_CODE: "chg.quote.charge"}


def nav(*, back: bool = True) -> tuple[Button, ...]:
    """The last row of a flow screen: Quay lại (unless the step is the first) and Hủy."""
    row = [Button(Msg("btn.back"), action="back")] if back else []
    row.append(Button(Msg("btn.cancel"), action="cancel"))
    return tuple(row)


def unexpected() -> InvalidInput:
    """A button this step does not offer (forged, or from a screen of another flow)."""
    return InvalidInput("unexpected", field="button", reason="button.unexpected")


def retry_notice(
    exc: InvalidInput,
    failures: int,
    *,
    key: str = "invalid.retry",
    prefix: str = "invalid",
    blank: str = "",
) -> Msg:
    """Why a typed value was refused, with an example; after MAX_FAILURES in a row, also the
    way out (Hủy or /cancel). ``failures`` counts this refusal."""
    notice = Msg(
        key,
        {
            "reason": Msg(
                f"{prefix}.{exc.params.get('reason', 'generic')}",
                {"max_len": int(exc.params.get("max_len", 0) or 0)},
            ),
            "example": Plain(str(exc.params.get("example", "")) or blank),
        },
    )
    if failures >= MAX_FAILURES:
        return Msg("invalid.too_many", {"first": notice})
    return notice


def breakdown(q: Quote) -> Join:
    """Every line of a quote, its discounts, the invoice discounts, VAT per rate and the
    totals: the same text on the checkout summaries and on a subscription's details."""
    parts: list[Param] = []
    for line in q.lines:
        parts.append(
            Msg(
                f"quote.line.{line.kind}",
                {
                    "name": Plain(line.name),
                    "quantity": line.quantity,
                    "amount": Money(line.base_amount),
                    "tax": Plain(line.tax.value),
                },
            )
        )
        if line.line_discount:
            parts.append(
                Msg(
                    "quote.line_discount",
                    {
                        "promotion": Plain(line.promotion_code or ""),
                        "amount": Money(line.line_discount),
                    },
                )
            )
    parts.append(Msg("quote.subtotal", {"amount": Money(q.subtotal - q.line_discount_total)}))
    for code, amount in q.invoice_discounts:
        key = CHANGE_DEDUCTIONS.get(code, "quote.invoice_discount")  # Đổi gói: not a promotion
        parts.append(Msg(key, {"promotion": Plain(code), "amount": Money(amount)}))
    parts.append(Msg("quote.net_total", {"amount": Money(q.net_total)}))
    for tax, base, vat in q.vat_groups:
        key = "quote.vat_kct" if tax.value == "KCT" else "quote.vat"
        values: dict[str, Param] = {
            "rate": Plain(tax.value),
            "base": Money(base),
            "amount": Money(vat),
        }
        parts.append(Msg(key, values))
    parts.append(Msg("quote.total", {"amount": Money(q.total)}))
    return Join(tuple(parts))


def copy_order_button(order_code: str) -> Button:
    """Copies the order code (the payment reference) to the clipboard: Telegram's
    ``copy_text`` button, nothing is sent to the bot."""
    return Button(Msg("btn.copy_order", {"order": Plain(order_code)}), copy_text=order_code)


#: the reasons a typed coupon code is refused with their own text (``reg.coupon.<reason>``; an
#: inactive promotion reads as an unknown code)
COUPON_REFUSALS = frozenset({UNKNOWN_COUPON, *(r.value for r in PromotionRefusal)}) - {
    PromotionRefusal.INACTIVE.value
}


def coupon_refusal(
    catalog: Catalog, refused: PromotionNotApplicable, shown: Plain, scope: PromotionScope
) -> Msg:
    """Why a typed coupon code cannot be used here, in words (registration and renewal)."""
    promo = catalog.promotion(refused.code)
    reason = refused.reason
    params: dict[str, Param] = {"code": shown}
    if reason == PromotionRefusal.WRONG_SCOPE and promo is not None:
        params["scope"] = Msg(f"reg.coupon.scope.{promo.scope.value}")
    elif reason == PromotionRefusal.NOT_STARTED and promo is not None and promo.starts:
        params["date"] = Day(promo.starts)
    elif reason == PromotionRefusal.EXPIRED and promo is not None and promo.ends:
        params["date"] = Day(promo.ends)
    elif reason == PromotionRefusal.BELOW_MINIMUM and promo is not None:
        params["amount"] = Money(promo.min_amount)
    elif reason == PromotionRefusal.NOT_FOR_TARGET:
        params["target"] = Msg(f"reg.coupon.target.{scope.value}")
    if reason not in COUPON_REFUSALS:
        reason = UNKNOWN_COUPON
    return Msg(f"reg.coupon.{reason}", params)
