"""Billing periods: where a period ends, and how many add-on units one plan cycle holds.

Calendar rules:

* ``day`` and ``week`` periods are exact lengths (1 and 7 days).
* ``month`` and ``year`` periods move the calendar month/year and keep the day of the month,
  clamped to the last day of the target month: 31 Jan + 1 month = 28 Feb (29 Feb in a leap
  year), 29 Feb + 1 year = 28 Feb. Because of the clamp, renewing period after period from the
  previous end drifts (31 Jan → 28 Feb → 28 Mar); compute the n-th end from the original start
  with ``every * n`` to keep the anchor day.
* A ``datetime`` keeps its time of day and ``tzinfo``; the arithmetic is wall-clock arithmetic
  in that zone, which is exact for Asia/Ho_Chi_Minh (no daylight saving time) and for UTC. The
  month clamp depends on the calendar date, so convert a UTC instant to Asia/Ho_Chi_Minh first
  (31 Jan 20:00 UTC is already 1 Feb in Vietnam).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import TypeVar

from domain.catalog import BillingCycle, PeriodUnit

_D = TypeVar("_D", date, datetime)

#: Length of each unit in days under the 30/360 day-count convention. Only used to convert
#: between the exact units (day, week) and the calendar units (month, year).
DAYS_30_360: dict[PeriodUnit, int] = {
    PeriodUnit.DAY: 1,
    PeriodUnit.WEEK: 7,
    PeriodUnit.MONTH: 30,
    PeriodUnit.YEAR: 360,
}


def _add_months(day: _D, months: int) -> _D:
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = calendar.monthrange(year, month)[1]
    return day.replace(year=year, month=month, day=min(day.day, last))


def period_end(start: _D, every: int, unit: PeriodUnit) -> _D:
    """The end of a period of ``every`` ``unit``s starting at ``start`` (exclusive end).

    Returns the same type as ``start`` (``date`` or ``datetime``). ``every`` must be ≥ 1: a
    cycle of zero length is a catalog error, so a ``ValueError`` here is a programming error.
    """
    if every < 1:
        raise ValueError(f"every must be ≥ 1, got {every}")
    if unit is PeriodUnit.DAY:
        return start + timedelta(days=every)
    if unit is PeriodUnit.WEEK:
        return start + timedelta(weeks=every)
    if unit is PeriodUnit.MONTH:
        return _add_months(start, every)
    return _add_months(start, 12 * every)


def periodic_units(cycle: BillingCycle, addon_unit: PeriodUnit) -> Fraction:
    """How many ``addon_unit``s one plan ``cycle`` holds: a periodic add-on bills this × price.

    * Same unit: ``cycle.every`` (a per-month add-on on a 12-month cycle: 12).
    * Month ↔ year: exact, a year is 12 months (per month on a 1-year cycle: 12; per year on a
      6-month cycle: 1/2).
    * Day ↔ week: exact, a week is 7 days.
    * Between the exact units (day, week) and the calendar units (month, year): pro rata by
      days under the 30/360 convention, a month being 30 days and a year 360 days, so that a
      12-month cycle and a 1-year cycle always bill the same (per month on a 7-day cycle:
      7/30; per day on a 1-month cycle: 30; per day on a 1-year cycle: 360).

    The result is an exact ``Fraction`` (7/30 has no finite decimal expansion); the pricing
    rounds ``price × units`` half-up to whole đồng once, at the add-on's line amount.
    """
    if cycle.every < 1:
        raise ValueError(f"cycle {cycle.code}: every must be ≥ 1, got {cycle.every}")
    return Fraction(cycle.every * DAYS_30_360[cycle.unit], DAYS_30_360[addon_unit])
