"""Money, date and billing-cycle display in Vietnamese and English, and money input."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import PeriodUnit
from domain.errors import InvalidInput
from domain.formatting import (
    format_cycle,
    format_date,
    format_datetime,
    format_money,
    parse_money,
)

NBSP = "\u00a0"


@pytest.mark.parametrize("locale", ["vi", "en", "en-US", "vi_VN"])
@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (1_800_000, "1.800.000 ₫"),
        (0, "0 ₫"),
        (999, "999 ₫"),
        (1_000, "1.000 ₫"),
        (116_449, "116.449 ₫"),
        (1_234_567_890, "1.234.567.890 ₫"),
        (-50_000, "-50.000 ₫"),
    ],
)
def test_format_money_is_the_same_in_both_languages(locale: str, amount: int, shown: str) -> None:
    assert format_money(amount, locale) == shown.replace(" ", NBSP)


def test_format_money_uses_a_no_break_space() -> None:
    text = format_money(1_800_000, "en")
    assert text[-2] == NBSP
    assert " " not in text


@pytest.mark.parametrize("bad", [1.5, True, "1000"])
def test_format_money_refuses_non_int(bad: object) -> None:
    with pytest.raises(TypeError):
        format_money(bad, "vi")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.800.000", 1_800_000),
        ("1800000đ", 1_800_000),
        ("1800000 đ", 1_800_000),
        ("1 800 000 VND", 1_800_000),
        ("1.800.000 ₫", 1_800_000),
        (f"1.800.000{NBSP}₫", 1_800_000),
        ("1,800,000", 1_800_000),
        ("₫1,800,000", 1_800_000),
        ("  250000 vnđ ", 250_000),
        ("250.000 Đ", 250_000),
        ("0", 0),
        ("500", 500),
    ],
)
def test_parse_money_accepts_common_spellings(text: str, amount: int) -> None:
    assert parse_money(text) == amount


@pytest.mark.parametrize(
    "text", ["", "abc", "1.8", "1.80.000", "1,8 triệu", "-1000", "1.800.000 USD", "12.5đ", "đ"]
)
def test_parse_money_refuses_the_rest(text: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        parse_money(text)
    assert excinfo.value.params["reason"] == "money.format"
    assert parse_money(str(excinfo.value.params["example"])) == 1_800_000


@given(st.integers(min_value=0, max_value=10**12))
def test_parse_money_reads_what_format_money_writes(amount: int) -> None:
    assert parse_money(format_money(amount, "vi")) == amount
    assert parse_money(str(amount)) == amount


def test_format_date() -> None:
    assert format_date(dt.date(2026, 3, 5), "vi") == "05/03/2026"
    assert format_date(dt.date(2026, 12, 31), "en") == "31/12/2026"


def test_aware_datetimes_are_shown_in_ho_chi_minh_time() -> None:
    late_utc = dt.datetime(2025, 12, 31, 17, 30, tzinfo=dt.UTC)
    assert format_date(late_utc, "vi") == "01/01/2026"
    assert format_datetime(late_utc, "en") == "01/01/2026 00:30"
    tokyo = dt.datetime(2026, 6, 1, 9, 5, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert format_datetime(tokyo, "vi") == "01/06/2026 07:05"


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert format_datetime(dt.datetime(2026, 1, 2, 3, 4), "vi") == "02/01/2026 10:04"


@pytest.mark.parametrize(
    ("every", "unit", "vi", "en"),
    [
        (1, PeriodUnit.MONTH, "1 tháng", "1 month"),
        (12, PeriodUnit.MONTH, "12 tháng", "12 months"),
        (1, PeriodUnit.YEAR, "1 năm", "1 year"),
        (2, PeriodUnit.YEAR, "2 năm", "2 years"),
        (7, PeriodUnit.DAY, "7 ngày", "7 days"),
        (1, PeriodUnit.DAY, "1 ngày", "1 day"),
        (2, PeriodUnit.WEEK, "2 tuần", "2 weeks"),
        (1, PeriodUnit.WEEK, "1 tuần", "1 week"),
    ],
)
def test_format_cycle(every: int, unit: PeriodUnit, vi: str, en: str) -> None:
    assert format_cycle(every, unit, "vi") == vi
    assert format_cycle(every, unit, "en") == en
    assert format_cycle(every, unit.value, "en-GB") == en


def test_format_cycle_unknown_unit() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        format_cycle(1, "fortnight", "vi")
