"""Settlement of a transaction and the server notification (IPN) with its retries."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.vnptpay.model import (
    TX_FAILED,
    TX_SUCCESS,
    SimulatorConfig,
    SimulatorState,
    Switches,
    Transaction,
)
from sandbox.vnptpay.protocol import (
    CONFIG_KEY,
    NOTIFICATION,
    NOTIFICATION_REPLY,
    STATE_KEY,
    _new_transaction_id,
    _signed,
    gateway_date,
    gateway_now,
)
from sandbox.vnptpay.signing import matches

log = logging.getLogger(__name__)


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
