"""**Đổi gói** and **Thanh toán** of a trial, from a subscription's overview.

editor (plan, cycle, quantity, add-ons as buttons) → **Xem chi phí** (the preview: days, the
credit for the unused part, the new lines, VAT and what is paid, credited or scheduled) →
**Xác nhận** → the outcome (the VNPT Pay link for ON, the cash note for OS, the credit memo,
the change applied or scheduled). The rule: ``docs/proration.md``.

Every button arg (a plan, cycle or add-on code) is checked against the catalog here, and the
use cases check the presser's rights and recompute the amount at **Xác nhận** (a preview gone
stale gives a new preview, never a different charge). The draft holds the target and the
preview's amount only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Protocol

from conversations.kit import unexpected
from conversations.manage import detail
from conversations.manage.context import Ctx, StepSpec
from conversations.manage.draft import Action, ChangeDraft, Step, Tab
from conversations.payment import REPAY_ACTION
from conversations.screens import Button, Cycle, Day, Join, Money, Msg, Param, Plain, Screen
from domain.catalog import Plan, Service
from domain.constants import MAX_QUANTITY
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.proration import ProratedLine, Settlement
from domain.usecases.changes.change import (
    ChangeOutcome,
    ChangeOutcomeKind,
    ChangePreview,
    ChangeRefused,
    ChangeRequest,
    ConfirmChangeRequest,
)
from domain.usecases.changes.common import ChangeTarget, may_change
from domain.usecases.changes.trials import PayTrialRequest


class _Preview(Protocol):
    async def __call__(self, req: ChangeRequest, /) -> ChangePreview: ...


class _Confirm(Protocol):
    async def __call__(self, req: ConfirmChangeRequest, /) -> ChangeOutcome: ...


class _PayTrial(Protocol):
    async def __call__(self, req: PayTrialRequest, /) -> ChangeOutcome: ...


@dataclass(frozen=True, slots=True)
class ChangeBackend:
    """The use cases of :mod:`domain.usecases.changes` this flow calls."""

    preview: _Preview
    confirm: _Confirm
    pay_trial: _PayTrial


def _backend(c: Ctx) -> ChangeBackend:
    backend = getattr(c.backend, "changes", None)
    if not isinstance(backend, ChangeBackend):
        raise unexpected()
    return backend


def _draft(c: Ctx) -> ChangeDraft:
    if c.d.change is None or not c.d.change.plan:
        raise unexpected()
    return c.d.change


def _service(c: Ctx, code: str) -> Service:
    service = c.t.catalog.service(code)
    if service is None:
        raise unexpected()
    return service


def _target(d: ChangeDraft) -> ChangeTarget:
    return ChangeTarget(d.plan, d.cycle, d.quantity, d.addons)


# entering and editing


async def start_change(c: Ctx, arg: str) -> None:
    """**Đổi gói**: the editor, starting from what the subscription holds."""
    view = await c.backend.overview(c.tab_request())
    sub = view.subscription
    if not may_change(view.rights):
        raise PermissionDenied("only owners and staff change a subscription")
    c.d.change = ChangeDraft(sub.plan_code, sub.cycle_code, sub.quantity, tuple(sub.addon_codes))
    c.d.step = Step.CHANGE


async def _subscription(c: Ctx) -> tuple[Service, Plan]:
    view = await c.backend.overview(c.tab_request())
    service = _service(c, view.subscription.service_code)
    plan = service.plan(_draft(c).plan)
    if plan is None:
        raise unexpected()
    return service, plan


async def pick_plan(c: Ctx, arg: str) -> None:
    d = _draft(c)
    view = await c.backend.overview(c.tab_request())
    service = _service(c, view.subscription.service_code)
    plan = service.plan(arg)
    if plan is None or not plan.active:
        raise unexpected()
    cycle = plan.cycle(d.cycle) or plan.cycles[0]
    quantity = d.quantity if plan.pricing.uses_quantity else 1
    addons = tuple(a for a in d.addons if a in plan.addons)
    c.d.change = replace(d, plan=plan.code, cycle=cycle.code, quantity=quantity, addons=addons)


async def pick_cycle(c: Ctx, arg: str) -> None:
    _, plan = await _subscription(c)
    if plan.cycle(arg) is None:
        raise unexpected()
    c.d.change = replace(_draft(c), cycle=arg)


async def step_quantity(c: Ctx, arg: str) -> None:
    _, plan = await _subscription(c)
    if arg not in ("+1", "-1") or not plan.pricing.uses_quantity:
        raise unexpected()
    d = _draft(c)
    quantity = min(max(d.quantity + int(arg), 1), MAX_QUANTITY)
    c.d.change = replace(d, quantity=quantity)


async def toggle_addon(c: Ctx, arg: str) -> None:
    _, plan = await _subscription(c)
    if arg not in plan.addons:
        raise unexpected()
    d = _draft(c)
    addons = tuple(a for a in d.addons if a != arg) if arg in d.addons else (*d.addons, arg)
    c.d.change = replace(d, addons=addons)


async def back_to_subscription(c: Ctx, arg: str) -> None:
    sub_id = c.subscription_id
    c.d.change = None
    detail.open_subscription(c, sub_id, Tab.OVERVIEW)


async def to_editor(c: Ctx, arg: str) -> None:
    d = _draft(c)
    c.d.change = replace(d, amount=None, settlement="", key="")
    c.d.step = Step.CHANGE


def _refused(c: Ctx, exc: Exception) -> None:
    reason = "generic"
    if isinstance(exc, InvalidInput | ChangeRefused):
        reason = str(exc.params.get("reason", "generic"))
    known = {
        "same",
        "status",
        "below_minimum",
        "above_maximum",
        "fixed",
        "not_allowed",
    }
    start = exc.params.get("start") if isinstance(exc, ChangeRefused) else None
    if reason == "renewed_ahead" and start is not None:
        c.t.answer = Msg("chg.refused.renewed_ahead", {"start": Day(start)})
    else:
        c.t.answer = Msg(f"chg.refused.{reason if reason in known else 'generic'}")
    c.t.alert = True


async def preview(c: Ctx, arg: str) -> None:
    """**Xem chi phí**: the use case prices the target now; the amount is kept for Xác nhận."""
    d = _draft(c)
    try:
        shown = await _backend(c).preview(ChangeRequest(c.t.user_id, c.subscription_id, _target(d)))
    except (InvalidInput, ChangeRefused) as exc:
        _refused(c, exc)
        return
    except NotFound as exc:
        raise unexpected() from exc
    q = shown.quote
    c.d.change = replace(
        d, amount=q.amount, settlement=q.settlement.value, key=secrets.token_urlsafe(12)
    )
    c.d.step = Step.CHANGE_PREVIEW


async def confirm(c: Ctx, arg: str) -> None:
    d = _draft(c)
    if d.amount is None or not d.key or d.settlement not in {s.value for s in Settlement}:
        raise unexpected()
    try:
        outcome = await _backend(c).confirm(
            ConfirmChangeRequest(
                actor_id=c.t.user_id,
                subscription_id=c.subscription_id,
                target=_target(d),
                expected_amount=d.amount,
                expected_settlement=Settlement(d.settlement),
                idempotency_key=d.key,
                chat_id=c.t.chat_id,
                locale=c.t.lang,
            )
        )
    except ChangeRefused as exc:  # no longer changeable: its overview (no preview to redraw)
        _refused(c, exc)
        await back_to_subscription(c, "")
        return
    except InvalidInput as exc:  # the choice no longer fits the catalog: the editor
        _refused(c, exc)
        await to_editor(c, "")
        return
    if outcome.kind is ChangeOutcomeKind.PRICE_CHANGED:
        c.t.notice = Msg("chg.price_changed")
        await preview(c, "")
        return
    _show_outcome(c, outcome)


def _show_outcome(c: Ctx, outcome: ChangeOutcome) -> None:
    d = c.d.change or ChangeDraft()
    c.d.change = replace(
        d,
        outcome=outcome.kind.value,
        amount=outcome.amount,
        url=outcome.payment_url,
        order=outcome.order_code,
    )
    c.d.step = Step.CHANGE_DONE


async def pay_trial(c: Ctx, arg: str) -> None:
    """**Thanh toán** on a trial: a payment for the whole first period (see the doc)."""
    try:
        outcome = await _backend(c).pay_trial(
            PayTrialRequest(
                c.t.user_id,
                c.subscription_id,
                f"trial-pay:{secrets.token_urlsafe(12)}",
                chat_id=c.t.chat_id,
                locale=c.t.lang,
            )
        )
    except ChangeRefused as exc:
        _refused(c, exc)
        return
    c.d.change = ChangeDraft(plan="-")
    _show_outcome(c, outcome)


# screens


def _plan_label(plan: Plan, chosen: bool) -> Msg:
    return Msg("chg.btn.plan", {"mark": "✅" if chosen else "▫️", "name": Plain(plan.name)})


async def draw_editor(c: Ctx) -> Screen:
    view = await c.backend.overview(c.tab_request())
    sub = view.subscription
    d = _draft(c)
    service = _service(c, sub.service_code)
    plan = service.plan(d.plan)
    if plan is None:
        raise unexpected()
    rows: list[tuple[Button, ...]] = [
        (Button(_plan_label(p, p.code == d.plan), action=Action.CHANGE_PLAN, arg=p.code),)
        for p in service.plans
        if p.active
    ]
    rows.append(
        tuple(
            Button(
                Msg(
                    "chg.btn.cycle",
                    {
                        "mark": "✅" if cy.code == d.cycle else "▫️",
                        "cycle": Cycle(cy.every, cy.unit.value),
                    },
                ),
                action=Action.CHANGE_CYCLE,
                arg=cy.code,
            )
            for cy in plan.cycles
        )
    )
    if plan.pricing.uses_quantity:
        rows.append(
            (
                Button(Plain("➖"), action=Action.CHANGE_QTY, arg="-1"),
                Button(Msg("chg.btn.quantity", {"quantity": d.quantity}), action=Action.CHANGE),
                Button(Plain("➕"), action=Action.CHANGE_QTY, arg="+1"),
            )
        )
    for code in plan.addons:
        addon = service.addon(code)
        if addon is None or not addon.active:
            continue
        rows.append(
            (
                Button(
                    Msg(
                        "chg.btn.addon",
                        {"mark": "☑️" if code in d.addons else "⬜", "name": Plain(addon.name)},
                    ),
                    action=Action.CHANGE_ADDON,
                    arg=code,
                ),
            )
        )
    rows.append((Button(Msg("chg.btn.preview"), action=Action.CHANGE_PREVIEW),))
    rows.append((Button(Msg("chg.btn.back"), action=Action.CHANGE_BACK),))
    cycle = plan.cycle(d.cycle)
    names = [service.addon(a) for a in d.addons]
    text = Join(
        (
            c.header(sub),
            Plain("──────────"),
            Msg(
                "chg.editor",
                {
                    "plan": Plain(plan.name),
                    "cycle": Cycle(cycle.every, cycle.unit.value) if cycle else Plain(d.cycle),
                    "quantity": d.quantity,
                    "addons": Plain(", ".join(a.name for a in names if a is not None) or "—"),
                },
            ),
        )
    )
    return Screen(text, tuple(rows))


def _lines(key: str, lines: tuple[ProratedLine, ...]) -> list[Param]:
    return [
        Msg(
            key,
            {
                "name": Plain(line.name),
                "quantity": line.quantity,
                "full": Money(line.full_amount),
                "amount": Money(line.amount),
                "tax": Plain(line.tax.value),
            },
        )
        for line in lines
    ]


async def draw_preview(c: Ctx) -> Screen:
    d = _draft(c)
    shown = await _backend(c).preview(ChangeRequest(c.t.user_id, c.subscription_id, _target(d)))
    sub, q = shown.subscription, shown.quote
    parts: list[Param] = [c.header(sub), Plain("──────────"), Msg("chg.preview_title")]
    if sub.current_period_start and sub.current_period_end:
        parts.append(
            Msg(
                "chg.days",
                {
                    "start": Day(sub.current_period_start),
                    "end": Day(sub.current_period_end),
                    "remaining": q.days_remaining,
                    "total": q.days_total,
                },
            )
        )
    if q.settlement is Settlement.AT_PERIOD_END:
        end = sub.current_period_end
        parts.append(Msg("chg.at_period_end", {"end": Day(end) if end else Plain("—")}))
    else:
        parts.append(Msg("chg.credit_title"))
        parts.extend(_lines("chg.credit_line", q.credit_lines))
        parts.append(Msg("chg.charge_title_new" if q.new_period else "chg.charge_title"))
        parts.extend(_lines("chg.charge_line", q.charge_lines))
        if q.quote is not None:
            parts.append(Msg("quote.net_total", {"amount": Money(q.quote.net_total)}))
            for tax, base, vat in q.quote.vat_groups:
                key = "quote.vat_kct" if tax.value == "KCT" else "quote.vat"
                parts.append(
                    Msg(key, {"rate": Plain(tax.value), "base": Money(base), "amount": Money(vat)})
                )
        parts.append(Msg(f"chg.settle.{q.settlement.value}", {"amount": Money(q.amount)}))
    parts.append(Msg("chg.rule_note"))
    rows = (
        (Button(Msg("chg.btn.confirm"), action=Action.CHANGE_CONFIRM),),
        (Button(Msg("chg.btn.edit"), action=Action.CHANGE),),
        (Button(Msg("chg.btn.back"), action=Action.CHANGE_BACK),),
    )
    return Screen(Join(tuple(parts)), rows)


async def draw_done(c: Ctx) -> Screen:
    d = c.d.change or ChangeDraft()
    kind = d.outcome or ChangeOutcomeKind.APPLIED.value
    if kind == ChangeOutcomeKind.AWAITS_PAYMENT.value and not d.url:
        kind = "pay_link_failed"
    text = Msg(
        f"chg.done.{kind}",
        {"amount": Money(d.amount or 0), "order": Plain(d.order)},
    )
    rows: list[tuple[Button, ...]] = []
    if d.url:
        rows.append((Button(Msg("btn.pay_vnptpay"), url=d.url),))
    elif kind == "pay_link_failed" and d.order:  # Thanh toán lại: a new link for the order
        rows.append((Button(Msg("btn.pay_again"), action=REPAY_ACTION, arg=d.order),))
    rows.append((Button(Msg("chg.btn.back"), action=Action.CHANGE_BACK),))
    return Screen(text, tuple(rows), qr=d.url or None)


_DETAIL = detail.STEPS[Step.DETAIL]

STEPS: dict[Step, StepSpec] = {
    # the subscription's own step gains Đổi gói and Thanh toán (trial)
    Step.DETAIL: replace(
        _DETAIL, on={**_DETAIL.on, Action.CHANGE: start_change, Action.TRIAL_PAY: pay_trial}
    ),
    Step.CHANGE: StepSpec(
        draw_editor,
        {
            Action.CHANGE_PLAN: pick_plan,
            Action.CHANGE_CYCLE: pick_cycle,
            Action.CHANGE_QTY: step_quantity,
            Action.CHANGE_ADDON: toggle_addon,
            Action.CHANGE_PREVIEW: preview,
            Action.CHANGE_BACK: back_to_subscription,
            Action.CHANGE: to_editor,
        },
    ),
    Step.CHANGE_PREVIEW: StepSpec(
        draw_preview,
        {
            Action.CHANGE_CONFIRM: confirm,
            Action.CHANGE: to_editor,
            Action.CHANGE_BACK: back_to_subscription,
        },
    ),
    Step.CHANGE_DONE: StepSpec(draw_done, {Action.CHANGE_BACK: back_to_subscription}),
}
