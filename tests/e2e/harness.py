"""Runs the real bot in-process, over HTTP, against the local Bot API server.

    harness = BotHarness(botapi, db_url, mode="polling")     # or mode="webhook"
    await harness.start()                  # build_app + prepare (migrate, catalog) + start
    user = harness.user("An")              # a ChatUser (tests/e2e/botapi_client.py)
    await user.send("/start")
    with harness.queries.measure() as q:   # SQL statements of the updates sent in the block
        await user.press("Dịch vụ")
    assert q.count <= 2
    assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    await harness.restart()                # stop gracefully, build a new app, same database
    await harness.stop()
    harness.assert_no_violations()

The harness owns one :class:`storage.db.Database` for its whole life, shared by every app it
starts (so a restart keeps the data, and the statement counter stays attached); each app owns
its Bot session, Redis client and background tasks and closes them on stop.

Costs are attributed to updates, not to time windows. The bot keeps working in the background
(the outbox worker looks for due rows; the reconciler, the change rounds and the catalog
refresher run at start and then every 30 to 60 s), and on a loaded machine a press can last
long enough for any of them to run meanwhile. So the
harness wraps each app's ``process_update``: the update's id is held in a context variable
while it is handled (:func:`handling_update`; asyncio copies it into everything the handling
awaits, SQLAlchemy's greenlets included), the Bot API requests made meanwhile are logged per
update (:class:`UpdateLog`), and the update is marked handled when ``process_update`` returns.
A :class:`ChatUser` made by :meth:`BotHarness.user` waits for that mark (not only for the bot
to go quiet) and reports the requests of its action's update in ``calls_since_action``;
``queries.measure()`` counts the statements of the updates the bot started handling while the
block was open (and of what the test itself awaits in it), never background work.
"""

from __future__ import annotations

import contextlib
import socket
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import (
    BotApp,
    EngineFactory,
    RoutesFactory,
    build_app,
    default_engine_factory,
)
from bot.container import Container
from bot.http import WEBHOOK_PATH, RouteDef
from bot.settings import Settings, load_settings
from sandbox.botapi import ApiCall, BotApiServer, BotApiState
from storage.db import Database
from tests.e2e.botapi_client import ChatUser

__all__ = [
    "OWNER_NAME",
    "OWNER_TAX_CODE",
    "SAMPLE_CATALOG",
    "TEST_TOKEN",
    "WEBHOOK_SECRET",
    "BotHarness",
    "QueryCounter",
    "UpdateLog",
    "UpdateWindow",
    "free_port",
    "handling_update",
]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = ROOT / "catalog.sample.yaml"
TEST_TOKEN = "123456789:AAE-test_token_for_the_local_bot_api_0000"
WEBHOOK_SECRET = "e2e-webhook-secret_42"
OWNER_TAX_CODE = "0100233488"
OWNER_NAME = "Công ty TNHH Thương mại An Phát"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: the update (bot id, update id) whose handling runs the current code; None in background work
_HANDLING: ContextVar[tuple[int, int] | None] = ContextVar("e2e_handling_update", default=None)
#: the measuring windows opened by the code running now (what a test awaits directly)
_MEASURING: ContextVar[tuple[UpdateWindow, ...]] = ContextVar("e2e_measuring", default=())


def handling_update() -> tuple[int, int] | None:
    """``(bot id, update id)`` of the update the running code handles for a harness-run bot,
    None in background work (outbox worker, reconciler, change rounds, catalog refresher)."""
    return _HANDLING.get()


@dataclass(eq=False)
class UpdateWindow:
    """The updates the bot started handling while the window was open (:meth:`UpdateLog.window`):
    what the test's actions in the window caused, wherever and whenever it runs."""

    updates: set[tuple[int, int]] = field(default_factory=set)

    def owns_current(self) -> bool:
        """Whether the code running now works for this window: it handles one of the window's
        updates, or the test awaits it directly inside the window."""
        update = _HANDLING.get()
        return (update is not None and update in self.updates) or self in _MEASURING.get()


@dataclass(eq=False)
class QueryWindow(UpdateWindow):
    """Statements run, while a :meth:`QueryCounter.measure` block was open, for the updates the
    bot started handling in it and for what the test awaited directly in it; never for
    background work (outbox worker, reconciler, change rounds, catalog refresher) nor for an
    update sent before the block."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


class UpdateLog:
    """What the harness-run bots of one local Bot API server did per update, recorded in the
    bot process: whether the update was handled to the end, and the Bot API requests made while
    handling it. One per :class:`BotApiState` (:meth:`of`), shared by every harness on it, so a
    replica handling another replica's user is seen too."""

    def __init__(self, state: BotApiState) -> None:
        self.state = state
        self.handled: set[tuple[int, int]] = set()
        self._calls: defaultdict[tuple[int, int], list[str]] = defaultdict(list)
        self._windows: list[UpdateWindow] = []

    @classmethod
    def of(cls, state: BotApiState) -> UpdateLog:
        log = _UPDATE_LOGS.get(state)
        if log is None:
            log = _UPDATE_LOGS[state] = cls(state)
        return log

    def is_handled(self, bot_id: int, update_id: int) -> bool:
        return (bot_id, update_id) in self.handled

    def calls(self, bot_id: int, update_id: int) -> list[str]:
        """The Bot API methods requested while handling the update, in order (a callback
        answer carried by the webhook's answer last, as Telegram receives it)."""
        return list(self._calls.get((bot_id, update_id), ()))

    @contextlib.contextmanager
    def window(self, window: UpdateWindow | None = None) -> Iterator[UpdateWindow]:
        """Collect the updates the bots start handling while the block is open."""
        window = UpdateWindow() if window is None else window
        self._windows.append(window)
        token = _MEASURING.set((*_MEASURING.get(), window))
        try:
            yield window
        finally:
            _MEASURING.reset(token)
            self._windows.remove(window)

    def attach(self, app: BotApp) -> None:
        """Wrap the app's ``process_update`` and ``feed_webhook`` and add a request
        middleware to its Bot session (innermost: it sees every attempt sent)."""
        bot_id = app.bot.id
        process_update = app.process_update
        feed_webhook = app.feed_webhook

        async def tracked_process_update(update: Update) -> None:
            key = (bot_id, update.update_id)
            for window in self._windows:
                window.updates.add(key)
            token = _HANDLING.set(key)
            try:
                await process_update(update)
                # not when refused for a redelivery (RetryLater) or cancelled
                self.handled.add(key)
            finally:
                _HANDLING.reset(token)
                self.state.notify()

        async def tracked_feed_webhook(data: dict[str, Any]) -> dict[str, Any] | None:
            reply = await feed_webhook(data)
            if reply is not None and isinstance(data.get("update_id"), int):
                self._calls[(bot_id, data["update_id"])].append(str(reply["method"]))
            return reply

        app.process_update = tracked_process_update  # type: ignore[method-assign]
        app.feed_webhook = tracked_feed_webhook  # type: ignore[method-assign]
        app.bot.session.middleware(_CallRecorder(self._calls))


_UPDATE_LOGS: weakref.WeakKeyDictionary[BotApiState, UpdateLog] = weakref.WeakKeyDictionary()


class _CallRecorder(BaseRequestMiddleware):
    def __init__(self, calls: defaultdict[tuple[int, int], list[str]]) -> None:
        self._calls = calls

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        update = _HANDLING.get()
        if update is not None:
            self._calls[update].append(method.__api_method__)
        return await make_request(bot, method)


class QueryCounter:
    """Counts the SQL statements the engine sends (one per database round trip), through a
    SQLAlchemy ``before_cursor_execute`` listener. Transaction control (BEGIN/COMMIT) that the
    driver issues itself is not a statement; SQLite's explicit ``BEGIN IMMEDIATE`` is counted
    separately in :attr:`begins`.

    :attr:`statements` and :attr:`count` are everything the engine ran, background work
    included; :meth:`measure` counts per update (see :class:`QueryWindow`)."""

    def __init__(self, engine: AsyncEngine, updates: UpdateLog) -> None:
        self._engine = engine.sync_engine
        self._updates = updates
        self.statements: list[str] = []
        self.begins = 0
        self._windows: list[QueryWindow] = []
        event.listen(self._engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.strip().upper().startswith("BEGIN"):
            self.begins += 1
            return
        self.statements.append(statement)
        for window in self._windows:
            if window.owns_current():
                window.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    @contextlib.contextmanager
    def measure(self) -> Iterator[QueryWindow]:
        """Statements of the updates the bot starts handling while the block is open, and of
        what the test awaits in it. Wait for those updates to end inside the block: a
        :class:`ChatUser` action of :meth:`BotHarness.user` does."""
        window = QueryWindow()
        self._windows.append(window)
        try:
            with self._updates.window(window):
                yield window
        finally:
            self._windows.remove(window)

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on_execute)


class BotHarness:
    """One bot under test: its settings, its database and the apps started on them."""

    def __init__(
        self,
        botapi: BotApiServer,
        db_url: str,
        *,
        mode: str = "polling",
        engine_factory: EngineFactory = default_engine_factory,
        extra_routes: Sequence[RouteDef] | RoutesFactory = (),
        catalog_file: Path | None = SAMPLE_CATALOG,
        redis_url: str | None = None,
        redis_prefix: str = "onesme:",
        settings: dict[str, Any] | None = None,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"mode is polling or webhook, not {mode!r}")
        self.botapi = botapi
        self.state: BotApiState = botapi.state
        self.mode = mode
        self.engine_factory = engine_factory
        self.extra_routes = extra_routes
        self.redis_prefix = redis_prefix
        if self.state.bot_by_token(TEST_TOKEN) is None:
            self.state.add_bot(TEST_TOKEN)
        port = free_port()
        values: dict[str, Any] = {
            "_env_file": None,
            "bot_token": TEST_TOKEN,
            "telegram_api_url": botapi.url,
            "database_url": db_url,
            "redis_url": redis_url,
            "http_host": "127.0.0.1",
            "http_port": port,
            "public_url": f"http://127.0.0.1:{port}",
            "webhook_url": f"http://127.0.0.1:{port}{WEBHOOK_PATH}" if mode == "webhook" else None,
            "webhook_secret": WEBHOOK_SECRET if mode == "webhook" else None,
            "catalog_file": catalog_file,
            "admin_ids": (),
            "default_locale": "vi",
            "vnptpay_url": None,
            "vnptpay_merchant_service_id": None,
            "vnptpay_api_key": None,
            "vnptpay_secret_key": None,
            # The per-chat flood interval (1 s in production) is off by default here: the bot
            # handles polled updates as tasks, so ChatUser's "quiet for 80 ms" cannot tell a
            # bot waiting for its chat's slot from a bot that is done, and a second message in
            # a row (the result, then the QR code) would arrive after the test moved on.
            # tests/e2e/test_flood_limits.py runs the bot with the real interval.
            "flood_chat_interval": 0.0,
        }
        values.update(settings or {})
        self.settings: Settings = load_settings(**values)
        self.database = Database(db_url)
        self.updates = UpdateLog.of(self.state)
        self.queries = QueryCounter(self.database.engine, self.updates)
        self.app: BotApp | None = None
        self.apps_started = 0

    @property
    def bot_id(self) -> int:
        return int(TEST_TOKEN.split(":", 1)[0])

    @property
    def http_url(self) -> str:
        return self.running.http_url

    @property
    def running(self) -> BotApp:
        if self.app is None:
            raise RuntimeError("the bot is not running")
        return self.app

    def context(self) -> Container:
        """The running app's composition root (its clock, use cases, workers)."""
        return self.running.container

    async def start(self, *, migrate: bool = True) -> BotApp:
        """Build a new app on the same database and settings, prepare and start it."""
        if self.app is not None:
            raise RuntimeError("the bot is already running")
        app = build_app(
            self.settings,
            engine_factory=self.engine_factory,
            extra_routes=self.extra_routes,
            database=self.database,
            redis_prefix=self.redis_prefix,
        )
        self.updates.attach(app)
        try:
            await app.prepare(migrate=migrate)
            await app.start()
        except BaseException:
            await app.stop()
            raise
        self.app = app
        self.apps_started += 1
        return app

    async def stop(self) -> None:
        """Graceful stop (as on SIGTERM); the database stays open for a restart."""
        app, self.app = self.app, None
        if app is not None:
            await app.stop()

    async def restart(self) -> BotApp:
        """Stop the running app and start a fresh one on the same database: everything held in
        memory (catalog cache, local locks and de-duplication) is rebuilt from scratch."""
        await self.stop()
        return await self.start(migrate=False)

    async def close(self) -> None:
        await self.stop()
        self.queries.close()
        await self.database.dispose()

    async def add_enterprise(self, tax_code: str, name: str, **fields: Any) -> int:
        """Create a business, as ``onesme-bot enterprises add`` does; returns its id."""
        from domain.usecases.admin import AddEnterpriseRequest

        request = AddEnterpriseRequest(tax_code=tax_code, name=name, **fields)
        result = await self.context().add_enterprise(request)
        return int(result.enterprise.id)

    async def grant(self, user_id: int, role: str, *, tax_code: str | None = None) -> None:
        """Grant a role, as ``onesme-bot users grant`` does."""
        from domain.usecases.admin import GrantRoleRequest

        request = GrantRoleRequest(user_id=user_id, role=role, tax_code=tax_code)
        await self.context().grant_role(request)

    def _uow(self) -> Any:
        return self.database.uow

    def user(self, first_name: str = "An", **kwargs: Any) -> ChatUser:
        """A new simulated user chatting with this bot (``ChatUser.create`` arguments): its
        actions wait until the bot handled their update to the end, and ``calls_since_action``
        lists the requests made for that update (see the module doc)."""
        kwargs.setdefault("updates", self.updates)
        return ChatUser.create(self.state, first_name, bot=self.bot_id, **kwargs)

    def api_calls(
        self, since: int = 0, *, predicate: Callable[[ApiCall], bool] | None = None
    ) -> list[ApiCall]:
        """Bot API requests of this bot from index ``since`` of ``state.calls``, long polls
        excluded."""
        return [
            c
            for c in self.state.calls[since:]
            if c.bot_id == self.bot_id
            and c.method != "getUpdates"
            and (predicate is None or predicate(c))
        ]

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """A sample of the bot's metrics (None when it was never counted)."""
        return self.running.metrics.registry.get_sample_value(name, labels)

    def assert_no_violations(self) -> None:
        listed = [f"{v.method}: {v.description}" for v in self.state.violations]
        assert listed == [], f"the bot sent requests Telegram would refuse: {listed}"
