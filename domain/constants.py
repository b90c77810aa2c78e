"""The fixed facts of the market the rules refer to: Vietnam's time zone and the limits that
more than one layer needs. Defined once; every other module imports them from here."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

#: Vietnam's civil time (UTC+7, no daylight saving): billing dates, gateway timestamps, display
VN_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")

#: an order paid in cash at or above this total (đồng, VAT included) must carry the VAT note
CASH_VAT_LIMIT: Final = 5_000_000

#: the largest quantity a unit-priced plan may be ordered with
MAX_QUANTITY: Final = 10_000

#: wrong typed answers in a row before the prompt offers a way out
MAX_FAILURES: Final = 3
