"""The background rounds of the subscription's life: renewal reminders and expiry.

Each subscription is handled in a transaction of its own, under its row lock, and checked again
there, so workers on several replicas (or a round that overlaps a payment) never act twice:

- :class:`SendRenewalReminders`: the reminder due now (``lifecycle.due_reminder``) is recorded
  in ``renewal_reminders`` — unique per (subscription, period end, days) — in the same
  transaction as its outbox rows; a worker that finds the key taken writes nothing.
- :class:`ExpireSubscriptions`: an ACTIVE subscription whose period (and grace) is over
  becomes EXPIRED; a NON_RENEWING one becomes CANCELLED at its period end (its owner asked).
  A change scheduled for that period end is applied first, in the same transaction
  (``docs/proration.md``, "At the period end").
  IN_TRIAL subscriptions are not touched here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.lifecycle import (
    DEFAULT_REMINDER_DAYS,
    LifecycleAction,
    TransitionRefused,
    due_reminder,
    expires_at,
    next_status,
    validate_reminder_days,
)
from domain.model import OrderStatus, Subscription, SubscriptionId, SubscriptionStatus
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.ports import Clock, UnitOfWork
from domain.usecases.changes.scheduled import apply_scheduled_change
from domain.usecases.notices import add_notices, reachable_owners
from domain.usecases.renewal.common import event, subscription_params, tell_owners

UowFactory = Callable[[], UnitOfWork]

_BATCH = 100


@dataclass(frozen=True, slots=True)
class ReminderReport:
    #: (subscription code, days) of each reminder recorded by this round
    sent: tuple[tuple[str, int], ...] = ()
    #: notices written (reachable owners of those subscriptions)
    notices: int = 0


@dataclass(frozen=True, slots=True)
class ExpiryRoundReport:
    #: (subscription code, new status) of each subscription ended by this round
    ended: tuple[tuple[str, SubscriptionStatus], ...] = field(default_factory=tuple)


class SendRenewalReminders:
    """One round: every ACTIVE subscription whose period ends within the largest offset gets
    the reminder due now, once (see the module doc)."""

    def __init__(
        self, uow: UowFactory, clock: Clock, days: Sequence[int] = DEFAULT_REMINDER_DAYS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.days = validate_reminder_days(days)

    async def __call__(self) -> ReminderReport:
        now = self._clock.now()
        if not self.days:
            return ReminderReport()
        horizon = now + timedelta(days=max(self.days))
        async with self._uow() as uow:
            candidates = await uow.renewals.ending(
                [SubscriptionStatus.ACTIVE], before=horizon, after=now, limit=_BATCH * 10
            )
        sent: list[tuple[str, int]] = []
        notices = 0
        for candidate in candidates:
            done = await self._one(candidate.id, now)
            if done is not None:
                sent.append((done[0], done[1]))
                notices += done[2]
        return ReminderReport(tuple(sent), notices)

    async def _one(
        self, subscription_id: SubscriptionId, now: datetime
    ) -> tuple[str, int, int] | None:
        async with self._uow() as uow:
            sub = await uow.subscriptions.get(subscription_id, for_update=True)
            if sub is None or sub.status is not SubscriptionStatus.ACTIVE:
                return None
            end = sub.current_period_end
            if end is None:
                return None
            sent = await uow.renewals.reminders_sent(sub.id, end)
            days = due_reminder(end, now, self.days, sent)
            if days is None:
                return None
            params: dict[str, JsonValue] = {**subscription_params(sub), "days": days}
            owners = await reachable_owners(uow, sub.enterprise_id)
            # a worker that lost the race for the key writes nothing (its transaction rolls
            # back); on PostgreSQL its insert waits for the winner's commit, then finds the key
            if not await uow.renewals.record_reminder(sub.id, end, days, len(owners), now):
                return None
            told = await add_notices(
                uow,
                (Notice(NoticeKind.RENEWAL_REMINDER, chat, lang, params) for chat, lang in owners),
                now,
            )
            await uow.history.add(
                event("subscription.reminded", sub, now, days=days, recipients=told)
            )
            await uow.commit()
        return sub.code, days, told


class ExpireSubscriptions:
    """One round: the subscriptions whose period is over end (see the module doc)."""

    def __init__(self, uow: UowFactory, clock: Clock, grace_days: int = 0) -> None:
        if grace_days < 0:
            raise ValueError("grace_days must be ≥ 0")
        self._uow = uow
        self._clock = clock
        self.grace_days = grace_days

    async def __call__(self) -> ExpiryRoundReport:
        now = self._clock.now()
        async with self._uow() as uow:
            active = await uow.renewals.ending(
                [SubscriptionStatus.ACTIVE],
                before=now - timedelta(days=self.grace_days),
                limit=_BATCH,
            )
            ending = await uow.renewals.ending(
                [SubscriptionStatus.NON_RENEWING], before=now, limit=_BATCH
            )
        ended: list[tuple[str, SubscriptionStatus]] = []
        for candidate in (*active, *ending):
            done = await self._one(candidate.id, now)
            if done is not None:
                ended.append((done.code, done.status))
        return ExpiryRoundReport(tuple(ended))

    def _over(self, sub: Subscription, now: datetime) -> bool:
        end = sub.current_period_end
        if end is None:
            return False
        grace = self.grace_days if sub.status is SubscriptionStatus.ACTIVE else 0
        return now >= expires_at(end, grace)

    async def _one(self, subscription_id: SubscriptionId, now: datetime) -> Subscription | None:
        async with self._uow() as uow:
            sub = await uow.subscriptions.get(subscription_id, for_update=True)
            if sub is None or sub.status not in (
                SubscriptionStatus.ACTIVE,
                SubscriptionStatus.NON_RENEWING,
            ):
                return None  # renewed, cancelled or ended meanwhile
            if not self._over(sub, now):
                return None
            # a change scheduled for this period end applies first (the change round may not
            # have got there yet): the subscription ends on the configuration it would have
            # been renewed in, which a later Gia hạn of the expired subscription renews
            scheduled = await uow.changes.scheduled(sub.id)
            if (
                scheduled is not None
                and scheduled.effective_at <= now
                and await uow.changes.unschedule(sub.id)
            ):
                sub = await apply_scheduled_change(uow, sub, scheduled)
            try:
                status = next_status(sub.status, LifecycleAction.EXPIRE)
            except TransitionRefused:
                return None
            ended = replace(sub, status=status)
            await uow.subscriptions.update(ended)
            if status is SubscriptionStatus.CANCELLED:  # no renewal any more: none to pay
                for order in await uow.renewals.open_orders(sub.id):
                    await uow.orders.set_status(
                        order.id, OrderStatus.CANCELLED, expected=[OrderStatus.PENDING_PAYMENT]
                    )
            action = (
                "subscription.expired"
                if status is SubscriptionStatus.EXPIRED
                else "subscription.ended_cancelled"
            )
            await uow.history.add(
                event(
                    action,
                    ended,
                    now,
                    period_end=sub.current_period_end.isoformat()
                    if sub.current_period_end
                    else None,
                    grace_days=self.grace_days if sub.status is SubscriptionStatus.ACTIVE else 0,
                )
            )
            await tell_owners(
                uow,
                NoticeKind.SUBSCRIPTION_ENDED,
                sub.enterprise_id,
                subscription_params(ended),
                now,
            )
            await uow.commit()
        return ended
