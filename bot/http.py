"""The bot's HTTP server (aiohttp): health, readiness, metrics, the Telegram webhook, and the
routes other parts mount (the VNPT Pay notification and return page).

``/healthz`` says the process is up; ``/readyz`` runs every readiness check (the database's
``SELECT 1``, Redis' ``PING`` when configured) and answers 503 naming the ones that failed;
``/metrics`` is the Prometheus text format.

``POST /telegram/webhook`` compares ``X-Telegram-Bot-Api-Secret-Token`` with ``WEBHOOK_SECRET``
in constant time (401 when it differs), then hands the update to the bot and answers 200 once
it has been handled, so Telegram's delivery waits for us and a crash makes Telegram retry.
While the app is shutting down, new updates get 503 (Telegram delivers them again later).
When ``feed`` raises :class:`RetryLater` (the update's chat is locked longer than a handler
may wait, e.g. by a replica that died holding it) the answer is 429 and Telegram delivers the
update again later; nginx does not pass a 429 on to another replica.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.metrics import CONTENT_TYPE, Metrics

__all__ = [
    "SECRET_HEADER",
    "WEBHOOK_PATH",
    "Handler",
    "RetryLater",
    "RouteDef",
    "WebhookEndpoint",
    "create_http_app",
]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
READINESS_TIMEOUT_SECONDS = 3.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ReadinessCheck = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RouteDef:
    """A route another package serves on the bot's HTTP server, e.g.
    ``RouteDef("POST", "/payments/vnptpay/ipn", ipn_handler)``."""

    method: str
    path: str
    handler: Handler


class RetryLater(Exception):
    """The update cannot be handled now: answer 429 so that Telegram delivers it again."""


class WebhookEndpoint:
    """``POST /telegram/webhook``: the secret check, then ``feed(update_json)``."""

    def __init__(
        self,
        feed: Callable[[dict[str, Any]], Awaitable[None]],
        secret: str | None,
    ) -> None:
        self._feed = feed
        self._secret = secret.encode() if secret else None
        self.accepting = True

    def authorised(self, request: web.Request) -> bool:
        if self._secret is None:
            return True
        given = request.headers.get(SECRET_HEADER, "").encode()
        return hmac.compare_digest(given, self._secret)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.authorised(request):
            log.warning("webhook call refused: wrong or missing secret token")
            return web.Response(status=401, text="unauthorized")
        if not self.accepting:
            return web.Response(status=503, text="shutting down")
        try:
            update = await request.json(loads=json.loads)
        except ValueError:
            return web.Response(status=400, text="bad update")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400, text="bad update")
        try:
            await self._feed(update)
        except RetryLater:
            return web.Response(status=429, text="busy: deliver again later")
        return web.Response(status=200)


def create_http_app(
    *,
    metrics: Metrics,
    readiness: Mapping[str, ReadinessCheck],
    webhook: WebhookEndpoint | None = None,
    extra_routes: Sequence[RouteDef] = (),
) -> web.Application:
    app = web.Application()

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if webhook is not None and not webhook.accepting:
            # draining after SIGTERM: the load balancer sends new webhooks elsewhere
            return web.Response(status=503, text="not ready: draining")
        names = list(readiness)
        results = await asyncio.gather(
            *(asyncio.wait_for(readiness[n](), READINESS_TIMEOUT_SECONDS) for n in names),
            return_exceptions=True,
        )
        failed = [n for n, r in zip(names, results, strict=True) if isinstance(r, BaseException)]
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("readiness check %s failed: %s", name, type(result).__name__)
        if failed:
            return web.Response(status=503, text="not ready: " + ", ".join(failed))
        return web.Response(text="ready: " + ", ".join(names))

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    if webhook is not None:
        app.router.add_post(WEBHOOK_PATH, webhook.handle)
    for route in extra_routes:
        app.router.add_route(route.method, route.path, route.handler)
    return app
