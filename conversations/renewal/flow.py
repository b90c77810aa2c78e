"""The renewal flow (see the package doc) and the screens of its notices."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from conversations.kit import breakdown, coupon_refusal, unexpected
from conversations.screens import (
    Button,
    ButtonStyle,
    Cycle,
    Day,
    Delivery,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
    notice,
)
from conversations.turn import Turn
from domain.catalog import Catalog, Promotion, PromotionScope, Purchase, ServiceKind
from domain.errors import (
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PromotionNotApplicable,
)
from domain.model import Subscription, SubscriptionStatus
from domain.outbox import JsonValue
from domain.usecases.renewal import (
    RENEW_ACTION,
    CancelNowRequest,
    ChangeStatus,
    LifecycleChange,
    RenewalOffer,
    RenewalOutcome,
    RenewalOutcomeKind,
    RenewalRequest,
)
from domain.usecases.renewal.common import RENEWABLE, period_for

__all__ = [
    "FLOW",
    "RENEW_ACTION",
    "RenewalBackend",
    "RenewalFlow",
    "ended_notice",
    "reminder_notice",
    "staff_cancelled_notice",
]

FLOW: Final = "renewal"
_MANAGE_ENTRY: Final = "subs"
_REPAY_ENTRY: Final = "repay"

# steps
_CYCLE, _SUMMARY, _END, _REASON = "rcycle", "rsum", "rend", "rreason"
# the flow's own buttons
_PICK, _PLAN_PROMO, _INVOICE_PROMO, _CONFIRM, _BACK, _END_OK = "cy", "pp", "ip", "ok", "back", "eok"
_COUPON = "cp"  # **Nhập mã khuyến mại** (arg "off": close the prompt)


class RenewalBackend(Protocol):
    """The use cases of ``domain.usecases.renewal`` (``RenewalServices``); each re-checks who
    acts and raises ``PermissionDenied`` / ``NotFound`` for what they may not see."""

    async def offer(self, actor_id: int, code: str) -> RenewalOffer: ...

    async def renew(self, req: RenewalRequest) -> RenewalOutcome: ...

    async def set_renewal(
        self, actor_id: int, subscription_id: int, *, renew: bool
    ) -> LifecycleChange: ...

    async def cancel_now(self, req: CancelNowRequest) -> LifecycleChange: ...


def _manage_button(code: str) -> tuple[Button, ...]:
    return (Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),)


def _repay_button(order_code: str) -> tuple[Button, ...]:
    return (Button(Msg("btn.pay_again"), action=_REPAY_ENTRY, arg=order_code),)


class RenewalFlow:
    def __init__(self, backend: RenewalBackend) -> None:
        self._backend = backend

    # --- entry ------------------------------------------------------------------------------

    async def start(self, t: Turn, arg: str) -> None:
        op, _, code = arg.strip().rpartition(".")
        code = code.strip().upper()
        if not code.startswith("TB-") or op not in ("", "end", "resume", "cancel"):
            raise NotFound("no such subscription", field="subscription")
        offer = await self._backend.offer(t.user_id, code)
        sub = offer.subscription
        t.draft.update({"sid": int(sub.id), "code": sub.code})
        t.delivery = Delivery.NEW
        if op == "resume":
            await self._set(t, sub, renew=True)
        elif op == "end":
            if not self._refuse_stale(t, sub, SubscriptionStatus.ACTIVE):
                t.draft["s"] = _END
        elif op == "cancel":
            if not offer.can_cancel_now:
                raise PermissionDenied("only staff end a subscription at once")
            if sub.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
                self._said(t, Msg("renew.already_ended", _sub_params(sub)), sub.code)
            elif sub.status is SubscriptionStatus.FUTURE:
                self._said(t, Msg("renew.unchanged", _sub_params(sub)), sub.code)
            else:
                t.draft.update({"s": _REASON})
        elif offer.open_order is not None:
            order = offer.open_order
            rows = [_repay_button(order.code)] if order.kind is ServiceKind.ON else []
            self._said(
                t,
                Msg(
                    "renew.already_open",
                    {"order": Plain(order.code), "total": Money(order.total)},
                ),
                sub.code,
                *rows,
            )
        elif sub.status not in RENEWABLE or not offer.cycles:
            self._said(t, Msg("renew.not_renewable", _sub_params(sub)), sub.code)
        else:
            t.draft["s"] = _CYCLE

    def _refuse_stale(self, t: Turn, sub: Subscription, wanted: SubscriptionStatus) -> bool:
        if sub.status is wanted:
            return False
        self._said(t, Msg("renew.unchanged", _sub_params(sub)), sub.code)
        return True

    @staticmethod
    def _said(t: Turn, text: Msg | Join, code: str, *rows: tuple[Button, ...]) -> None:
        t.done = True
        t.extra.append(notice(text, *rows, _manage_button(code)))

    async def _set(self, t: Turn, sub: Subscription, *, renew: bool) -> None:
        change = await self._backend.set_renewal(t.user_id, int(sub.id), renew=renew)
        changed = change.subscription
        if change.status is ChangeStatus.UNCHANGED:
            self._said(t, Msg("renew.unchanged", _sub_params(changed)), changed.code)
            return
        key = "renew.resumed" if renew else "renew.ended_at_period_end"
        self._said(t, Msg(key, _sub_params(changed)), changed.code)

    # --- drawing ----------------------------------------------------------------------------

    async def screen(self, t: Turn) -> Screen:
        step = t.draft.get("s")
        code = str(t.draft.get("code", ""))
        if step == _END:
            offer = await self._backend.offer(t.user_id, code)
            return Screen(
                Msg("renew.confirm_end", _sub_params(offer.subscription)),
                (
                    (Button(Msg("renew.btn.confirm_end"), action=_END_OK),),
                    (Button(Msg("btn.back"), action="cancel"),),
                ),
            )
        if step == _REASON:
            return Screen(
                Msg("renew.ask_reason", {"code": Plain(code)}),
                ((Button(Msg("btn.cancel"), action="cancel"),),),
            )
        offer = await self._backend.offer(t.user_id, code)
        if step == _SUMMARY:
            return self._summary(t, offer)
        return self._cycles(offer)

    def _cycles(self, offer: RenewalOffer) -> Screen:
        sub = offer.subscription
        # the cycle the next period would have: a downgrade scheduled for the period end says
        current = offer.scheduled.cycle_code if offer.scheduled is not None else sub.cycle_code
        rows: list[tuple[Button, ...]] = []
        for cycle in offer.cycles:
            total = offer.quote(offer.selection(cycle.code)).total
            key = "renew.cycle_current" if cycle.code == current else "renew.cycle_button"
            rows.append(
                (
                    Button(
                        Msg(
                            key,
                            {"cycle": Cycle(cycle.every, cycle.unit.value), "total": Money(total)},
                        ),
                        action=_PICK,
                        arg=cycle.code,
                    ),
                )
            )
        rows.append((Button(Msg("btn.cancel"), action="cancel"),))
        text = Msg(
            "renew.choose",
            {
                **_sub_params(sub),
                "service": Plain(offer.service.name),
                "plan": Plain(offer.plan.name),
            },
        )
        return Screen(text, tuple(rows))

    def _summary(self, t: Turn, offer: RenewalOffer) -> Screen:
        d = t.draft
        sub = offer.subscription
        cycle = offer.plan.cycle(str(d.get("c", "")))
        if cycle is None:
            raise unexpected()
        plan_promo = d.get("pp") or None
        invoice_promos = tuple(str(p) for p in d.get("ip", ()))
        try:
            q = offer.quote(offer.selection(cycle.code, plan_promo, invoice_promos))
        except DomainError:  # a promotion that stopped applying: drop the promotions
            d["pp"], d["ip"] = None, []
            plan_promo, invoice_promos = None, ()
            q = offer.quote(offer.selection(cycle.code))
            t.notice = Msg("renew.promotions_dropped")
        d["t"] = q.total
        d.setdefault("k", secrets.token_urlsafe(12))
        period, _ = period_for(sub, cycle, t.now)
        text = Join(
            (
                Msg(
                    "renew.summary",
                    {
                        **_sub_params(sub),
                        "service": Plain(offer.service.name),
                        "plan": Plain(offer.plan.name),
                        "cycle": Cycle(cycle.every, cycle.unit.value),
                        "start": Day(period.start),
                        "end": Day(period.end),
                        "total": Money(q.total),
                    },
                ),
                *_scheduled_note(offer),
                breakdown(q),
                Msg(
                    "renew.pay_cash" if sub.kind is ServiceKind.OS else "renew.pay_online",
                    {"total": Money(q.total)},
                ),
            )
        )
        rows: list[tuple[Button, ...]] = []
        plan_line = q.lines[0]
        catalog = offer.offer.catalog
        listed = offer.offer.promotions(PromotionScope.PLAN, offer.plan.code, plan_line.base_amount)
        for promo in _with_typed(catalog, listed, (plan_promo,) if plan_promo else ()):
            on = promo.code == plan_promo
            rows.append((_toggle(promo.name, on, _PLAN_PROMO, "" if on else promo.code),))
        listed = offer.offer.promotions(
            PromotionScope.INVOICE, offer.plan.code, q.discounted_subtotal
        )
        for promo in _with_typed(catalog, listed, invoice_promos):
            rows.append(
                (_toggle(promo.name, promo.code in invoice_promos, _INVOICE_PROMO, promo.code),)
            )
        if renewal_coupons(catalog, offer.plan.code):
            prompt = bool(d.get("cpp"))
            text = Join((*text.parts, Msg("reg.coupon.prompt"))) if prompt else text
            rows.append(
                (
                    Button(Msg("btn.coupon_close"), action=_COUPON, arg="off")
                    if prompt
                    else Button(Msg("btn.coupon"), action=_COUPON, arg=""),
                )
            )
        rows.append((Button(Msg("renew.btn.confirm"), action=_CONFIRM),))
        rows.append((Button(Msg("btn.back"), action=_BACK),))
        return Screen(text, tuple(rows))

    # --- buttons and text ---------------------------------------------------------------------

    async def button(self, t: Turn, action: str, arg: str) -> None:
        d = t.draft
        step = d.get("s")
        if step == _CYCLE and action == _PICK:
            offer = await self._backend.offer(t.user_id, str(d.get("code", "")))
            if arg not in {c.code for c in offer.cycles}:
                raise unexpected()
            d.update({"s": _SUMMARY, "c": arg, "pp": None, "ip": []})
            d.pop("k", None)
        elif step == _SUMMARY and action == _BACK:
            d.update({"s": _CYCLE})
        elif step == _SUMMARY and action == _PLAN_PROMO:
            d["pp"] = arg or None
        elif step == _SUMMARY and action == _INVOICE_PROMO:
            chosen = [str(p) for p in d.get("ip", ())]
            d["ip"] = [p for p in chosen if p != arg] if arg in chosen else [*chosen, arg]
        elif step == _SUMMARY and action == _COUPON:
            d["cpp"] = arg != "off"
        elif step == _SUMMARY and action == _CONFIRM:
            await self._confirm(t)
        elif step == _END and action == _END_OK:
            offer = await self._backend.offer(t.user_id, str(d.get("code", "")))
            await self._set(t, offer.subscription, renew=False)
        else:
            raise unexpected()

    async def _confirm(self, t: Turn) -> None:
        d = t.draft
        outcome = await self._backend.renew(
            RenewalRequest(
                actor_id=t.user_id,
                subscription_id=int(d["sid"]),
                cycle_code=str(d.get("c", "")),
                expected_total=int(d.get("t", 0)),
                idempotency_key=str(d.get("k") or secrets.token_urlsafe(12)),
                locale=t.lang,
                chat_id=t.chat_id,
                plan_promotion=d.get("pp") or None,
                invoice_promotions=tuple(str(p) for p in d.get("ip", ())),
            )
        )
        code = str(d.get("code", ""))
        if outcome.kind is RenewalOutcomeKind.PRICE_CHANGED:
            d.pop("k", None)  # the user confirms the new total with a new press
            if outcome.reason.startswith("refusal."):
                d["pp"], d["ip"] = None, []
            # a toast, and the new total in a new message headed by the same words
            t.notice = t.answer = Msg("renew.price_changed")
            t.delivery = Delivery.NEW
            return
        if outcome.kind is RenewalOutcomeKind.NOT_RENEWABLE:
            self._said(t, Msg("renew.not_renewable_now", {"code": Plain(code)}), code)
            return
        order = Plain(outcome.order_code)
        total = Money(outcome.total)
        if outcome.kind is RenewalOutcomeKind.ALREADY_OPEN:
            rows = [_repay_button(outcome.order_code)] if outcome.kind_of_service == "ON" else []
            self._said(t, Msg("renew.already_open", {"order": order, "total": total}), code, *rows)
            return
        t.done = True
        if outcome.kind_of_service == ServiceKind.OS.value:
            t.extra.append(
                notice(
                    Msg(
                        "renew.cash_pending", {"order": order, "total": total, "code": Plain(code)}
                    ),
                    _manage_button(code),
                )
            )
        elif outcome.payment_url:
            t.extra.append(
                Screen(
                    Msg("renew.link", {"order": order, "total": total, "code": Plain(code)}),
                    ((Button(Msg("btn.pay_vnptpay"), url=outcome.payment_url),),),
                    delivery=Delivery.NEW,
                    qr=outcome.payment_url,
                    final=True,
                )
            )
        else:
            t.extra.append(
                notice(
                    Msg("pay.link_failed", {"order": order, "total": total}),
                    _repay_button(outcome.order_code),
                )
            )

    async def text(self, t: Turn, text: str) -> None:
        t.delivery = Delivery.NEW
        if t.draft.get("s") == _SUMMARY:
            await self._typed_coupon(t, text)
            return
        if t.draft.get("s") != _REASON:
            t.notice = Msg("menu.use_buttons")
            return
        try:
            change = await self._backend.cancel_now(
                CancelNowRequest(t.user_id, int(t.draft["sid"]), text)
            )
        except InvalidInput as exc:
            long = exc.params.get("reason") == "renew.reason_long"
            t.notice = Msg("renew.reason_long" if long else "renew.reason_empty", {"max": 500})
            return
        sub = change.subscription
        key = "renew.cancelled_now" if change.status is ChangeStatus.CHANGED else "renew.unchanged"
        self._said(t, Msg(key, _sub_params(sub)), sub.code)

    async def _typed_coupon(self, t: Turn, typed: str) -> None:
        """A coupon code typed at the summary: checked like in registration (the promotion's
        scope, plan, ``purchases`` listing renewals, window, minimum, quota and uses per
        business, case-insensitive: ``CheckoutOffer.coupon``); accepted, it is chosen like a
        listed promotion (plan or invoice); refused, the reason is said and nothing changes."""
        d = t.draft
        offer = await self._backend.offer(t.user_id, str(d.get("code", "")))
        catalog = offer.offer.catalog
        if not d.get("cpp") and not catalog.has_coupons():  # a code for new ones: say so
            t.notice = Msg("menu.use_buttons")
            return
        d["cpp"] = True
        cycle = offer.plan.cycle(str(d.get("c", "")))
        if cycle is None:
            raise unexpected()
        shown = Plain(typed.strip()[:40])
        found = catalog.coupon(typed)
        scope = (
            PromotionScope.INVOICE
            if found is not None and found.scope is PromotionScope.INVOICE
            else PromotionScope.PLAN
        )
        plan_promo = d.get("pp") or None
        try:
            if scope is PromotionScope.INVOICE:
                amount = offer.quote(offer.selection(cycle.code, plan_promo)).discounted_subtotal
                promo = offer.offer.coupon(typed, scope, offer.plan.code, amount)
                chosen = [str(p) for p in d.get("ip", ())]
                d["ip"] = chosen if promo.code in chosen else [*chosen, promo.code]
            else:
                amount = offer.quote(offer.selection(cycle.code)).lines[0].base_amount
                promo = offer.offer.coupon(typed, scope, offer.plan.code, amount)
                d["pp"] = promo.code
        except PromotionNotApplicable as refused:
            t.notice = Msg(
                "renew.coupon_refused", {"why": coupon_refusal(catalog, refused, shown, scope)}
            )
            return
        d.pop("k", None)  # another total: a new confirmation
        t.notice = Msg("reg.coupon.applied", {"code": shown, "name": Plain(promo.name)})

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        t.notice = Msg("menu.use_buttons")


def renewal_coupons(catalog: Catalog, plan_code: str) -> bool:
    """Some active promotion used by typing its code may discount this renewal: it lists
    renewals in ``purchases`` and is for the plan (any, or this one) or the whole invoice."""
    return any(
        p.coupon_code
        and Purchase.RENEWAL in p.purchases
        and (
            p.scope is PromotionScope.INVOICE
            or (
                p.scope is PromotionScope.PLAN
                and (p.applies_to is None or plan_code in p.applies_to)
            )
        )
        for p in catalog.active_promotions()
    )


def _with_typed(
    catalog: Catalog, listed: list[Promotion], chosen: tuple[str, ...]
) -> list[Promotion]:
    """The listed promotions and the chosen ones that came from a typed code (never listed),
    so they show ticked and can be dropped."""
    codes = {p.code for p in listed}
    typed = [catalog.promotion(code) for code in chosen if code not in codes]
    return [*listed, *(p for p in typed if p is not None and p.coupon_code)]


def _scheduled_note(offer: RenewalOffer) -> tuple[Msg, ...]:
    """A change waits for the period end: the renewal is for it (docs/proration.md)."""
    if offer.scheduled is None:
        return ()
    return (
        Msg(
            "renew.scheduled_plan",
            {"plan": Plain(offer.plan.name), "quantity": offer.scheduled.quantity},
        ),
    )


def _toggle(name: str, on: bool, action: str, arg: str) -> Button:
    return Button(
        Plain(name),
        action=action,
        arg=arg,
        style=ButtonStyle.CHECKED if on else ButtonStyle.UNCHECKED,
    )


def _sub_params(sub: Subscription) -> dict[str, Param]:
    return {
        "code": Plain(sub.code),
        "status": Msg(f"manage.status.{sub.status.value}"),
        "end": Day(sub.current_period_end) if sub.current_period_end else Plain("—"),
    }


# --- notices (rendered by the outbox worker) ------------------------------------------------

Params = Mapping[str, JsonValue]


def _text(params: Params, name: str) -> str:
    value = params.get(name)
    return "" if value is None else str(value)


def _notice_params(params: Params, catalog: Catalog) -> dict[str, Param]:
    code = _text(params, "service")
    service = catalog.service(code)
    end = _text(params, "period_end")
    return {
        "code": Plain(_text(params, "subscription")),
        "service": Plain(service.name if service is not None else code),
        "end": Day(datetime.fromisoformat(end)) if end else Plain("—"),
    }


def reminder_notice(params: Params, catalog: Catalog) -> Screen:
    """``days`` before the period end: **Gia hạn** and **Quản lý thuê bao**."""
    code = _text(params, "subscription")
    days = params.get("days")
    shown: dict[str, Any] = {**_notice_params(params, catalog), "days": int(str(days or 0))}
    return notice(
        Msg("renew_notice.reminder", shown),
        (Button(Msg("renew.btn.renew"), action=RENEW_ACTION, arg=code),),
        _manage_button(code),
    )


def ended_notice(params: Params, catalog: Catalog) -> Screen:
    """EXPIRED (**Gia hạn** still possible) or CANCELLED at the period end as asked."""
    code = _text(params, "subscription")
    if _text(params, "status") == SubscriptionStatus.EXPIRED.value:
        return notice(
            Msg("renew_notice.expired", _notice_params(params, catalog)),
            (Button(Msg("renew.btn.renew"), action=RENEW_ACTION, arg=code),),
            _manage_button(code),
        )
    return notice(
        Msg("renew_notice.ended_cancelled", _notice_params(params, catalog)), _manage_button(code)
    )


def staff_cancelled_notice(params: Params, catalog: Catalog) -> Screen:
    code = _text(params, "subscription")
    return notice(
        Msg(
            "renew_notice.cancelled",
            {**_notice_params(params, catalog), "reason": Plain(_text(params, "reason"))},
        ),
        _manage_button(code),
    )
