"""The merchant API: INIT and QUERY, checked like the gateway checks them."""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
from datetime import datetime
from typing import Any

from aiohttp import web

from sandbox.vnptpay.model import TX_BUSY, SimulatorConfig, SimulatorState, Transaction
from sandbox.vnptpay.protocol import (
    CONFIG_KEY,
    GATEWAY_TZ,
    INIT_ANSWER,
    INIT_REQUEST,
    ORDER_ID,
    QUERY_ANSWER,
    QUERY_REQUEST,
    STATE_KEY,
    WHOLE_AMOUNT,
    _signed,
    gateway_now,
)
from sandbox.vnptpay.signing import matches

log = logging.getLogger(__name__)


async def _read_call(request: web.Request, action: str) -> tuple[Any, bool]:
    cfg = request.app[CONFIG_KEY]
    state = request.app[STATE_KEY]
    authorized = request.headers.get("Authorization", "") == f"Bearer {cfg.api_key}"
    raw = await request.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    state.record_request(
        {
            "action": action,
            "authorized": authorized,
            "content_type": request.content_type,
            "fields": list(body) if isinstance(body, dict) else None,
            "body": body if isinstance(body, dict) else raw.decode("utf-8", "replace"),
        }
    )
    return body, authorized


def _unauthorized() -> web.Response:
    return web.json_response(
        {"RESPONSE_CODE": "01", "DESCRIPTION": "Invalid or missing API key"}, status=401
    )


def _shape_problem(body: Any, names: tuple[str, ...]) -> str:
    if not isinstance(body, dict):
        return "Body must be a JSON object"
    expected = (*names, "SECURE_CODE")
    for name in expected:
        if name not in body:
            return f"Missing field {name}"
        if not isinstance(body[name], str):
            return f"Field {name} must be a string"
    for name in body:
        if name not in expected:
            return f"Unexpected field {name}"
    return ""


def _date_problem(value: str, name: str, max_skew: float | None) -> str:
    if len(value) != 14 or not value.isdigit():
        return f"{name} must be yyyyMMddHHmmss"
    try:
        moment = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=GATEWAY_TZ)
    except ValueError:
        return f"{name} is not a valid date"
    if max_skew is not None and abs((gateway_now() - moment).total_seconds()) > max_skew:
        return f"{name} is too far from the gateway's time (Asia/Ho_Chi_Minh)"
    return ""


def _init_value_problem(body: dict[str, str], cfg: SimulatorConfig) -> str:
    if body["ACTION"] != "INIT":
        return "ACTION must be INIT"
    if body["VERSION"] != "1.0.6":
        return "Unsupported VERSION"
    if not ORDER_ID.fullmatch(body["MERCHANT_ORDER_ID"]):
        return "MERCHANT_ORDER_ID must be 1-50 characters of [A-Za-z0-9_-]"
    if not WHOLE_AMOUNT.fullmatch(body["AMOUNT"]):
        return "AMOUNT must be a positive whole number of dong"
    if not body["SERVICE_ID"].isdigit() or not body["DEVICE"].isdigit():
        return "SERVICE_ID and DEVICE must be numeric"
    if body["LOCALE"] not in ("vi-VN", "en-US"):
        return "LOCALE must be vi-VN or en-US"
    if body["CURRENCY_CODE"] != "VND":
        return "CURRENCY_CODE must be VND"
    if body["PAYMENT_METHOD"] != "VNPTPAY":
        return "PAYMENT_METHOD must be VNPTPAY"
    description = body["DESCRIPTION"]
    if len(description) > 255 or any(not " " <= ch <= "~" for ch in description):
        return "DESCRIPTION must be printable ASCII, at most 255 characters"
    problem = _date_problem(body["CREATE_DATE"], "CREATE_DATE", cfg.max_clock_skew_seconds)
    if problem:
        return problem
    try:
        ipaddress.ip_address(body["CLIENT_IP"])
    except ValueError:
        return "CLIENT_IP must be an IP address"
    return ""


def _process_init(body: Any, cfg: SimulatorConfig, state: SimulatorState) -> dict[str, str]:
    """The INIT answer's values (unsigned); records the order on success."""

    def answer(code: str, description: str, url: str = "") -> dict[str, str]:
        echo = body if isinstance(body, dict) else {}
        msid, moid = echo.get("MERCHANT_SERVICE_ID"), echo.get("MERCHANT_ORDER_ID")
        return {
            "RESPONSE_CODE": code,
            "DESCRIPTION": description,
            "MERCHANT_SERVICE_ID": msid if isinstance(msid, str) else "",
            "MERCHANT_ORDER_ID": moid if isinstance(moid, str) else "",
            "REDIRECT_URL": url,
        }

    problem = _shape_problem(body, INIT_REQUEST)
    if problem:
        return answer("02", problem)
    if body["MERCHANT_SERVICE_ID"] != cfg.merchant_service_id:
        return answer("09", "Unknown merchant service")
    if not matches([body[name] for name in INIT_REQUEST], cfg.secret_key, body["SECURE_CODE"]):
        return answer("07", "Invalid checksum")
    problem = _init_value_problem(body, cfg)
    if problem:
        return answer("02", problem)
    order_id = body["MERCHANT_ORDER_ID"]
    if order_id in state.transactions:
        return answer("03", "Duplicate MERCHANT_ORDER_ID")
    token = secrets.token_urlsafe(18)
    state.transactions[order_id] = Transaction(
        merchant_order_id=order_id,
        token=token,
        amount=int(body["AMOUNT"]),
        description=body["DESCRIPTION"],
        locale=body["LOCALE"],
        create_date=body["CREATE_DATE"],
        client_ip=body["CLIENT_IP"],
    )
    state.by_token[token] = order_id
    log.info("simulator INIT %s amount=%s", order_id, body["AMOUNT"])
    return answer("00", "Success", f"{cfg.public_base_url.rstrip('/')}/pay/{token}")


async def handle_init(request: web.Request) -> web.Response:
    cfg, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    state.init_count += 1
    body, authorized = await _read_call(request, "INIT")
    if not authorized:
        return _unauthorized()
    switches = cfg.switches
    stall = switches.init_timeouts > 0
    if stall:
        switches.init_timeouts -= 1
        if switches.init_timeout_lost:
            await state.pause(switches.init_timeout_seconds)
            return web.json_response({"error": "request lost"}, status=504)
    values = _process_init(body, cfg, state)
    answer = _signed(cfg, INIT_ANSWER, values, wrong=switches.init_bad_checksum)
    if stall:
        await state.pause(switches.init_timeout_seconds)
    return web.json_response(answer)


def _process_query(body: Any, cfg: SimulatorConfig, state: SimulatorState) -> dict[str, str]:
    def answer(code: str, description: str, **values: str) -> dict[str, str]:
        echo = body if isinstance(body, dict) else {}
        msid, moid = echo.get("MERCHANT_SERVICE_ID"), echo.get("MERCHANT_ORDER_ID")
        return {
            "RESPONSE_CODE": code,
            "DESCRIPTION": description,
            "MERCHANT_SERVICE_ID": msid if isinstance(msid, str) else "",
            "MERCHANT_ORDER_ID": moid if isinstance(moid, str) else "",
            **values,
        }

    problem = _shape_problem(body, QUERY_REQUEST)
    if problem:
        return answer("02", problem)
    if body["MERCHANT_SERVICE_ID"] != cfg.merchant_service_id:
        return answer("09", "Unknown merchant service")
    if not matches([body[name] for name in QUERY_REQUEST], cfg.secret_key, body["SECURE_CODE"]):
        return answer("07", "Invalid checksum")
    if body["ACTION"] != "QUERY" or body["VERSION"] != "1.0.6":
        return answer("02", "ACTION must be QUERY and VERSION 1.0.6")
    problem = _date_problem(body["CREATE_DATE"], "CREATE_DATE", None)
    if problem:
        return answer("02", problem)
    if cfg.switches.query_busy:
        return answer("00", "Gateway busy, ask again later", TRANSACTION_STATUS=TX_BUSY)
    tx = state.transactions.get(body["MERCHANT_ORDER_ID"])
    if tx is None or tx.create_date != body["CREATE_DATE"]:
        return answer("05", "Transaction not found")
    return answer(
        "00",
        "Success",
        VNPTPAY_TRANSACTION_ID=tx.transaction_id,
        AMOUNT=str(tx.amount),
        CURRENCY_CODE="VND",
        PAYMENT_METHOD=tx.payment_method,
        PAY_DATE=tx.pay_date,
        TRANSACTION_STATUS=tx.status,
    )


async def handle_query(request: web.Request) -> web.Response:
    cfg, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    state.query_count += 1
    body, authorized = await _read_call(request, "QUERY")
    if not authorized:
        return _unauthorized()
    values = _process_query(body, cfg, state)
    return web.json_response(
        _signed(cfg, QUERY_ANSWER, values, wrong=cfg.switches.query_bad_checksum)
    )
