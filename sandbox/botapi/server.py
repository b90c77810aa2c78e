"""The aiohttp application serving the Bot API (``/bot<token>/<method>``), file downloads
(``/file/bot<token>/<path>``) and the simulated users' API (``/_sim/...``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.botapi.dispatch import call_api, loggable, read_multipart
from sandbox.botapi.errors import ApiError
from sandbox.botapi.sim_http import STATE_KEY, add_sim_routes
from sandbox.botapi.spec import UploadedFile
from sandbox.botapi.state import BotApiState
from sandbox.botapi.webhook import WebhookDelivery

__all__ = [
    "MAX_REQUEST_BYTES",
    "STATE_KEY",
    "BotApiServer",
    "create_botapi_app",
    "read_params",
    "run_botapi_server",
    "setup_botapi",
]

MAX_REQUEST_BYTES = 52 * 1024 * 1024
"""Room for a 50 MB sendDocument upload plus the form around it."""


def create_botapi_app(state: BotApiState) -> web.Application:
    """A standalone application serving the local Bot API for ``state``."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    setup_botapi(app, state)
    return app


def setup_botapi(app: web.Application, state: BotApiState) -> None:
    """Add the Bot API, file and ``/_sim`` routes and the webhook delivery to ``app``.

    For an application made elsewhere (the one-port sandbox); create it with
    ``client_max_size=MAX_REQUEST_BYTES`` so that large uploads are accepted.
    """
    app[STATE_KEY] = state
    app.router.add_route("*", "/bot{token}/{method}", _api)
    app.router.add_get("/file/bot{token}/{path:.+}", _download)
    add_sim_routes(app)
    app.cleanup_ctx.append(_webhooks)
    app.on_shutdown.append(_shutdown)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


async def read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters from the query string and a JSON, urlencoded or multipart body.

    Form values stay strings (JSON-serialised objects included); validation converts them.
    """
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return params, files
    content_type = request.content_type
    if content_type == "application/json":
        raw = await request.read()
        if raw.strip():
            try:
                body = await request.json()
            except ValueError:
                raise ApiError("Bad Request: can't parse JSON body") from None
            if not isinstance(body, dict):
                raise ApiError("Bad Request: the JSON body must be an object")
            params.update(body)
    elif content_type == "multipart/form-data":
        form, files = await read_multipart(await request.multipart())
        params.update(form)
    elif content_type == "application/x-www-form-urlencoded":
        posted = await request.post()
        params.update({key: value for key, value in posted.items() if isinstance(value, str)})
    else:
        raw = await request.read()
        if raw.strip():
            raise ApiError(f"Bad Request: unsupported Content-Type {content_type}")
    return params, files


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def _api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    token = request.match_info["token"]
    method = request.match_info["method"]
    try:
        params, files = await read_params(request)
    except ApiError as error:
        bot = state.bot_by_token(token)
        state.record_violation(method, {}, error.description, bot.id if bot else None)
        return _json(error.status, error.to_json())
    status, body = await call_api(
        state, token, method, params, files, connected=lambda: _connected(request)
    )
    return _json(status, body)


async def _download(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    bot = state.bot_by_token(request.match_info["token"])
    path = request.match_info["path"]
    if bot is None:
        state.record_violation("file", {"path": path}, "Unauthorized")
        return _json(401, ApiError("Unauthorized", 401).to_json())
    for stored in state.files.values():
        if stored.file_path == path and stored.bot_id == bot.id:
            return web.Response(
                body=stored.data, content_type=stored.mime_type or "application/octet-stream"
            )
    state.record_violation("file", loggable({"path": path}), "Not Found", bot.id)
    return _json(404, ApiError("Not Found", 404).to_json())


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE_KEY]
    state.closing = False
    async with aiohttp.ClientSession() as session:
        delivery = WebhookDelivery(state, session)
        task = asyncio.create_task(delivery.run())
        yield
        state.closing = True
        state.notify()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await delivery.aclose()


async def _shutdown(app: web.Application) -> None:
    """Release long polls and event waits at once instead of after their timeouts."""
    state = app[STATE_KEY]
    state.closing = True
    state.notify()


@dataclass(frozen=True)
class BotApiServer:
    """A running local Bot API server; ``url`` is what aiogram's
    ``TelegramAPIServer.from_base`` (and ``TELEGRAM_API_URL``) takes."""

    state: BotApiState
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def run_botapi_server(
    state: BotApiState | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[BotApiServer]:
    """Serve ``state`` (a new one by default) on ``host``; port 0 picks a free port."""
    state = state if state is not None else BotApiState()
    runner = web.AppRunner(create_botapi_app(state), shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        address = runner.addresses[0]
        yield BotApiServer(state=state, host=host, port=int(address[1]))
    finally:
        await runner.cleanup()
