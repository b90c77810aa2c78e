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

from aiohttp import web

from sandbox.vnptpay.merchant_api import handle_init, handle_query
from sandbox.vnptpay.model import SimulatorConfig, SimulatorState
from sandbox.vnptpay.payer import (
    handle_card,
    handle_card_page,
    handle_choose,
    handle_demo,
    handle_demo_page,
    handle_page,
)
from sandbox.vnptpay.protocol import API_PREFIX, CONFIG_KEY, STATE_KEY
from sandbox.vnptpay.sim_api import (
    handle_get_switches,
    handle_notifications,
    handle_requests,
    handle_reset,
    handle_set_switches,
    handle_sim_pay,
    handle_transactions,
)


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
