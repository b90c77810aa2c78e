"""A subscription's life after registration: periods, renewal, reminders, expiry, transitions.

Pure rules, no I/O; the use cases apply them inside a unit of work.

Periods
    A period runs from ``current_period_start`` (inclusive) to ``current_period_end``
    (exclusive). A renewal paid while the subscription is still alive (before its end, or after
    it but within the grace period) extends from the **old end**, never from the payment date,
    and keeps the anchor day of the month: a subscription started on 31 January and renewed
    monthly ends on 28/29 February, then 31 March (not 28 March), because each end is computed
    from the anchor (the start of the first period) in whole months. A renewal of a subscription
    that has already expired starts a fresh period at the payment time, with a new anchor.

Expiry
    With ``grace_days`` (``RENEWAL_GRACE_DAYS``, default 0) a subscription that was not renewed
    expires at ``period_end + grace_days``. An ACTIVE subscription becomes EXPIRED; one that was
    cancelled at the period end (NON_RENEWING) becomes CANCELLED, as its owner asked.

Reminders
    Reminders go out ``days`` before the period end (7, 3 and 1 by default), each at most once
    per period. When several are due at once (the worker was down), only the most urgent one is
    sent and the earlier ones are dropped, so the owner never receives "7 days left" after
    "3 days left". The reminder key (subscription, period end, days) is what a database
    constraint keeps unique, so workers on several replicas never send one twice.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.billing import _add_months, period_end
from domain.catalog import PeriodUnit
from domain.model import SubscriptionStatus

DEFAULT_REMINDER_DAYS: tuple[int, ...] = (7, 3, 1)
#: A reminder set further out than this is a configuration mistake (a year and a bit).
MAX_REMINDER_DAYS = 400


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime


def _months(unit: PeriodUnit, every: int) -> int | None:
    if unit is PeriodUnit.MONTH:
        return every
    if unit is PeriodUnit.YEAR:
        return 12 * every
    return None


def _months_between(anchor: datetime, later: datetime) -> int:
    return (later.year - anchor.year) * 12 + (later.month - anchor.month)


def first_period(start: datetime, every: int, unit: PeriodUnit) -> Period:
    """The first period of a subscription activated at ``start``."""
    return Period(start, period_end(start, every, unit))


def renewal_period(anchor: datetime, old_end: datetime, every: int, unit: PeriodUnit) -> Period:
    """The period a renewal for ``every`` ``unit``s buys, from the old end, anchor day kept.

    ``anchor`` is the start of the subscription's first period; ``old_end`` the end of the
    current one. For month and year cycles the new end is ``anchor`` plus the whole months up
    to ``old_end`` plus the cycle's months, clamped to the month's last day, so the clamp of a
    short month never drifts into the following periods. Day and week cycles are exact lengths.
    """
    if every < 1:
        raise ValueError(f"every must be ≥ 1, got {every}")
    months = _months(unit, every)
    if months is None:
        return Period(old_end, period_end(old_end, every, unit))
    elapsed = _months_between(anchor, old_end)
    if elapsed < 0 or _add_months(anchor, elapsed) != old_end:
        # old_end is not on the anchor's month grid (a day/week history): plain calendar add
        return Period(old_end, period_end(old_end, every, unit))
    return Period(old_end, _add_months(anchor, elapsed + months))


def expires_at(end: datetime, grace_days: int) -> datetime:
    if grace_days < 0:
        raise ValueError(f"grace_days must be ≥ 0, got {grace_days}")
    return end + timedelta(days=grace_days)


def is_expired(end: datetime | None, now: datetime, grace_days: int) -> bool:
    """Whether a period that ends at ``end`` is over, grace included (no end: never)."""
    return end is not None and now >= expires_at(end, grace_days)


def renewal_from(
    anchor: datetime | None,
    end: datetime | None,
    now: datetime,
    grace_days: int,
    every: int,
    unit: PeriodUnit,
) -> Period:
    """The period a renewal paid at ``now`` buys: from the old end while alive, else from now."""
    if anchor is None or end is None or is_expired(end, now, grace_days):
        return first_period(now, every, unit)
    return renewal_period(anchor, end, every, unit)


def validate_reminder_days(days: Iterable[int]) -> tuple[int, ...]:
    """Reminder offsets, most distant first; a ``ValueError`` names the bad value."""
    seen: set[int] = set()
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int):
            raise ValueError(f"a reminder offset must be a whole number of days, got {day!r}")
        if not 1 <= day <= MAX_REMINDER_DAYS:
            raise ValueError(f"a reminder offset must be 1–{MAX_REMINDER_DAYS} days, got {day}")
        if day in seen:
            raise ValueError(f"reminder offset {day} is given twice")
        seen.add(day)
    return tuple(sorted(seen, reverse=True))


def due_reminder(
    end: datetime, now: datetime, days: Iterable[int], sent: Collection[int] = ()
) -> int | None:
    """The reminder offset to send now for a period ending at ``end``, or ``None``.

    Due offsets are those with ``end - offset days <= now < end``. Of those, only the most
    urgent (the smallest offset) is returned, and only if neither it nor a more urgent one was
    sent already.
    """
    if now >= end:
        return None
    due = [d for d in days if end - timedelta(days=d) <= now]
    if not due:
        return None
    urgent = min(due)
    if any(s <= urgent for s in sent):
        return None
    return urgent


def reminder_key(subscription_code: str, end: datetime, days: int) -> str:
    """What keeps one reminder unique: the subscription, the period end and the offset."""
    return f"{subscription_code}:{end.date().isoformat()}:{days}"


class LifecycleAction(enum.StrEnum):
    ACTIVATE = "activate"  # the first payment (or cash) confirmed
    START_TRIAL = "start_trial"
    RENEW = "renew"  # a renewal paid
    CANCEL_AT_PERIOD_END = "cancel_at_period_end"  # Hủy gia hạn
    RESUME = "resume"  # Tiếp tục gia hạn
    CANCEL_NOW = "cancel_now"  # an agent or admin, with a reason
    EXPIRE = "expire"  # the period (and the grace) is over


S = SubscriptionStatus
A = LifecycleAction

TRANSITIONS: dict[SubscriptionStatus, dict[LifecycleAction, SubscriptionStatus]] = {
    S.FUTURE: {A.ACTIVATE: S.ACTIVE, A.START_TRIAL: S.IN_TRIAL, A.CANCEL_NOW: S.CANCELLED},
    S.IN_TRIAL: {A.ACTIVATE: S.ACTIVE, A.CANCEL_NOW: S.CANCELLED, A.EXPIRE: S.EXPIRED},
    S.ACTIVE: {
        A.RENEW: S.ACTIVE,
        A.CANCEL_AT_PERIOD_END: S.NON_RENEWING,
        A.CANCEL_NOW: S.CANCELLED,
        A.EXPIRE: S.EXPIRED,
    },
    S.NON_RENEWING: {
        A.RENEW: S.ACTIVE,
        A.RESUME: S.ACTIVE,
        A.CANCEL_NOW: S.CANCELLED,
        A.EXPIRE: S.CANCELLED,
    },
    S.EXPIRED: {A.RENEW: S.ACTIVE},
    S.CANCELLED: {},
}


class TransitionRefused(Exception):
    """An action that the subscription's status does not allow (a stale button, a race)."""

    def __init__(self, status: SubscriptionStatus, action: LifecycleAction) -> None:
        super().__init__(f"{action} is not allowed in status {status}")
        self.status = status
        self.action = action


def next_status(status: SubscriptionStatus, action: LifecycleAction) -> SubscriptionStatus:
    try:
        return TRANSITIONS[status][action]
    except KeyError:
        raise TransitionRefused(status, action) from None


def allowed_actions(status: SubscriptionStatus) -> frozenset[LifecycleAction]:
    return frozenset(TRANSITIONS[status])
