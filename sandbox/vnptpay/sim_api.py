"""Test endpoints under ``/_sim/``: pay without HTML, inspect what happened, switch
misbehaviours on, reset.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.vnptpay.model import Switches
from sandbox.vnptpay.notify import _notify, _settle
from sandbox.vnptpay.protocol import (
    CONFIG_KEY,
    DECLINED_CARD,
    PAYMENT_METHODS,
    STATE_KEY,
    card_problem,
    return_location,
)


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
