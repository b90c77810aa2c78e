"""The Bot API side of a run: the local Bot API server in the driver's process, timing each
bot's first visible reaction per chat, and counting the HTTP requests each bot sends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from sandbox.botapi import BotApiState, SimEvent
from sandbox.botapi.server import MAX_REQUEST_BYTES, setup_botapi

__all__ = ["BenchState", "RequestCounter", "botapi_server", "free_port"]

_VISIBLE = frozenset({"message", "edit", "delete"})


class BenchState(BotApiState):
    """The Bot API state, also timing each bot's first visible reaction per chat."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: dict[int, list[float]] = defaultdict(list)
        self._waiters: dict[int, asyncio.Event] = {}

    def _append_event(self, event: SimEvent) -> None:
        super()._append_event(event)
        if event.from_bot and event.kind in _VISIBLE:
            self.replies[event.chat_id].append(time.perf_counter())
            waiter = self._waiters.pop(event.chat_id, None)
            if waiter is not None:
                waiter.set()

    async def wait_reply(self, chat_id: int, seen: int, timeout: float) -> None:  # noqa: ASYNC109
        """Until the chat has more than ``seen`` bot reactions; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while len(self.replies[chat_id]) <= seen:
                waiter = self._waiters.setdefault(chat_id, asyncio.Event())
                await waiter.wait()


class RequestCounter:
    """HTTP requests each bot token sent to the Bot API server (getUpdates apart)."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = defaultdict(int)
        self.polls: dict[str, int] = defaultdict(int)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith("/bot"):
            token, _, method = path[4:].partition("/")
            if method == "getUpdates":
                self.polls[token] += 1
            else:
                self.requests[token] += 1
        return await handler(request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def botapi_server(state: BotApiState, counter: RequestCounter) -> AsyncIterator[str]:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[counter.middleware])
    setup_botapi(app, state)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
