"""The running bot: :func:`build_app` assembles it from the composition root
(:class:`bot.container.Container`), :class:`BotApp` runs it.

:func:`build_app` takes the container's pieces (no I/O happens here): the conversation store,
the per-chat lock and the update de-duplicator, the conversation engine, the aiogram ``Bot``,
the route from an update to its handler (:class:`bot.handlers.UpdateRoute`, behind the update
gate) and the HTTP app. :class:`BotApp` then runs them:
:meth:`BotApp.prepare` (migrations, ``CATALOG_FILE``, ``ADMIN_IDS``, the command menu),
:meth:`BotApp.start` (HTTP server, then polling or the webhook, and the catalog refresher) and
:meth:`BotApp.stop` (graceful). :func:`run_bot` is ``onesme-bot run``.

There are no module-level bot, dispatcher, engine or session objects: tests build as many apps
as they like, side by side or one after another on the same database.

Polling is our own small loop rather than aiogram's ``start_polling``: on shutdown aiogram
cancels the update being handled and closes the HTTP session under it, while here the long poll
is cancelled, updates in hand are finished, and their ``update_id`` is confirmed to Telegram, so
a restart neither loses nor repeats them. Updates of one chat are handled in order; different
chats concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramUnauthorizedError,
)
from aiogram.types import BotCommand, BotCommandScopeDefault, Update
from aiohttp import web

from bot import webhook_reply
from bot.catalog_file import load_catalog_file
from bot.container import CatalogCache, Container
from bot.handlers import BOT_COMMANDS, ChatFlow, ConversationEngine, UpdateRoute
from bot.http import RetryLater, RouteDef, WebhookEndpoint, create_http_app
from bot.i18n import I18n
from bot.logging import configure_logging
from bot.middlewares import UpdateGate
from bot.session import BotSession
from bot.settings import Settings, mask_url_password
from bot.stopping import stop_task
from domain.ports import Clock, LockTimeout
from domain.usecases.admin import GrantRoleRequest, LoadCatalogRequest
from storage.db import Database
from storage.schema import ensure_schema

__all__ = [
    "ALLOWED_UPDATES",
    "BotApp",
    "CatalogCache",
    "Container",
    "EngineFactory",
    "RoutesFactory",
    "build_app",
    "default_engine_factory",
    "run_bot",
]

log = logging.getLogger(__name__)

#: ``my_chat_member``: a user blocking or unblocking the bot (see ``bot.contacts``)
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
POLL_TIMEOUT_SECONDS = 10
STOP_TIMEOUT_SECONDS = 25.0
_BACKOFF = (0.5, 1.0, 2.0, 5.0)


EngineFactory = Callable[[Container], ConversationEngine]
RoutesFactory = Callable[[Container], Sequence[RouteDef]]


def default_engine_factory(container: Container) -> ConversationEngine:
    """The real engine (:attr:`Container.engine`)."""
    return container.engine


class _InFlight:
    """Counts updates being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bounded drain
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def _chat_of(update: Update) -> int | None:
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        query = update.callback_query
        return query.message.chat.id if query.message is not None else query.from_user.id
    return None


class BotApp:
    """One running bot: see the module doc. Built by :func:`build_app`."""

    def __init__(
        self,
        container: Container,
        *,
        flow: ChatFlow,
        route: UpdateRoute,
        extra_routes: Sequence[RouteDef] = (),
    ) -> None:
        self.container = container
        self.settings = settings = container.settings
        self.database = container.database
        self.catalog = container.catalog
        self.metrics = container.metrics
        self.bot = container.bot
        #: from an update to its handler (aiogram's Dispatcher did this: bot.handlers)
        self.route = route
        self.flow = flow
        self.store = container.state.store
        self.chat_lock = container.state.chat_lock
        self.deduper = container.state.deduper
        #: the reconciler and the outbox worker, built with the app
        self.background = container.background
        self.webhook: WebhookEndpoint | None = None
        if settings.webhook_url:
            secret = settings.webhook_secret
            self.webhook = WebhookEndpoint(
                self._feed, secret.get_secret_value() if secret else None
            )
        readiness: dict[str, Callable[[], Any]] = {"database": self.database.ping}
        if container.redis is not None:
            readiness["redis"] = container.redis.ping
        self.http_app = create_http_app(
            metrics=self.metrics,
            readiness=readiness,
            webhook=self.webhook,
            extra_routes=[*container.payment_routes, *extra_routes],
        )
        self.inflight = _InFlight()
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._update_tasks: set[asyncio.Task[None]] = set()
        self._chat_tails: dict[int, asyncio.Task[None]] = {}
        self._next_offset: int | None = None
        self._allowed_updates = list(ALLOWED_UPDATES)
        #: ``onesme_bot_api_calls``' children of the long poll by outcome (:meth:`_get_updates`)
        self._poll_counts: dict[str, Any] = {}
        self._stopping = False
        self._stopped = asyncio.Event()
        self.http_port: int | None = None

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_url else "polling"

    @property
    def http_url(self) -> str:
        if self.http_port is None:
            raise RuntimeError("the HTTP server is not running")
        return f"http://{self.settings.http_host}:{self.http_port}"

    # preparing

    async def prepare(self, *, migrate: bool = True, set_commands: bool = True) -> None:
        """Migrate the schema, apply ``CATALOG_FILE`` and ``ADMIN_IDS``, load the catalog into
        memory and publish the command menu (Vietnamese by default, English by language)."""
        if migrate:
            await ensure_schema(self.settings.database_url)
        # aiogram's types are built on first use (bot.lazy_aiogram): the update path's ones
        # now, not by the first updates (docs/performance.md, round 6)
        BotSession.prepare_types()
        await self._apply_start_settings()
        await self.catalog.refresh()
        if set_commands:
            await self._set_commands()

    async def _apply_start_settings(self) -> None:
        settings = self.settings
        container = self.container
        if settings.catalog_file is not None:
            catalog = load_catalog_file(settings.catalog_file)
            request = LoadCatalogRequest(catalog, source=str(settings.catalog_file))
            result = await container.load_catalog(request)
            log.info(
                "catalog file %s applied (%s)",
                settings.catalog_file,
                "changed" if result.changed else "unchanged",
            )
        for user_id in settings.admin_ids:
            await container.grant_role(GrantRoleRequest(user_id=user_id, role="admin"))
        if settings.admin_ids:
            log.info("admin role granted to %d user(s)", len(settings.admin_ids))

    async def _set_commands(self) -> None:
        i18n = self.container.i18n
        for lang in ("vi", "en"):
            commands = [
                BotCommand(command=name, description=i18n.template(lang, f"command.{name}"))
                for name in BOT_COMMANDS
            ]
            await self.bot.set_my_commands(
                commands=commands,
                scope=BotCommandScopeDefault(),
                language_code=None if lang == "vi" else lang,
            )

    # running

    async def start(self) -> None:
        """Start the HTTP server, then take updates (polling or webhook) and keep the catalog
        fresh. Returns once everything runs; :meth:`stop` ends it."""
        settings = self.settings
        self._runner = web.AppRunner(self.http_app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.http_host, settings.http_port)
        await site.start()
        self.http_port = int(self._runner.addresses[0][1])
        log.info("HTTP server on %s", self.http_url)
        if settings.webhook_url:
            secret = settings.webhook_secret
            if secret is None:
                log.warning("WEBHOOK_URL is set without WEBHOOK_SECRET: any caller is trusted")
            await self.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=list(ALLOWED_UPDATES),
                max_connections=settings.webhook_max_connections,
            )
            log.info(
                "webhook set: %s (up to %d at once)",
                settings.webhook_url,
                settings.webhook_max_connections,
            )
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("polling for updates")
        self._refresher = asyncio.create_task(self._refresh_catalog(), name="catalog-refresh")
        for service in self.background:
            await service.start()

    async def process_update(self, update: Update) -> None:
        """Handle one update to the end (the webhook awaits this; polling runs it as a task)."""
        with self.inflight.track():
            try:
                await self.route.feed(self.bot, update)
            except LockTimeout as busy:  # only with ChatFlow.retry_when_busy (webhook)
                raise RetryLater(str(busy)) from busy
            except Exception:
                log.exception("update %s failed", update.update_id)
                with contextlib.suppress(Exception):
                    await self.deduper.forget(update.update_id)  # a redelivery may retry

    async def feed_webhook(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Handle a webhook update; returns the call to answer the webhook with, if any."""
        try:
            update = Update.model_validate(data, context={"bot": self.bot})
        except ValueError as error:
            log.warning("webhook update %s could not be read: %s", data.get("update_id"), error)
            return None
        # With a journal (replicas on Redis) too: the answer leaves only with the webhook's
        # answer, after the update's turn ended, so a replica that dies before has answered
        # nothing and the redelivery answers in its own webhook answer (bot/webhook_reply.py).
        with webhook_reply.collecting(webhook_reply.callback_query_id(data)) as reply:
            await self.process_update(update)
            if reply is not None:
                # skipped as handled before: an earlier delivery's answer, if any, was in a
                # webhook answer Telegram did not take (else it would not deliver it again)
                webhook_reply.offer(reply.callback_query_id, {})
        if reply is None or reply.method is None:
            return None
        self.metrics.bot_api_calls.labels(reply.method["method"], "webhook_reply").inc()
        return reply.method

    async def _feed(self, data: dict[str, Any]) -> dict[str, Any] | None:
        # looked up on each request: a test may wrap feed_webhook on a built app
        return await self.feed_webhook(data)

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                updates = await self._get_updates()
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token: polling stops")
                raise
            except (TelegramAPIError, OSError, TimeoutError) as error:
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                level = (
                    logging.ERROR if isinstance(error, TelegramConflictError) else logging.WARNING
                )
                log.log(level, "getUpdates failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in updates:
                self._next_offset = update.update_id + 1
                self._schedule(update)

    async def _get_updates(self) -> list[Update]:
        """One long poll. The product's own session reads it without aiogram's per-call
        machinery (:meth:`BotSession.poll_updates`: polled one at a time, each update paid a
        whole round), counted here as the session's call counter counts a call."""
        session = self.bot.session
        if not isinstance(session, BotSession):  # a test's session: aiogram's way
            return await self.bot.get_updates(
                offset=self._next_offset,
                timeout=POLL_TIMEOUT_SECONDS,
                allowed_updates=list(ALLOWED_UPDATES),
                request_timeout=POLL_TIMEOUT_SECONDS + 15,
            )
        try:
            updates = await session.poll_updates(
                self.bot,
                offset=self._next_offset,
                timeout=POLL_TIMEOUT_SECONDS,
                allowed_updates=self._allowed_updates,
                request_timeout=POLL_TIMEOUT_SECONDS + 15,
            )
        except Exception:
            self._count_poll("error")
            raise
        self._count_poll("ok")
        return updates

    def _count_poll(self, outcome: str) -> None:
        child = self._poll_counts.get(outcome)
        if child is None:
            child = self._poll_counts[outcome] = self.metrics.bot_api_calls.labels(
                "getUpdates", outcome
            )
        child.inc()

    def _schedule(self, update: Update) -> None:
        chat = _chat_of(update)
        previous = self._chat_tails.get(chat) if chat is not None else None
        task = asyncio.create_task(self._after(previous, update))
        self._update_tasks.add(task)
        task.add_done_callback(self._update_tasks.discard)
        if chat is not None:
            self._chat_tails[chat] = task
            task.add_done_callback(functools.partial(self._forget_tail, chat))

    def _forget_tail(self, chat: int, task: asyncio.Task[None]) -> None:
        if self._chat_tails.get(chat) is task:
            del self._chat_tails[chat]

    async def _after(self, previous: asyncio.Task[None] | None, update: Update) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self.process_update(update)

    async def _refresh_catalog(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.settings.catalog_refresh_seconds)
            if self._stopping:
                return
            try:
                await self.catalog.refresh()
            except Exception as error:
                log.warning("catalog refresh failed: %s", error)

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:  # noqa: ASYNC109
        """Stop taking updates, finish the ones in hand (up to ``timeout``), confirm them to
        Telegram when polling, then close the HTTP server, the bot session, Redis and the
        database. Safe to call twice."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        log.info("stopping: %d update(s) in hand", self.inflight.count + len(self._update_tasks))
        if self.webhook is not None:
            self.webhook.accepting = False
        try:
            await self._cancel(self._poller)
            await self._cancel(self._refresher)
            if self._update_tasks:
                _, pending = await asyncio.wait(set(self._update_tasks), timeout=timeout)
                for task in pending:
                    task.cancel()
            if not await self.inflight.wait_idle(timeout):
                log.warning("stopped with %d update(s) unfinished", self.inflight.count)
            if self._poller is not None and self._next_offset is not None:
                with contextlib.suppress(Exception):
                    await self.bot.get_updates(offset=self._next_offset, limit=1, timeout=0)
            for service in reversed(self.background):
                try:
                    await service.stop()
                except Exception as error:
                    log.warning("stopping %s failed: %s", service, error)
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            await self._close()
            self._stopped.set()
            log.info("stopped")

    @staticmethod
    async def _cancel(task: asyncio.Task[None] | None) -> None:
        # bounded, and a cancel of stop() itself is not swallowed: see bot.stopping (the loops
        # also end on self._stopping, should their cancel be lost inside a call)
        await stop_task(task)

    async def _close(self) -> None:
        await self.container.aclose()

    async def run_until(self, stop: asyncio.Event) -> None:
        """prepare → start → wait for ``stop`` (or the poller's fatal end) → stop."""
        stop_wait = asyncio.create_task(stop.wait())
        try:
            await self.prepare()
            # what start-up built (aiogram's and SQLAlchemy's schemas, the catalog, the locale
            # texts) lives as long as the process: kept out of the collector's full passes,
            # which otherwise walk it all again and again (docs/performance.md, round 6). In
            # the bot's own process only: tests that prepare many apps in one process would
            # keep their garbage for ever.
            gc.collect()
            gc.freeze()
            await self.start()
            waiters: set[asyncio.Future[Any]] = {stop_wait}
            if self._poller is not None:
                waiters.add(self._poller)
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if self._poller is not None and self._poller in done:
                self._poller.result()
        finally:
            stop_wait.cancel()
            await self.stop()


def build_app(
    settings: Settings,
    *,
    engine_factory: EngineFactory = default_engine_factory,
    extra_routes: Sequence[RouteDef] | RoutesFactory = (),
    database: Database | None = None,
    redis: Any | None = None,
    redis_prefix: str | None = None,
    clock: Clock | None = None,
    i18n: I18n | None = None,
    session: AiohttpSession | None = None,
) -> BotApp:
    """Build the whole bot for ``settings`` (no I/O happens here).

    Overrides exist for tests and the one-port sandbox: ``database`` (e.g. one with a statement
    counter; then the caller disposes it), ``redis`` (a client) and ``redis_prefix`` (its keys'
    prefix; default ``REDIS_PREFIX``), ``clock``, ``i18n``, the Bot API ``session`` (all given
    to the :class:`Container`), the ``engine_factory`` (a test double), and ``extra_routes``
    mounted on the HTTP server (a sequence, or a callable given the container).
    """
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is required to run the bot")
    container = Container(
        settings,
        database=database,
        redis=redis,
        redis_prefix=redis_prefix,
        clock=clock,
        i18n=i18n,
        session=session,
    )
    return _assemble(container, engine_factory, extra_routes)


def _assemble(
    container: Container,
    engine_factory: EngineFactory,
    extra_routes: Sequence[RouteDef] | RoutesFactory,
) -> BotApp:
    settings = container.settings
    state = container.state
    flow = ChatFlow(
        bot_id=container.bot.id,
        engine=engine_factory(container),
        store=state.store,
        chat_lock=state.chat_lock,
        renderer=container.renderer,
        metrics=container.metrics,
        clock=container.clock,
        turns=state.turns,
        default_locale=settings.default_locale,
        retry_when_busy=bool(settings.webhook_url),
        journal=state.journal,
    )
    gate = UpdateGate(state.deduper, container.metrics, container.contacts, container.first_read)
    route = UpdateRoute(flow, gate)
    routes = extra_routes(container) if callable(extra_routes) else extra_routes
    return BotApp(container, flow=flow, route=route, extra_routes=routes)


def _secrets(settings: Settings) -> list[str | None]:
    values: list[str | None] = []
    for secret in (
        settings.bot_token,
        settings.webhook_secret,
        settings.vnptpay_api_key,
        settings.vnptpay_secret_key,
    ):
        values.append(secret.get_secret_value() if secret is not None else None)
    for url in (settings.database_url, settings.redis_url):
        if url and mask_url_password(url) != url:
            password = url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
            values.append(password)
    return values


async def run_bot(settings: Settings) -> None:
    """``onesme-bot run``: the bot until SIGTERM or SIGINT, then a graceful stop."""
    configure_logging(settings.log_level, settings.log_format, secrets=_secrets(settings))
    app = build_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    log.info("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await app.run_until(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
