"""The subscription life-cycle rules: renewal periods, expiry with grace, reminders, transitions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.catalog import PeriodUnit
from domain.constants import VN_TZ
from domain.lifecycle import (
    TRANSITIONS,
    LifecycleAction,
    TransitionRefused,
    allowed_actions,
    due_reminder,
    expires_at,
    first_period,
    is_expired,
    next_status,
    reminder_key,
    renewal_from,
    renewal_period,
    validate_reminder_days,
)
from domain.model import SubscriptionStatus as S

M = PeriodUnit.MONTH


def at(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("anchor", "old_end", "every", "unit", "new_end"),
    [
        # month ends: the anchor day comes back after a short month
        (at(2026, 1, 31), at(2026, 2, 28), 1, M, at(2026, 3, 31)),
        (at(2026, 1, 31), at(2026, 3, 31), 1, M, at(2026, 4, 30)),
        (at(2026, 1, 31), at(2026, 4, 30), 1, M, at(2026, 5, 31)),
        # leap years
        (at(2028, 1, 31), at(2028, 2, 29), 1, M, at(2028, 3, 31)),
        (at(2028, 2, 29), at(2029, 2, 28), 1, PeriodUnit.YEAR, at(2030, 2, 28)),
        (at(2028, 2, 29), at(2031, 2, 28), 1, PeriodUnit.YEAR, at(2032, 2, 29)),
        # another cycle of the plan at renewal: 1-month history, renewed for 12 months
        (at(2026, 1, 31), at(2026, 2, 28), 12, M, at(2027, 2, 28)),
        (at(2026, 1, 31), at(2026, 3, 31), 6, M, at(2026, 9, 30)),
        # exact units
        (at(2026, 1, 1), at(2026, 1, 8), 1, PeriodUnit.WEEK, at(2026, 1, 15)),
        (at(2026, 1, 1), at(2026, 1, 31), 30, PeriodUnit.DAY, at(2026, 3, 2)),
    ],
)
def test_renewal_extends_from_old_end_keeping_the_anchor_day(
    anchor: datetime, old_end: datetime, every: int, unit: PeriodUnit, new_end: datetime
) -> None:
    period = renewal_period(anchor, old_end, every, unit)
    assert period.start == old_end
    assert period.end == new_end


def test_renewal_keeps_time_of_day_and_zone() -> None:
    period = renewal_period(at(2026, 1, 31, 14), at(2026, 2, 28, 14), 1, M)
    assert period.end == at(2026, 3, 31, 14)
    assert period.end.tzinfo is VN_TZ


def test_renewal_of_a_day_cycle_history_with_a_month_cycle_adds_plainly() -> None:
    # old end not on the anchor's month grid: one calendar month from the old end
    period = renewal_period(at(2026, 1, 31), at(2026, 3, 2), 1, M)
    assert period.end == at(2026, 4, 2)
    period = renewal_period(at(2026, 1, 10), at(2026, 3, 20), 1, M)
    assert period.end == at(2026, 4, 20)
    # an anchor after the old end (a corrupt record) does not go backwards
    period = renewal_period(at(2026, 5, 1), at(2026, 3, 1), 1, M)
    assert period.end == at(2026, 4, 1)


def test_renewal_rejects_a_zero_cycle() -> None:
    with pytest.raises(ValueError, match="every"):
        renewal_period(at(2026, 1, 1), at(2026, 2, 1), 0, M)


def test_renewal_before_the_end_counts_from_the_old_end_not_the_payment() -> None:
    paid = at(2026, 2, 20)
    period = renewal_from(at(2026, 1, 31), at(2026, 2, 28), paid, 0, 1, M)
    assert period.start == at(2026, 2, 28)
    assert period.end == at(2026, 3, 31)


def test_renewal_after_the_end_within_grace_still_counts_from_the_old_end() -> None:
    paid = at(2026, 3, 2)
    period = renewal_from(at(2026, 1, 31), at(2026, 2, 28), paid, 3, 1, M)
    assert (period.start, period.end) == (at(2026, 2, 28), at(2026, 3, 31))


def test_renewal_after_expiry_starts_afresh_at_payment() -> None:
    paid = at(2026, 3, 5, 11)
    period = renewal_from(at(2026, 1, 31), at(2026, 2, 28), paid, 3, 1, M)
    assert (period.start, period.end) == (paid, at(2026, 4, 5, 11))
    assert renewal_from(None, None, paid, 0, 1, M) == first_period(paid, 1, M)


def test_expiry_honours_the_grace_period() -> None:
    end = at(2026, 2, 28)
    assert expires_at(end, 0) == end
    assert expires_at(end, 2) == end + timedelta(days=2)
    assert not is_expired(end, end - timedelta(seconds=1), 0)
    assert is_expired(end, end, 0)
    assert not is_expired(end, end + timedelta(days=1), 2)
    assert is_expired(end, end + timedelta(days=2), 2)
    assert not is_expired(None, end, 0)
    with pytest.raises(ValueError):
        expires_at(end, -1)


END = at(2026, 3, 31)
DAYS = (7, 3, 1)


@pytest.mark.parametrize(
    ("now", "sent", "expected"),
    [
        (END - timedelta(days=8), (), None),
        (END - timedelta(days=7), (), 7),
        (END - timedelta(days=5), (), 7),
        (END - timedelta(days=5), (7,), None),
        (END - timedelta(days=3), (7,), 3),
        (END - timedelta(days=2), (), 3),  # the 7-day one missed: only the urgent one
        (END - timedelta(hours=1), (), 1),
        (END - timedelta(hours=1), (3,), 1),
        (END - timedelta(hours=1), (1,), None),
        (END - timedelta(days=5), (3,), None),  # never a less urgent one after a more urgent
        (END, (), None),
        (END + timedelta(days=1), (), None),
    ],
)
def test_due_reminder(now: datetime, sent: tuple[int, ...], expected: int | None) -> None:
    assert due_reminder(END, now, DAYS, sent) == expected


def test_reminder_key_is_per_subscription_period_and_offset() -> None:
    assert reminder_key("SUB1", END, 3) == "SUB1:2026-03-31:3"
    assert reminder_key("SUB1", END, 3) != reminder_key("SUB1", END, 1)
    assert reminder_key("SUB1", END, 3) != reminder_key("SUB1", at(2026, 4, 30), 3)


def test_validate_reminder_days() -> None:
    assert validate_reminder_days([1, 7, 3]) == (7, 3, 1)
    assert validate_reminder_days([]) == ()
    bad_lists: list[list[Any]] = [[0], [-1], [401], [3, 3], [True], ["7"]]
    for bad in bad_lists:
        with pytest.raises(ValueError):
            validate_reminder_days(bad)


A = LifecycleAction


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        (S.FUTURE, A.ACTIVATE, S.ACTIVE),
        (S.FUTURE, A.START_TRIAL, S.IN_TRIAL),
        (S.IN_TRIAL, A.ACTIVATE, S.ACTIVE),
        (S.IN_TRIAL, A.EXPIRE, S.EXPIRED),
        (S.ACTIVE, A.RENEW, S.ACTIVE),
        (S.ACTIVE, A.CANCEL_AT_PERIOD_END, S.NON_RENEWING),
        (S.ACTIVE, A.EXPIRE, S.EXPIRED),
        (S.ACTIVE, A.CANCEL_NOW, S.CANCELLED),
        (S.NON_RENEWING, A.RESUME, S.ACTIVE),
        (S.NON_RENEWING, A.RENEW, S.ACTIVE),
        (S.NON_RENEWING, A.EXPIRE, S.CANCELLED),
        (S.EXPIRED, A.RENEW, S.ACTIVE),
    ],
)
def test_transitions(status: S, action: LifecycleAction, after: S) -> None:
    assert next_status(status, action) is after
    assert action in allowed_actions(status)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.CANCELLED, A.RENEW),
        (S.CANCELLED, A.RESUME),
        (S.ACTIVE, A.RESUME),
        (S.NON_RENEWING, A.CANCEL_AT_PERIOD_END),
        (S.EXPIRED, A.CANCEL_AT_PERIOD_END),
        (S.FUTURE, A.RENEW),
        (S.EXPIRED, A.EXPIRE),
    ],
)
def test_refused_transitions(status: S, action: LifecycleAction) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_status(status, action)
    assert refused.value.status is status
    assert refused.value.action is action


def test_every_status_has_a_transition_row() -> None:
    assert set(TRANSITIONS) == set(S)
    assert allowed_actions(S.CANCELLED) == frozenset()
