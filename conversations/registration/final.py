"""The end of the registration: the final summary (edit any section, the terms) → Thanh toán →
Xác nhận → the order, and the message that replaces the confirmation."""

from __future__ import annotations

import secrets

from conversations.kit import breakdown, copy_order_button, nav, unexpected
from conversations.payment import REPAY_ACTION
from conversations.registration.context import Ctx, Handler, StepSpec, phone_text
from conversations.registration.details import ask_field
from conversations.registration.draft import (
    CUSTOMER_FIELDS,
    INVOICE_FIELDS,
    Action,
    Section,
    Step,
)
from conversations.screens import (
    Button,
    ButtonStyle,
    Cycle,
    Delivery,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
)
from domain.catalog import ServiceKind
from domain.constants import CASH_VAT_LIMIT
from domain.errors import NotFound, PromotionNotApplicable
from domain.registration import ConfirmRequest, OrderOutcome, OrderOutcomeKind

# the final summary


def _agree_button(agreed: bool) -> Button:
    style = ButtonStyle.CHECKED if agreed else ButtonStyle.UNCHECKED
    return Button(Msg("btn.agree_terms"), action=Action.AGREE, style=style)


def price_changed_msg(pc: tuple[str, str]) -> Msg:
    reason, code = pc
    return Msg("reg.price_changed", {"reason": Msg(f"refusal.{reason}", {"code": Plain(code)})})


async def draw_final(c: Ctx) -> Screen:
    svc, plan = c.service(), c.plan()
    cycle = plan.cycle(c.d.cycle)
    assert cycle is not None
    inv, cus, ct = await c.invoice_info(), await c.customer_info(), c.contact()
    warning: Param = price_changed_msg(c.d.price_changed) if c.d.price_changed else ""
    text = Join(
        (
            warning,
            Msg("reg.final_title"),
            Msg(
                "reg.final_plan",
                {
                    "service": Plain(svc.name),
                    "kind": Msg(f"kind.{svc.kind.value}"),
                    "plan": Plain(plan.name),
                    "cycle": Cycle(cycle.every, cycle.unit.value),
                    "quantity": c.d.qty,
                },
            ),
            breakdown(c.quote()),
            Msg(
                "reg.final_invoice",
                {
                    "name": Plain(inv.company_name),
                    "tax_code": Plain(inv.tax_code),
                    "address": Plain(inv.address),
                    "email": Plain(inv.email),
                },
            ),
            Msg(
                "reg.final_customer",
                {
                    "name": Plain(cus.name),
                    "tax_code": Plain(cus.tax_code),
                    "address": Plain(cus.address or "—"),
                    "phone": Plain(phone_text(cus.phone) or "—"),
                    "email": Plain(cus.email or "—"),
                },
            ),
            Msg(
                "reg.final_contact",
                {
                    "name": Plain(ct.name),
                    "phone": Plain(phone_text(ct.phone)),
                    "email": Plain(ct.email),
                },
            ),
            Msg("reg.final_payment", {"method": Msg(f"kind.payment.{svc.kind.value}")}),
        )
    )

    def edit(label: str, section: Section) -> Button:
        return Button(Msg(label), action=Action.EDIT_SECTION, arg=section.value)

    rows = (
        (edit("btn.edit_plan", Section.PLAN), edit("btn.edit_promos", Section.PROMOTIONS)),
        (edit("btn.edit_invoice", Section.INVOICE), edit("btn.edit_customer", Section.CUSTOMER)),
        (
            edit("btn.edit_contact", Section.CONTACT),
            Button(Msg("btn.terms_view"), action=Action.TERMS),
        ),
        (_agree_button(bool(c.d.agreed)),),
        (Button(Msg("btn.pay"), action=Action.PAY),),
        nav(),
    )
    return Screen(text, rows)


async def toggle_terms(c: Ctx, arg: str) -> None:
    c.d.agreed = not c.d.agreed


async def view_terms(c: Ctx, arg: str) -> None:
    c.go(Step.TERMS)


async def pay(c: Ctx, arg: str) -> None:
    if not c.d.agreed:
        c.refuse(Msg("reg.terms_required"))
        return
    c.d.idempotency_key = secrets.token_urlsafe(12)
    c.d.total = c.quote().total
    c.go(Step.CONFIRM)


async def edit_section(c: Ctx, arg: str) -> None:
    """Reopen a section; when it is done (or left with Quay lại) the user is back here. The
    terms are agreed to again after any edit."""
    if arg not in Section.__members__.values():
        raise unexpected()
    section = Section(arg)
    c.d.agreed = None
    c.d.return_to_final = section is not Section.PLAN
    if section is Section.PLAN:
        c.go(Step.PLANS)
    elif section is Section.PROMOTIONS:
        c.go(Step.PLAN_PROMO)
    elif section is Section.INVOICE:
        ask_field(c, INVOICE_FIELDS[0])
    elif section is Section.CUSTOMER:
        ask_field(c, CUSTOMER_FIELDS[0])
    else:
        c.go(Step.CONTACT_NAME)


def _leave_final(handler: Handler) -> Handler:
    """Any press on the final summary clears the "price changed" warning above it."""

    async def wrapped(c: Ctx, arg: str) -> None:
        c.d.price_changed = None
        await handler(c, arg)

    return wrapped


# the terms


async def draw_terms(c: Ctx) -> Screen:
    svc = c.service()
    return Screen(
        Msg("reg.terms_text", {"service": Plain(svc.name)}),
        ((_agree_button(bool(c.d.agreed)),), nav()),
    )


async def agree_from_terms(c: Ctx, arg: str) -> None:
    c.d.agreed = not c.d.agreed
    c.go(Step.FINAL)


# Xác nhận


async def draw_confirm(c: Ctx) -> Screen:
    svc = c.service()
    text = Msg(
        "reg.confirm",
        {
            "total": Money(c.d.total or 0),
            "method": Msg(f"kind.payment.{svc.kind.value}"),
            "service": Plain(svc.name),
        },
    )
    return Screen(text, ((Button(Msg("btn.confirm"), action=Action.CONFIRM),), nav()))


async def confirm(c: Ctx, arg: str) -> None:
    d, t = c.d, c.t
    if d.business is None:
        raise NotFound("enterprise", code="")
    request = ConfirmRequest(
        actor_id=t.user_id,
        enterprise_id=d.business,
        selection=c.selection(),
        edits=c.edits(),
        contact=c.contact(),
        expected_total=d.total or 0,
        idempotency_key=d.idempotency_key or "",
        locale=t.lang,
        chat_id=t.chat_id,
    )
    outcome = await t.services.confirmation.confirm(request)
    if outcome.kind is OrderOutcomeKind.PRICE_CHANGED:
        _price_changed(c, outcome)
        return
    if outcome.kind is OrderOutcomeKind.REFUSED:
        c.refuse(Msg(outcome.reason or "reg.no_permission", dict(outcome.reason_params or {})))
        return
    t.done = True
    t.extra.append(result_screen(outcome))
    if c.deps.order_placed is not None:
        c.save()
        await c.deps.order_placed(t, outcome)


def _price_changed(c: Ctx, outcome: OrderOutcome) -> None:
    """Something changed since the summary: drop what no longer applies, show the new summary
    with the reason on top, and make the user agree and confirm again."""
    d = c.d
    params = outcome.reason_params or {}
    code = str(params.get("code", ""))
    if outcome.reason == PromotionNotApplicable.key and code:
        if d.plan_promo == code:
            d.plan_promo = ""
        if d.invoice_promo == code:
            d.invoice_promo = ""
        if d.addon_promos:
            d.addon_promos = {a: "" if p == code else p for a, p in d.addon_promos.items()}
    d.agreed = None
    d.idempotency_key = None
    d.price_changed = (str(params.get("reason", "changed")), code)
    c.refuse(price_changed_msg(d.price_changed))
    c.t.delivery = Delivery.NEW
    c.go(Step.FINAL)


def result_screen(outcome: OrderOutcome) -> Screen:
    """The message after Xác nhận: the payment link (ON) or registration success (OS). It
    replaces the confirmation message, so no Xác nhận button is left to press."""
    order, total = Plain(outcome.order_code), Money(outcome.total)
    if outcome.kind_of_service == ServiceKind.ON and not outcome.payment_url:
        return Screen(
            Msg("reg.pay_link_failed", {"order": order, "total": total}),
            ((Button(Msg("btn.pay_again"), action=REPAY_ACTION, arg=outcome.order_code),),),
            delivery=Delivery.EDIT,
            final=True,
        )
    if outcome.kind_of_service == ServiceKind.ON:
        return Screen(
            Msg("reg.pay_link", {"order": order, "total": total}),
            (
                (Button(Msg("btn.pay_vnptpay"), url=outcome.payment_url),),
                (copy_order_button(outcome.order_code),),
            ),
            delivery=Delivery.EDIT,
            qr=outcome.payment_url,
            final=True,
        )
    parts: list[Param] = [
        Msg(
            "reg.success_cash",
            {"subscription": Plain(outcome.subscription_code), "order": order, "total": total},
        )
    ]
    if outcome.cash_vat_warning:
        parts.append(Msg("reg.cash_vat_warning", {"limit": Money(CASH_VAT_LIMIT)}))
    return Screen(
        Join(tuple(parts)),
        ((Button(Msg("btn.manage_subscriptions"), action="subs"),),),
        delivery=Delivery.EDIT,
        final=True,
    )


STEPS: dict[Step, StepSpec] = {
    Step.FINAL: StepSpec(
        draw_final,
        {
            action: _leave_final(handler)
            for action, handler in (
                (Action.AGREE, toggle_terms),
                (Action.TERMS, view_terms),
                (Action.PAY, pay),
                (Action.EDIT_SECTION, edit_section),
            )
        },
        back=Step.CONTACT_EMAIL,
    ),
    Step.TERMS: StepSpec(draw_terms, {Action.AGREE: agree_from_terms}, back=Step.FINAL),
    Step.CONFIRM: StepSpec(draw_confirm, {Action.CONFIRM: confirm}, back=Step.FINAL),
}
