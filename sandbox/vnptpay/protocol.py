"""What the simulator's messages hold and how the gateway checks them: app keys, the
fields of each message, card rules, gateway time, signing and the return link.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from sandbox.vnptpay.model import SimulatorConfig, SimulatorState, Transaction
from sandbox.vnptpay.signing import sign

CONFIG_KEY = web.AppKey("vnptpay_config", SimulatorConfig)
STATE_KEY = web.AppKey("vnptpay_state", SimulatorState)

GATEWAY_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
API_PREFIX = "/rest/payment/v1.0.6"

INIT_REQUEST = (
    "ACTION",
    "VERSION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "AMOUNT",
    "SERVICE_ID",
    "DEVICE",
    "LOCALE",
    "CURRENCY_CODE",
    "PAYMENT_METHOD",
    "DESCRIPTION",
    "CREATE_DATE",
    "CLIENT_IP",
)
INIT_ANSWER = (
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "REDIRECT_URL",
)
QUERY_REQUEST = ("ACTION", "VERSION", "MERCHANT_SERVICE_ID", "MERCHANT_ORDER_ID", "CREATE_DATE")
QUERY_ANSWER = (
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "VNPTPAY_TRANSACTION_ID",
    "AMOUNT",
    "CURRENCY_CODE",
    "PAYMENT_METHOD",
    "PAY_DATE",
    "TRANSACTION_STATUS",
)
NOTIFICATION = (
    "ACTION",
    "RESPONSE_CODE",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "AMOUNT",
    "CURRENCY_CODE",
    "VNPTPAY_TRANSACTION_ID",
    "PAYMENT_METHOD",
    "PAY_DATE",
    "ADDITIONAL_INFO",
)
NOTIFICATION_REPLY = (
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "CREATE_DATE",
)

SUCCEEDING_CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"
PAYMENT_METHODS = {"wallet": "VNPTPAY", "atm": "ATM", "intl": "INTERNATIONAL_CARD"}
ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,50}")
WHOLE_AMOUNT = re.compile(r"[1-9][0-9]{0,14}")
EXPIRY = re.compile(r"(0[1-9]|1[0-2])/([0-9]{2})")


def gateway_now() -> datetime:
    return datetime.now(GATEWAY_TZ)


def gateway_date(moment: datetime) -> str:
    return moment.astimezone(GATEWAY_TZ).strftime("%Y%m%d%H%M%S")


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_problem(number: str, holder: str, expiry: str, cvv: str) -> tuple[str, str]:
    """``(message, digits)``: a Vietnamese message when the card form must be refused."""
    digits = re.sub(r"[\s-]", "", number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        return "Số thẻ không hợp lệ. Vui lòng kiểm tra lại.", digits
    if not holder.strip():
        return "Vui lòng nhập tên chủ thẻ.", digits
    match = EXPIRY.fullmatch(expiry.strip())
    if not match:
        return "Ngày hết hạn phải có dạng MM/YY.", digits
    month, year = int(match.group(1)), 2000 + int(match.group(2))
    now = gateway_now()
    if (year, month) < (now.year, now.month):
        return "Thẻ đã hết hạn.", digits
    if not re.fullmatch(r"[0-9]{3,4}", cvv.strip()):
        return "Mã CVV không hợp lệ.", digits
    return "", digits


def _new_transaction_id() -> str:
    return str(10**13 + secrets.randbelow(9 * 10**13))


def _signed(
    cfg: SimulatorConfig, names: tuple[str, ...], values: Mapping[str, str], *, wrong: bool = False
) -> dict[str, str]:
    answer = {name: values.get(name, "") for name in names}
    secret = cfg.secret_key + ("-wrong" if wrong else "")
    answer["SECURE_CODE"] = sign(answer.values(), secret)
    return answer


def return_location(cfg: SimulatorConfig, tx: Transaction) -> str:
    """The browser return: ``secureCode = sha256(data|vnptpayResponseCode|secret)``."""
    query = urlencode(
        [
            ("vnptpayResponseCode", tx.response_code),
            ("data", tx.merchant_order_id),
            ("secureCode", sign([tx.merchant_order_id, tx.response_code], cfg.secret_key)),
        ]
    )
    return cfg.return_url + ("&" if "?" in cfg.return_url else "?") + query
