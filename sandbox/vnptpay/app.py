"""The VNPT Pay gateway simulator: an aiohttp application speaking ``vnptpay-protocol.md``.

It plays the outside world for the bot: the merchant API (INIT, QUERY), the payer's pages, the
server notification (IPN) with retries, and the browser return. ``/_sim/...`` endpoints let
tests drive payments without HTML, inspect what happened and turn misbehaviours on.

The app works standalone or mounted as a sub-application (``parent.add_subapp(prefix, app)``):
links inside pages are built from the router, and REDIRECT_URL from ``public_base_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from sandbox.vnptpay import pages
from sandbox.vnptpay.model import (
    TX_BUSY,
    TX_FAILED,
    TX_PENDING,
    TX_SUCCESS,
    SimulatorConfig,
    SimulatorState,
    Switches,
    Transaction,
)
from sandbox.vnptpay.signing import matches, sign

log = logging.getLogger(__name__)

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


# --- merchant API ------------------------------------------------------------------------


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


# --- settlement and notification ----------------------------------------------------------


def _settle(tx: Transaction, code: str, method: str, card_last4: str = "") -> None:
    """Record the payer's result. Callers check ``tx.settled`` with no await in between, so a
    token can never be paid twice."""
    tx.status = TX_SUCCESS if code == "00" else TX_FAILED
    tx.response_code = code
    tx.transaction_id = _new_transaction_id()
    tx.payment_method = method
    tx.pay_date = gateway_date(gateway_now())
    tx.card_last4 = card_last4
    log.info("simulator settled %s with %s", tx.merchant_order_id, code)


def notification_for(cfg: SimulatorConfig, tx: Transaction, switches: Switches) -> dict[str, str]:
    values = {
        "ACTION": "CONFIRM",
        "RESPONSE_CODE": tx.response_code,
        "MERCHANT_SERVICE_ID": cfg.merchant_service_id,
        "MERCHANT_ORDER_ID": tx.merchant_order_id,
        "AMOUNT": str(tx.amount + switches.notification_amount_delta),
        "CURRENCY_CODE": "VND",
        "VNPTPAY_TRANSACTION_ID": tx.transaction_id,
        "PAYMENT_METHOD": tx.payment_method,
        "PAY_DATE": tx.pay_date,
        "ADDITIONAL_INFO": "",
    }
    return _signed(cfg, NOTIFICATION, values, wrong=switches.notification_bad_checksum)


async def _notify(app: web.Application, tx: Transaction) -> None:
    """Send the notification per the switches in force now: inline (before the browser is
    redirected), in the background after a delay, or not at all."""
    cfg, state = app[CONFIG_KEY], app[STATE_KEY]
    switches = cfg.switches
    if not cfg.ipn_url:
        tx.notification = "not_configured"
        return
    if switches.drop_notification:
        tx.notification = "dropped"
        return
    message = notification_for(cfg, tx, switches)
    as_json, twice = switches.notification_as_json, switches.notification_twice
    if switches.notification_delay > 0:
        tx.notification = "scheduled"
        delay = switches.notification_delay

        async def later() -> None:
            await state.pause(delay)
            if not state.closing.is_set():
                await _deliver(cfg, state, tx, message, as_json=as_json, twice=twice)

        task = asyncio.create_task(later())
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        return
    await _deliver(cfg, state, tx, message, as_json=as_json, twice=twice)


async def _deliver(
    cfg: SimulatorConfig,
    state: SimulatorState,
    tx: Transaction,
    message: dict[str, str],
    *,
    as_json: bool,
    twice: bool,
) -> None:
    """POST the notification; retry up to ``cfg.ipn_retries`` times unless a reply with a
    valid checksum says 00 or 02. Every attempt is recorded in ``state.notifications``."""
    timeout = aiohttp.ClientTimeout(total=cfg.ipn_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        entry: dict[str, Any] = {}
        for attempt in range(1, cfg.ipn_retries + 2):
            entry = await _post_once(session, cfg, message, as_json, attempt, repeat=False)
            state.record_notification(entry)
            if entry["accepted"] or attempt > cfg.ipn_retries or state.closing.is_set():
                break
            await state.pause(cfg.ipn_retry_delay)
        tx.notification = "delivered" if entry.get("accepted") else "failed"
        tx.notification_reply_code = entry.get("reply_code") or ""
        if twice and not state.closing.is_set():
            state.record_notification(
                await _post_once(session, cfg, message, as_json, 1, repeat=True)
            )


async def _post_once(
    session: aiohttp.ClientSession,
    cfg: SimulatorConfig,
    message: dict[str, str],
    as_json: bool,
    attempt: int,
    *,
    repeat: bool,
) -> dict[str, Any]:
    payload = json.dumps(message, ensure_ascii=False)
    entry: dict[str, Any] = {
        "merchant_order_id": message["MERCHANT_ORDER_ID"],
        "attempt": attempt,
        "repeat": repeat,
        "url": cfg.ipn_url,
        "content_type": "application/json" if as_json else "application/x-www-form-urlencoded",
        "fields": message,
        "sent_at": gateway_now().isoformat(),
        "http_status": None,
        "error": None,
        "reply": None,
        "reply_code": None,
        "reply_checksum_ok": None,
        "reply_fields_in_order": None,
        "accepted": False,
    }
    try:
        if as_json:
            request = session.post(
                cfg.ipn_url,
                data=payload.encode("utf-8"),
                headers={"Content-Type": "application/json"},
            )
        else:
            request = session.post(cfg.ipn_url, data={"data": payload})
        async with request as response:
            entry["http_status"] = response.status
            text = await response.text()
        reply = json.loads(text)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
        return entry
    entry["reply"] = reply
    if isinstance(reply, dict):
        values = [reply.get(name) for name in NOTIFICATION_REPLY]
        signed = all(isinstance(v, str) for v in values)
        entry["reply_code"] = reply.get("RESPONSE_CODE")
        entry["reply_checksum_ok"] = signed and matches(
            [v for v in values if isinstance(v, str)], cfg.secret_key, reply.get("SECURE_CODE")
        )
        entry["reply_fields_in_order"] = list(reply) == [*NOTIFICATION_REPLY, "SECURE_CODE"]
        entry["accepted"] = (
            entry["http_status"] == 200
            and entry["reply_checksum_ok"]
            and entry["reply_code"] in ("00", "02")
        )
    return entry


# --- the payer's pages --------------------------------------------------------------------


def _transaction_for_token(request: web.Request) -> Transaction:
    state = request.app[STATE_KEY]
    order_id = state.by_token.get(request.match_info["token"])
    if order_id is None:
        raise web.HTTPNotFound(text=pages.not_found_page(), content_type="text/html")
    return state.transactions[order_id]


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _url(request: web.Request, name: str, **parts: str) -> str:
    return str(request.app.router[name].url_for(**parts))


def _summary(request: web.Request, tx: Transaction) -> dict[str, Any]:
    return {
        "merchant": request.app[CONFIG_KEY].merchant_name,
        "order_id": tx.merchant_order_id,
        "amount": tx.amount,
        "description": tx.description,
    }


def _result(request: web.Request, tx: Transaction) -> web.Response:
    cfg = request.app[CONFIG_KEY]
    return _html(
        pages.result_page(
            response_code=tx.response_code,
            transaction_id=tx.transaction_id,
            return_link=return_location(cfg, tx),
            **_summary(request, tx),
        )
    )


async def _finish(request: web.Request, tx: Transaction) -> web.Response:
    await _notify(request.app, tx)
    raise web.HTTPFound(return_location(request.app[CONFIG_KEY], tx))


async def handle_page(request: web.Request) -> web.Response:
    tx = _transaction_for_token(request)
    if tx.settled:
        return _result(request, tx)
    action = _url(request, "pay", token=tx.token)
    return _html(pages.choose_page(action=action, **_summary(request, tx)))


async def handle_choose(request: web.Request) -> web.Response:
    tx = _transaction_for_token(request)
    form = await request.post()
    if tx.settled:
        return _result(request, tx)
    if form.get("action") == "cancel":
        _settle(tx, "70", "")
        return await _finish(request, tx)
    method = form.get("method")
    if not isinstance(method, str) or method not in pages.METHODS:
        action = _url(request, "pay", token=tx.token)
        page = pages.choose_page(
            action=action, error="Vui lòng chọn phương thức thanh toán.", **_summary(request, tx)
        )
        return _html(page, status=422)
    tx.status = TX_PENDING
    if method == "intl":
        raise web.HTTPSeeOther(_url(request, "card", token=tx.token))
    raise web.HTTPSeeOther(_url(request, "demo", token=tx.token, method=method))


async def handle_card_page(request: web.Request) -> web.Response:
    tx = _transaction_for_token(request)
    if tx.settled:
        return _result(request, tx)
    action = _url(request, "card", token=tx.token)
    return _html(pages.card_page(action=action, **_summary(request, tx)))


async def handle_card(request: web.Request) -> web.Response:
    tx = _transaction_for_token(request)
    form = await request.post()
    if tx.settled:
        return _result(request, tx)
    method = PAYMENT_METHODS["intl"]
    if form.get("action") == "cancel":
        _settle(tx, "70", method)
        return await _finish(request, tx)
    fields = {name: str(form.get(name, "")) for name in ("card_number", "holder", "expiry", "cvv")}
    problem, digits = card_problem(
        fields["card_number"], fields["holder"], fields["expiry"], fields["cvv"]
    )
    if problem:
        action = _url(request, "card", token=tx.token)
        page = pages.card_page(
            action=action,
            error=problem,
            holder=fields["holder"],
            expiry=fields["expiry"],
            **_summary(request, tx),
        )
        return _html(page, status=422)
    _settle(tx, "01" if digits == DECLINED_CARD else "00", method, digits[-4:])
    return await _finish(request, tx)


async def handle_demo_page(request: web.Request) -> web.Response:
    tx = _transaction_for_token(request)
    if tx.settled:
        return _result(request, tx)
    method = request.match_info["method"]
    action = _url(request, "demo", token=tx.token, method=method)
    return _html(pages.demo_page(action=action, method=method, **_summary(request, tx)))


async def handle_demo(request: web.Request) -> web.Response:
    tx = _transaction_for_token(request)
    form = await request.post()
    if tx.settled:
        return _result(request, tx)
    method = PAYMENT_METHODS[request.match_info["method"]]
    _settle(tx, "70" if form.get("action") == "cancel" else "00", method)
    return await _finish(request, tx)


# --- test endpoints -----------------------------------------------------------------------


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "a JSON object is required"}),
            content_type="application/json",
        )
    return body


async def handle_sim_pay(request: web.Request) -> web.Response:
    """Drive a payment without HTML: ``{"card","holder","expiry","cvv"}`` (international
    card), ``{"method": "wallet"|"atm"}`` or ``{"action": "cancel"}``."""
    cfg, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    body = await _json_body(request)
    tx = state.transactions.get(request.match_info["merchant_order_id"])
    if tx is None:
        return web.json_response({"error": "unknown merchant order id"}, status=404)
    if tx.settled:
        return web.json_response(
            {"error": "already settled", "transaction": tx.as_dict()}, status=409
        )
    method = body.get("method", "intl")
    if method not in PAYMENT_METHODS:
        return web.json_response({"error": f"unknown method {method!r}"}, status=400)
    if body.get("action") == "cancel":
        _settle(tx, "70", "" if "method" not in body else PAYMENT_METHODS[method])
    elif method != "intl":
        _settle(tx, "00", PAYMENT_METHODS[method])
    else:
        values = [str(body.get(k, "")) for k in ("card", "holder", "expiry", "cvv")]
        problem, digits = card_problem(*values)
        if problem:
            return web.json_response({"error": problem}, status=422)
        _settle(tx, "01" if digits == DECLINED_CARD else "00", PAYMENT_METHODS[method], digits[-4:])
    await _notify(request.app, tx)
    return web.json_response(
        {
            "response_code": tx.response_code,
            "transaction": tx.as_dict(),
            "location": return_location(cfg, tx),
        }
    )


async def handle_get_switches(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONFIG_KEY].switches.as_dict())


async def handle_set_switches(request: web.Request) -> web.Response:
    switches = request.app[CONFIG_KEY].switches
    body = await _json_body(request)
    try:
        switches.update(body)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(switches.as_dict())


async def handle_transactions(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response([tx.as_dict() for tx in state.transactions.values()])


async def handle_notifications(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].notifications)


async def handle_requests(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "init_count": state.init_count,
            "query_count": state.query_count,
            "requests": state.requests,
        }
    )


async def handle_reset(request: web.Request) -> web.Response:
    cfg, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    state.reset()
    cfg.switches.update(Switches().as_dict())
    return web.json_response({"ok": True})


# --- the application ----------------------------------------------------------------------


async def _on_shutdown(app: web.Application) -> None:
    app[STATE_KEY].closing.set()


async def _on_cleanup(app: web.Application) -> None:
    tasks = list(app[STATE_KEY].tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_vnptpay_app(config: SimulatorConfig) -> web.Application:
    app = web.Application()
    app[CONFIG_KEY] = config
    app[STATE_KEY] = SimulatorState()
    app.router.add_post(f"{API_PREFIX}/init", handle_init)
    app.router.add_post(f"{API_PREFIX}/query", handle_query)
    page = app.router.add_resource("/pay/{token}", name="pay")
    page.add_route("GET", handle_page)
    page.add_route("POST", handle_choose)
    card = app.router.add_resource("/pay/{token}/card", name="card")
    card.add_route("GET", handle_card_page)
    card.add_route("POST", handle_card)
    demo = app.router.add_resource("/pay/{token}/{method:wallet|atm}", name="demo")
    demo.add_route("GET", handle_demo_page)
    demo.add_route("POST", handle_demo)
    app.router.add_post("/_sim/pay/{merchant_order_id}", handle_sim_pay)
    app.router.add_get("/_sim/switches", handle_get_switches)
    app.router.add_post("/_sim/switches", handle_set_switches)
    app.router.add_get("/_sim/transactions", handle_transactions)
    app.router.add_get("/_sim/notifications", handle_notifications)
    app.router.add_get("/_sim/requests", handle_requests)
    app.router.add_post("/_sim/reset", handle_reset)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


def simulator_state(app: web.Application) -> SimulatorState:
    return app[STATE_KEY]
