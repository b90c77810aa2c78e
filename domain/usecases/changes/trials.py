"""**Dùng thử**: a free trial of a plan with ``trial_days`` (:class:`StartTrial`), paying it
(:class:`PayTrial`: a CHANGE order for the trial subscription; paid, it becomes ACTIVE) and the
background round (:class:`TrialRound`: the reminder before the end, once, and the end: EXPIRED).

Once per business and service: the ``trials`` row is unique on (business, service) in the
database; the trial's order has the idempotency key ``trial:<business>:<service>`` too, so a
double tap, a race or a second replica never starts two.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.catalog import BillingCycle, Catalog, Plan, PriceTier, ServiceKind
from domain.changes import Trial
from domain.constants import VN_TZ
from domain.lifecycle import LifecycleAction, next_status
from domain.model import (
    EnterpriseId,
    InvoiceStatus,
    Order,
    OrderPurpose,
    OrderStatus,
    PaymentAttempt,
    PaymentMethod,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.orders import invoice_for, subscription_for
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork
from domain.pricing import NO_USAGE, Selection, quote
from domain.usecases import notices
from domain.usecases.changes.change import ChangeOutcome, ChangeOutcomeKind, ChangeRefused
from domain.usecases.changes.common import UowFactory, authorize_change, catalog_for, event
from domain.usecases.registration import PaymentStart

log = logging.getLogger(__name__)

#: the trial's end is told this many days before (once)
TRIAL_REMINDER_DAYS = 3


class TrialStatus(enum.StrEnum):
    STARTED = "started"
    ALREADY_USED = "already_used"  # the business had a trial of this service
    NOT_OFFERED = "not_offered"  # the plan has no trial (or is gone)
    REFUSED = "refused"  # the actor may not register for the business


@dataclass(frozen=True, slots=True)
class StartTrialRequest:
    actor_id: int
    enterprise_id: int
    service_code: str
    plan_code: str
    cycle_code: str
    quantity: int = 1
    chat_id: int | None = None
    locale: str = "vi"


@dataclass(frozen=True, slots=True)
class TrialStarted:
    status: TrialStatus
    subscription_code: str = ""
    ends_at: datetime | None = None
    days: int = 0


def trial_key(enterprise_id: int, service_code: str) -> str:
    return f"trial:{enterprise_id}:{service_code}"


class StartTrial:
    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: StartTrialRequest) -> TrialStarted:
        now = self._clock.now()
        catalog = self._catalog()
        service = catalog.service(req.service_code)
        plan = service.plan(req.plan_code) if service is not None else None
        cycle = plan.cycle(req.cycle_code) if plan is not None else None
        if service is None or plan is None or cycle is None or not plan.active:
            return TrialStarted(TrialStatus.NOT_OFFERED)
        if plan.trial_days <= 0:
            return TrialStarted(TrialStatus.NOT_OFFERED)
        enterprise_id = EnterpriseId(req.enterprise_id)
        key = trial_key(req.enterprise_id, service.code)
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(req.actor_id))
            if principal is None or not principal.may(Permission.REGISTER, enterprise_id):
                return TrialStarted(TrialStatus.REFUSED)
            if await uow.enterprises.get(enterprise_id) is None:
                return TrialStarted(TrialStatus.REFUSED)
            if await uow.changes.trial_of(enterprise_id, service.code) is not None:
                return TrialStarted(TrialStatus.ALREADY_USED)
            if await uow.orders.by_idempotency_key(key) is not None:
                return TrialStarted(TrialStatus.ALREADY_USED)
            zero = quote(
                Catalog(services=(replace(service, plans=(_free(plan),)),)),
                Selection(service.code, plan.code, cycle.code, req.quantity),
                today=now.astimezone(VN_TZ).date(),
                usage=NO_USAGE,
            )
            code = await uow.orders.next_code(now.astimezone(VN_TZ).year)
            order = await uow.orders.add(
                Order(
                    code=code,
                    enterprise_id=enterprise_id,
                    registered_by=UserId(req.actor_id),
                    service_code=service.code,
                    plan_code=plan.code,
                    cycle_code=cycle.code,
                    kind=service.kind,
                    payment_method=PaymentMethod.VNPTPAY
                    if service.kind is ServiceKind.ON
                    else PaymentMethod.BY_CASH,
                    total=0,
                    idempotency_key=key,
                    created_at=now,
                    quantity=req.quantity,
                    status=OrderStatus.PAID,
                    quote=zero.to_dict(),
                    locale=req.locale,
                    chat_id=req.chat_id,
                    paid_at=now,
                )
            )
            if order.code != code:  # a concurrent start stored it first
                return TrialStarted(TrialStatus.ALREADY_USED)
            ends = now + timedelta(days=plan.trial_days)
            sub = await uow.subscriptions.add(
                subscription_for(
                    order,
                    await uow.subscriptions.next_code(now.astimezone(VN_TZ).year),
                    now,
                    status=next_status(SubscriptionStatus.FUTURE, LifecycleAction.START_TRIAL),
                    started_at=now,
                    current_period_start=now,
                    current_period_end=ends,
                )
            )
            trial = await uow.changes.add_trial(
                Trial(
                    enterprise_id=enterprise_id,
                    service_code=service.code,
                    plan_code=plan.code,
                    subscription_id=sub.id,
                    started_at=now,
                    ends_at=ends,
                    started_by=UserId(req.actor_id),
                )
            )
            if trial is None:  # the unique (business, service) row: another start won
                await uow.rollback()
                return TrialStarted(TrialStatus.ALREADY_USED)
            await uow.history.add(
                event(
                    "trial.started",
                    sub,
                    UserId(req.actor_id),
                    now,
                    {
                        "subscription": sub.code,
                        "plan": plan.code,
                        "days": plan.trial_days,
                        "period_end": ends.isoformat(),
                    },
                )
            )
            await uow.commit()
        return TrialStarted(TrialStatus.STARTED, sub.code, ends, plan.trial_days)


def _free(plan: Plan) -> Plan:
    """The plan with every price 0 (the trial order's quote: what was bought, for nothing)."""
    return replace(
        plan,
        setup_fee=0,
        cycles=tuple(
            BillingCycle(
                c.code,
                c.every,
                c.unit,
                0,
                tuple(PriceTier(t.up_to, 0) for t in c.tiers),
            )
            for c in plan.cycles
        ),
    )


@dataclass(frozen=True, slots=True)
class PayTrialRequest:
    actor_id: int
    subscription_id: int
    idempotency_key: str
    chat_id: int | None = None
    locale: str = "vi"


class PayTrial:
    """**Thanh toán** on a trial: a CHANGE order for the trial subscription at the catalog
    price of its plan, cycle, quantity and add-ons for a whole first period (no promotions);
    ON gets its payment link, OS waits for cash. Paid, the subscription becomes ACTIVE with a
    first period from the payment (``apply.change_subscription``)."""

    def __init__(
        self,
        uow: UowFactory,
        catalog: Callable[[], Catalog],
        clock: Clock,
        start_payment: Callable[[int], Awaitable[PaymentStart]] | None = None,
        unpaid_order_ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock
        self._start_payment = start_payment
        self._ttl = unpaid_order_ttl

    async def __call__(self, req: PayTrialRequest) -> ChangeOutcome:
        outcome = await self._order(req)
        if (
            outcome.kind is ChangeOutcomeKind.AWAITS_PAYMENT
            and outcome.order_id is not None
            and self._start_payment is not None
            and not outcome.payment_url
        ):
            started = await self._start_payment(outcome.order_id)
            outcome = replace(outcome, payment_url=started.redirect_url)
        return outcome

    async def _order(self, req: PayTrialRequest) -> ChangeOutcome:
        now = self._clock.now()
        async with self._uow() as uow:
            existing = await uow.orders.by_idempotency_key(req.idempotency_key)
            if existing is not None:
                attempts = await uow.payments.for_order(existing.id)
                url = next((a.redirect_url or "" for a in attempts if a.status.is_open), "")
                return ChangeOutcome(
                    ChangeOutcomeKind.EXISTING,
                    amount=existing.total,
                    order_id=existing.id,
                    order_code=existing.code,
                    payment_url=url,
                )
            await authorize_change(uow, req.actor_id, req.subscription_id)
            sub = await uow.subscriptions.get(SubscriptionId(req.subscription_id), for_update=True)
            assert sub is not None
            if sub.status is not SubscriptionStatus.IN_TRIAL:
                raise ChangeRefused("not a trial", reason="status")
            catalog = await catalog_for(uow, self._catalog(), sub.service_code, sub.plan_code)
            q = quote(
                catalog,
                Selection(
                    sub.service_code, sub.plan_code, sub.cycle_code, sub.quantity, sub.addon_codes
                ),
                today=now.astimezone(VN_TZ).date(),
                usage=NO_USAGE,
            )
            code = await uow.orders.next_code(now.astimezone(VN_TZ).year)
            on = sub.kind is ServiceKind.ON
            order = await uow.orders.add(
                Order(
                    code=code,
                    enterprise_id=sub.enterprise_id,
                    registered_by=UserId(req.actor_id),
                    service_code=sub.service_code,
                    plan_code=sub.plan_code,
                    cycle_code=sub.cycle_code,
                    kind=sub.kind,
                    payment_method=PaymentMethod.VNPTPAY if on else PaymentMethod.BY_CASH,
                    total=q.total,
                    idempotency_key=req.idempotency_key,
                    created_at=now,
                    quantity=sub.quantity,
                    addon_codes=sub.addon_codes,
                    quote=q.to_dict(),
                    locale=req.locale,
                    chat_id=req.chat_id,
                    expires_at=now + self._ttl if on else None,
                    purpose=OrderPurpose.CHANGE,
                    subscription_id=sub.id,
                )
            )
            if on:
                await uow.payments.add(
                    PaymentAttempt(
                        order_id=order.id,
                        merchant_order_id=f"{order.code}-1",
                        amount=order.total,
                        method=PaymentMethod.VNPTPAY,
                        created_at=now,
                    )
                )
            else:
                await uow.invoices.add(
                    invoice_for(order, q, now, subscription_id=sub.id, status=InvoiceStatus.WAITING)
                )
            await uow.history.add(
                event(
                    "order.created",
                    sub,
                    UserId(req.actor_id),
                    now,
                    {"order": order.code, "total": order.total, "purpose": "TRIAL_PAYMENT"},
                    order_id=int(order.id),
                )
            )
            await uow.commit()
        kind = ChangeOutcomeKind.AWAITS_PAYMENT if on else ChangeOutcomeKind.CASH_PENDING
        return ChangeOutcome(
            kind,
            amount=order.total,
            order_id=order.id,
            order_code=order.code,
            subscription_code=sub.code,
        )


@dataclass(frozen=True, slots=True)
class TrialReport:
    reminded: int = 0
    ended: int = 0


class TrialRound:
    """The background round: owners told ``reminder_days`` before a trial ends (once: the
    conditional ``mark_trial_reminded`` is the claim), and unpaid trials ended at their end
    (IN_TRIAL → EXPIRED, history ``trial.ended``, the owners told). A trial paid meanwhile was
    marked ended when it was paid, so it is not touched."""

    def __init__(
        self, uow: UowFactory, clock: Clock, reminder_days: int = TRIAL_REMINDER_DAYS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._reminder = timedelta(days=reminder_days)

    async def __call__(self, limit: int = 100) -> TrialReport:
        now = self._clock.now()
        async with self._uow() as uow:
            to_remind = [
                t
                for t in await uow.changes.trials_to_remind(now + self._reminder, limit)
                if t.ends_at > now
            ]
            to_end = await uow.changes.trials_to_end(now, limit)
        reminded = ended = 0
        for trial in to_remind:
            async with self._uow() as uow:
                sub = await uow.subscriptions.get(trial.subscription_id)
                if sub is None or sub.status is not SubscriptionStatus.IN_TRIAL:
                    continue
                if not await uow.changes.mark_trial_reminded(trial.id, now):
                    continue  # another replica told them
                await self._tell(uow, trial, sub.code, NoticeKind.TRIAL_ENDING, now)
                await uow.history.add(
                    event(
                        "trial.reminded", sub, None, now, {"period_end": trial.ends_at.isoformat()}
                    )
                )
                await uow.commit()
                reminded += 1
        for trial in to_end:
            async with self._uow() as uow:
                sub = await uow.subscriptions.get(trial.subscription_id, for_update=True)
                if sub is None or not await uow.changes.mark_trial_ended(trial.id, now):
                    continue
                if sub.status is SubscriptionStatus.IN_TRIAL:
                    status = next_status(sub.status, LifecycleAction.EXPIRE)
                    await uow.subscriptions.update(replace(sub, status=status))
                    await uow.history.add(
                        event(
                            "trial.ended",
                            sub,
                            None,
                            now,
                            {"status": status.value, "period_end": trial.ends_at.isoformat()},
                        )
                    )
                    await self._tell(uow, trial, sub.code, NoticeKind.TRIAL_ENDED, now)
                    ended += 1
                await uow.commit()
        return TrialReport(reminded, ended)

    async def _tell(
        self, work: UnitOfWork, trial: Trial, code: str, kind: NoticeKind, now: datetime
    ) -> None:
        params: dict[str, JsonValue] = {
            "subscription": code,
            "service": trial.service_code,
            "plan": trial.plan_code,
            "ends_at": trial.ends_at.isoformat(),
        }
        await notices.add_notices(
            work,
            (
                Notice(kind, chat, locale, params)
                for chat, locale in await notices.reachable_owners(work, trial.enterprise_id)
            ),
            now,
        )
