"""The payer's pages: choose a method, pay by card or by the demo wallet/ATM, the result."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.vnptpay import pages
from sandbox.vnptpay.model import TX_PENDING, Transaction
from sandbox.vnptpay.notify import _notify, _settle
from sandbox.vnptpay.protocol import (
    CONFIG_KEY,
    DECLINED_CARD,
    PAYMENT_METHODS,
    STATE_KEY,
    card_problem,
    return_location,
)


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
