"""Billing periods: calendar clamps, leap years, exact units, and add-on units per plan cycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

import pytest

from domain.billing import period_end, periodic_units
from domain.catalog import BillingCycle, PeriodUnit

DAY, WEEK, MONTH, YEAR = PeriodUnit.DAY, PeriodUnit.WEEK, PeriodUnit.MONTH, PeriodUnit.YEAR


@pytest.mark.parametrize(
    ("start", "every", "unit", "end"),
    [
        (date(2026, 1, 15), 1, MONTH, date(2026, 2, 15)),
        (date(2026, 1, 31), 1, MONTH, date(2026, 2, 28)),  # clamp, common year
        (date(2028, 1, 31), 1, MONTH, date(2028, 2, 29)),  # clamp, leap year
        (date(2026, 3, 31), 1, MONTH, date(2026, 4, 30)),
        (date(2026, 8, 31), 1, MONTH, date(2026, 9, 30)),
        (date(2026, 1, 31), 3, MONTH, date(2026, 4, 30)),
        (date(2026, 11, 30), 3, MONTH, date(2027, 2, 28)),  # across a year end
        (date(2026, 12, 31), 1, MONTH, date(2027, 1, 31)),
        (date(2026, 2, 28), 1, MONTH, date(2026, 3, 28)),  # no snapping to month end
        (date(2026, 5, 10), 12, MONTH, date(2027, 5, 10)),
        (date(2026, 5, 10), 25, MONTH, date(2028, 6, 10)),
        (date(2028, 2, 29), 12, MONTH, date(2029, 2, 28)),
    ],
)
def test_months(start: date, every: int, unit: PeriodUnit, end: date) -> None:
    assert period_end(start, every, unit) == end


@pytest.mark.parametrize(
    ("start", "every", "end"),
    [
        (date(2026, 7, 1), 1, date(2027, 7, 1)),
        (date(2028, 2, 29), 1, date(2029, 2, 28)),  # 29 Feb + 1 year = 28 Feb
        (date(2028, 2, 29), 4, date(2032, 2, 29)),  # the next leap year keeps the 29th
        (date(2027, 2, 28), 1, date(2028, 2, 28)),  # no snapping into the leap day
        (date(2100, 2, 28), 1, date(2101, 2, 28)),  # 2100 is not a leap year
    ],
)
def test_years(start: date, every: int, end: date) -> None:
    assert period_end(start, every, YEAR) == end


def test_year_equals_twelve_months() -> None:
    start = date(2024, 2, 29)
    for n in range(1, 9):
        assert period_end(start, n, YEAR) == period_end(start, 12 * n, MONTH)


@pytest.mark.parametrize(
    ("start", "every", "unit", "end"),
    [
        (date(2026, 1, 31), 1, DAY, date(2026, 2, 1)),
        (date(2028, 2, 28), 1, DAY, date(2028, 2, 29)),  # leap day exists
        (date(2026, 2, 28), 1, DAY, date(2026, 3, 1)),  # and here it does not
        (date(2026, 12, 25), 7, DAY, date(2027, 1, 1)),
        (date(2026, 1, 1), 30, DAY, date(2026, 1, 31)),
        (date(2026, 1, 1), 365, DAY, date(2027, 1, 1)),
        (date(2028, 1, 1), 365, DAY, date(2028, 12, 31)),  # 2028 has 366 days
        (date(2026, 12, 28), 1, WEEK, date(2027, 1, 4)),
        (date(2028, 2, 26), 2, WEEK, date(2028, 3, 11)),
        (date(2026, 2, 26), 2, WEEK, date(2026, 3, 12)),
    ],
)
def test_days_and_weeks(start: date, every: int, unit: PeriodUnit, end: date) -> None:
    assert period_end(start, every, unit) == end


def test_datetime_keeps_time_and_zone() -> None:
    ict = timezone(timedelta(hours=7))
    start = datetime(2026, 1, 31, 23, 45, 10, 500, tzinfo=ict)
    end = period_end(start, 1, MONTH)
    assert end == datetime(2026, 2, 28, 23, 45, 10, 500, tzinfo=ict)
    assert end.tzinfo is ict
    utc = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert period_end(utc, 2, WEEK) == datetime(2026, 3, 15, tzinfo=UTC)
    assert type(period_end(date(2026, 1, 1), 1, DAY)) is date


@pytest.mark.parametrize("every", [0, -1])
def test_period_of_no_length_is_refused(every: int) -> None:
    with pytest.raises(ValueError, match="every"):
        period_end(date(2026, 1, 1), every, MONTH)


def test_renewing_from_the_anchor_keeps_the_day() -> None:
    anchor = date(2026, 1, 31)
    from_anchor = [period_end(anchor, n, MONTH) for n in range(1, 4)]
    assert from_anchor == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    chained = period_end(period_end(anchor, 1, MONTH), 1, MONTH)
    assert chained == date(2026, 3, 28)  # the drift the docstring warns about


def _cycle(every: int, unit: PeriodUnit) -> BillingCycle:
    return BillingCycle(code=f"{unit}{every}", every=every, unit=unit, price=0)


@pytest.mark.parametrize(
    ("every", "cycle_unit", "addon_unit", "units"),
    [
        (12, MONTH, MONTH, Fraction(12)),
        (1, MONTH, MONTH, Fraction(1)),
        (1, YEAR, MONTH, Fraction(12)),  # same as a 12-month cycle
        (2, YEAR, MONTH, Fraction(24)),
        (6, MONTH, YEAR, Fraction(1, 2)),
        (3, YEAR, YEAR, Fraction(3)),
        (2, WEEK, DAY, Fraction(14)),
        (10, DAY, WEEK, Fraction(10, 7)),
        (7, DAY, MONTH, Fraction(7, 30)),  # pro rata, 30-day month
        (1, WEEK, MONTH, Fraction(7, 30)),
        (1, MONTH, DAY, Fraction(30)),
        (1, YEAR, DAY, Fraction(360)),  # 30/360: a year is 12 × 30 days
        (12, MONTH, DAY, Fraction(360)),
        (1, YEAR, WEEK, Fraction(360, 7)),
        (30, DAY, YEAR, Fraction(1, 12)),
    ],
)
def test_periodic_units(
    every: int, cycle_unit: PeriodUnit, addon_unit: PeriodUnit, units: Fraction
) -> None:
    assert periodic_units(_cycle(every, cycle_unit), addon_unit) == units


def test_twelve_months_and_one_year_bill_the_same_for_every_unit() -> None:
    for unit in PeriodUnit:
        assert periodic_units(_cycle(12, MONTH), unit) == periodic_units(_cycle(1, YEAR), unit)
