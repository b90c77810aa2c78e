"""The composition root: everything the running bot is made of is built here, once.

:func:`build_app` creates (without any I/O) the database, the Redis client when ``REDIS_URL`` is
set, the conversation store, the per-chat lock and the update de-duplicator, the in-memory
catalog, the conversation engine, the aiogram ``Bot`` (pointed at ``TELEGRAM_API_URL``, HTML
parse mode) and ``Dispatcher`` with its one router, and the HTTP app. :class:`BotApp` then runs
them: :meth:`BotApp.prepare` (migrations, ``CATALOG_FILE``, ``ADMIN_IDS``, the command menu),
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
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramUnauthorizedError,
)
from aiogram.types import BotCommand, BotCommandScopeDefault, Update
from aiogram.utils.token import validate_token
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bot import webhook_reply
from bot.accounts_backend import DatabaseAccountsBackend
from bot.catalog_file import load_catalog_file
from bot.contacts import (
    ContactCache,
    ContactGate,
    ContactRecorder,
    MemoryContactCache,
    RedisContactCache,
)
from bot.handlers import BOT_COMMANDS, ChatFlow, ConversationEngine, create_router
from bot.http import RetryLater, RouteDef, WebhookEndpoint, create_http_app
from bot.i18n import I18n
from bot.invoice_pdf import InvoicePdf
from bot.logging import configure_logging
from bot.manage_backend import manage_backend
from bot.metrics import Metrics, count_statements
from bot.middlewares import BotApiCallCounter, UpdateGate
from bot.outbox import OutboxWorker
from bot.payments_http import (
    PaymentServices,
    TelegramChatUrl,
    build_payment_services,
    payment_routes,
)
from bot.reconciler import PaymentReconciler, interval_for
from bot.render import Renderer
from bot.replay import ReplayGuard, UpdateJournal
from bot.session import BotSession
from bot.settings import Settings, mask_url_password
from bot.telegram_policy import send_policy_for
from conversations.accounts import COMMANDS as ACCOUNT_COMMANDS
from conversations.accounts import ENTRIES as ACCOUNT_ENTRIES
from conversations.accounts import AgentOrderNotice, StaffBusinessPicker, account_flows
from conversations.engine import ConversationEngine as Engine
from conversations.engine import EngineSettings
from conversations.manage import FLOW as MANAGE_FLOW
from conversations.manage import ManageFlow
from conversations.payment import CASH_ACTION, CASH_FLOW, PAY_FLOW, REPAY_ACTION, CashFlow, PayFlow
from conversations.registration import RegistrationFlow, RegistrationServices
from domain.catalog import Catalog
from domain.payments import PaymentGateway
from domain.ports import (
    ChatLock,
    Clock,
    ConversationStore,
    LockTimeout,
    SystemClock,
    UpdateDeduper,
)
from domain.usecases.admin import GrantRole, GrantRoleRequest, LoadCatalog
from domain.usecases.checkout import CheckoutOptions, RegistrantDirectory
from domain.usecases.outbox import MarkUnreachable, RecordContact
from domain.usecases.registration import (
    ConfirmRegistration,
    OrderSettings,
    PayAgain,
    PlaceOrder,
)
from payments.vnptpay import VnptPayClient
from storage.conversation_store import SqlConversationStore
from storage.db import Database
from storage.job_lock import JobLock
from storage.local_store import CachedConversationStore, LocalChatLock, MemoryUpdateDeduper
from storage.migrate import upgrade_to_head
from storage.redis_store import (
    RedisChatLock,
    RedisConversationStore,
    RedisUpdateDeduper,
    RedisUpdateJournal,
)

__all__ = [
    "ALLOWED_UPDATES",
    "AppContext",
    "BotApp",
    "CatalogCache",
    "EngineFactory",
    "build_app",
    "default_engine_factory",
    "default_gateway_factory",
    "run_bot",
]

log = logging.getLogger(__name__)

#: ``my_chat_member``: a user blocking or unblocking the bot (see ``bot.contacts``)
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
POLL_TIMEOUT_SECONDS = 10
STOP_TIMEOUT_SECONDS = 25.0
_BACKOFF = (0.5, 1.0, 2.0, 5.0)


class CatalogCache:
    """The catalog the engine reads, kept in memory; ``refresh`` reloads it when the stored
    revision moved (one cheap query when it did not)."""

    def __init__(self, database: Database, metrics: Metrics) -> None:
        self._database = database
        self._metrics = metrics
        self._catalog = Catalog()
        self._revision: int | None = None

    def get(self) -> Catalog:
        return self._catalog

    @property
    def revision(self) -> int | None:
        return self._revision

    async def refresh(self) -> bool:
        """Reload when the stored catalog changed; True if it did."""
        async with self._database.uow as uow:
            revision = await uow.catalog.revision()
            if revision == self._revision:
                return False
            catalog = await uow.catalog.load()
        self._catalog, self._revision = catalog, revision
        self._metrics.catalog_reloads.inc()
        log.info("catalog loaded (revision %s, %d services)", revision, len(catalog.services))
        return True


@dataclass
class AppContext:
    """What the pieces built by factories (the engine, the payment gateway, extra HTTP routes
    and background services) may use. ``bot`` and ``renderer`` let them message users."""

    settings: Settings
    database: Database
    catalog: CatalogCache
    clock: Clock
    i18n: I18n
    metrics: Metrics
    bot: Bot
    renderer: Renderer
    redis: Redis | None = None
    redis_prefix: str = "onesme:"
    gateway: PaymentGateway | None = None
    #: started by BotApp.start after updates flow, stopped by BotApp.stop once they are drained
    #: (e.g. the payment reconciler)
    background: list[Background] = field(default_factory=list)
    #: closed by BotApp.stop, last first (e.g. the payment gateway's HTTP client)
    closers: list[Callable[[], Any]] = field(default_factory=list)
    #: the payment use cases, built once by build_app (_wire_payments)
    payments: PaymentServices | None = None
    #: delivers the outbox; built by build_app (_wire_outbox)
    outbox: OutboxWorker | None = None
    #: remembers who wrote to the bot (reachable users); built by build_app
    contacts: ContactRecorder | None = None

    @property
    def bot_id(self) -> int:
        return self.bot.id


class Background(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


EngineFactory = Callable[[AppContext], ConversationEngine]
RoutesFactory = Callable[[AppContext], Sequence[RouteDef]]


def default_engine_factory(ctx: AppContext) -> ConversationEngine:
    """The real engine: the registration flow on the database, paying through the gateway."""
    settings = ctx.settings
    database = ctx.database

    def uow() -> Any:
        return database.uow

    place_order = PlaceOrder(
        uow,
        ctx.catalog.get,
        ctx.clock,
        OrderSettings(unpaid_order_ttl=timedelta(minutes=settings.order_expiry_minutes)),
    )
    assert ctx.payments is not None  # build_app wires them first
    registration = RegistrationServices(
        registrants=RegistrantDirectory(uow),
        checkout=CheckoutOptions(uow, ctx.catalog.get),
        confirmation=ConfirmRegistration(place_order, ctx.payments.start),
    )
    pay_again = PayAgain(ctx.payments.retry, ctx.payments.start)

    async def bot_username() -> str:
        return (await ctx.bot.me()).username or ""

    accounts = DatabaseAccountsBackend(
        uow, ctx.clock, bot_username, default_locale=settings.default_locale
    )
    return Engine(
        catalog=ctx.catalog.get,
        registration=registration,
        settings=EngineSettings(draft_ttl=timedelta(hours=settings.draft_ttl_hours)),
        flow=RegistrationFlow(
            business=StaffBusinessPicker(accounts), order_placed=AgentOrderNotice(accounts)
        ),
        flows={
            PAY_FLOW: PayFlow(pay_again),
            CASH_FLOW: CashFlow(ctx.payments.confirm_cash),
            **account_flows(accounts),
            MANAGE_FLOW: ManageFlow(
                manage_backend(
                    uow,
                    ctx.catalog.get,
                    ctx.clock,
                    InvoicePdf(ctx.i18n),
                    default_locale=settings.default_locale,
                )
            ),
        },
        commands={"cash": CASH_FLOW, "subscriptions": MANAGE_FLOW, **ACCOUNT_COMMANDS},
        entries={REPAY_ACTION: PAY_FLOW, CASH_ACTION: CASH_FLOW, **ACCOUNT_ENTRIES},
    )


def default_gateway_factory(ctx: AppContext) -> PaymentGateway | None:
    """The VNPT Pay client when ``VNPTPAY_*`` are all set; None otherwise (cash only)."""
    settings = ctx.settings
    if not settings.vnptpay_configured:
        return None
    assert settings.vnptpay_url and settings.vnptpay_merchant_service_id
    assert settings.vnptpay_api_key and settings.vnptpay_secret_key
    client = VnptPayClient(
        settings.vnptpay_url,
        settings.vnptpay_merchant_service_id,
        settings.vnptpay_api_key.get_secret_value(),
        settings.vnptpay_secret_key.get_secret_value(),
    )
    ctx.closers.append(client.aclose)
    return client


def _wire_payments(ctx: AppContext) -> list[RouteDef]:
    """The payment use cases (into ``ctx``), the reconciler among the
    background services (it expires unpaid orders even without a gateway), and with VNPT Pay
    the notification and return routes."""
    settings = ctx.settings
    database = ctx.database

    def uow() -> Any:
        return database.uow

    minutes = settings.reconcile_after_minutes
    services = build_payment_services(
        uow, ctx.catalog.get, ctx.clock, ctx.gateway, reconcile_after=timedelta(minutes=minutes)
    )
    ctx.payments = services
    ctx.background.append(
        PaymentReconciler(
            reconcile=services.reconcile,
            expire=services.expire,
            interval=interval_for(minutes),
            guard=JobLock(database, "payment-reconciler").round,  # one replica per round
        )
    )
    if not isinstance(ctx.gateway, VnptPayClient):
        return []
    return payment_routes(
        client=ctx.gateway,
        services=services,
        i18n=ctx.i18n,
        chat_url=_fixed_url(settings.chat_url)
        if settings.chat_url
        else TelegramChatUrl.from_bot(ctx.bot),
        default_locale=settings.default_locale,
    )


def _wire_outbox(ctx: AppContext, outbox_database: Database) -> None:
    """Who wrote to the bot (a cache in Redis when configured, shared by the replicas, else in
    the process) and the outbox worker, woken by every commit of this process that wrote
    outbox rows. The worker has its own small connection pool (``outbox_database``), so its
    polling never waits for, or is counted with, the connections serving updates."""

    def uow() -> Any:
        return ctx.database.uow

    def worker_uow() -> Any:
        return outbox_database.uow

    cache: ContactCache = (
        RedisContactCache(ctx.redis, ctx.redis_prefix)
        if ctx.redis is not None
        else MemoryContactCache()
    )
    ctx.contacts = ContactRecorder(
        RecordContact(uow, ctx.clock), cache, blocked=MarkUnreachable(uow, ctx.clock)
    )
    worker = OutboxWorker(
        uow=worker_uow,
        clock=ctx.clock,
        bot=ctx.bot,
        renderer=ctx.renderer,
        catalog=ctx.catalog.get,
        metrics=ctx.metrics,
        default_locale=ctx.settings.default_locale,
        on_forbidden=ctx.contacts.forget,
        poll_interval=ctx.settings.outbox_poll_seconds,
        lease=timedelta(seconds=ctx.settings.outbox_lease_seconds),
    )
    ctx.database.uow.after_outbox_commit.append(worker.wake)
    ctx.outbox = worker
    ctx.background.append(worker)


def _fixed_url(url: str) -> Callable[[], Awaitable[str | None]]:
    async def chat_url() -> str | None:
        return url

    return chat_url


def _state_stores(
    ctx: AppContext,
) -> tuple[ConversationStore, ChatLock, UpdateDeduper, UpdateJournal | None]:
    """Conversation state, per-chat locks, update de-duplication and the journal of updates
    being handled: in Redis when it is configured (shared by every replica), else the database
    and this process (no journal: no other replica handles an update again)."""
    if ctx.redis is not None:
        # Redis' expiry only collects garbage; the engine tells the user a draft expired, so
        # a draft must outlive DRAFT_TTL_HOURS in Redis.
        ttl = max(timedelta(days=7), 2 * timedelta(hours=ctx.settings.draft_ttl_hours))
        prefix = ctx.redis_prefix
        return (
            RedisConversationStore(ctx.redis, prefix=prefix, ttl=ttl),
            # extended while its handler runs; a dead replica's chats are free within 10 s
            RedisChatLock(ctx.redis, prefix=prefix, ttl=timedelta(seconds=10)),
            # update ids are per bot: two bots sharing a Redis must not skip each other's
            RedisUpdateDeduper(ctx.redis, prefix=f"{prefix}{ctx.bot.id}:"),
            RedisUpdateJournal(ctx.redis, prefix=f"{prefix}{ctx.bot.id}:"),
        )
    return (
        # REDIS_URL unset means one bot process: drafts are read from memory, written through
        CachedConversationStore(SqlConversationStore(ctx.database.engine)),
        LocalChatLock(),
        MemoryUpdateDeduper(),
        None,
    )


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
        *,
        context: AppContext,
        bot: Bot,
        dispatcher: Dispatcher,
        flow: ChatFlow,
        store: ConversationStore,
        chat_lock: ChatLock,
        deduper: UpdateDeduper,
        http_app: web.Application,
        webhook: WebhookEndpoint | None,
    ) -> None:
        self.context = context
        self.settings = context.settings
        self.database = context.database
        self.catalog = context.catalog
        self.metrics = context.metrics
        self.bot = bot
        self.dispatcher = dispatcher
        self.flow = flow
        self.store = store
        self.chat_lock = chat_lock
        self.deduper = deduper
        self.http_app = http_app
        self.webhook = webhook
        self.inflight = _InFlight()
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._update_tasks: set[asyncio.Task[None]] = set()
        self._chat_tails: dict[int, asyncio.Task[None]] = {}
        self._next_offset: int | None = None
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
            await upgrade_to_head(self.settings.database_url)
        await self._apply_start_settings()
        await self.catalog.refresh()
        if set_commands:
            await self._set_commands()

    async def _apply_start_settings(self) -> None:
        settings = self.settings
        if settings.catalog_file is None and not settings.admin_ids:
            return
        clock = self.context.clock

        def uow() -> Any:
            return self.database.uow

        if settings.catalog_file is not None:
            catalog = load_catalog_file(settings.catalog_file)
            result = await LoadCatalog(uow, clock)(catalog, source=str(settings.catalog_file))
            log.info(
                "catalog file %s applied (%s)",
                settings.catalog_file,
                "changed" if result.changed else "unchanged",
            )
        for user_id in settings.admin_ids:
            await GrantRole(uow, clock)(GrantRoleRequest(user_id=user_id, role="admin"))
        if settings.admin_ids:
            log.info("admin role granted to %d user(s)", len(settings.admin_ids))

    async def _set_commands(self) -> None:
        i18n = self.context.i18n
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
            )
            log.info("webhook set: %s", settings.webhook_url)
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("polling for updates")
        self._refresher = asyncio.create_task(self._refresh_catalog(), name="catalog-refresh")
        for service in self.context.background:
            await service.start()

    async def process_update(self, update: Update) -> None:
        """Handle one update to the end (the webhook awaits this; polling runs it as a task)."""
        with self.inflight.track():
            try:
                await self.dispatcher.feed_update(self.bot, update)
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
        # With a journal (replicas on Redis) every request goes through the session, where the
        # journal records it; a webhook's answer is not recorded, so a redelivery after a dead
        # replica could not tell that the callback query was already answered.
        query_id = webhook_reply.callback_query_id(data) if self.flow.journal is None else None
        with webhook_reply.collecting(query_id) as reply:
            await self.process_update(update)
        if reply is None or reply.method is None:
            return None
        self.metrics.bot_api_calls.labels(reply.method["method"], "webhook_reply").inc()
        return reply.method

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                updates = await self.bot.get_updates(
                    offset=self._next_offset,
                    timeout=POLL_TIMEOUT_SECONDS,
                    allowed_updates=list(ALLOWED_UPDATES),
                    request_timeout=POLL_TIMEOUT_SECONDS + 15,
                )
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
        while True:
            await asyncio.sleep(self.settings.catalog_refresh_seconds)
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
            for service in reversed(self.context.background):
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
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _close(self) -> None:
        for close in reversed(self.context.closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as error:
                log.warning("closing %s failed: %s", close, error)

    async def run_until(self, stop: asyncio.Event) -> None:
        """prepare → start → wait for ``stop`` (or the poller's fatal end) → stop."""
        stop_wait = asyncio.create_task(stop.wait())
        try:
            await self.prepare()
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
    gateway_factory: Callable[[AppContext], PaymentGateway | None] = default_gateway_factory,
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
    prefix; default ``REDIS_PREFIX``), ``clock``, ``i18n``, the Bot API ``session``, the
    ``engine_factory`` (a test double), the ``gateway_factory``, and ``extra_routes`` mounted
    on the HTTP server (a sequence, or a callable given the :class:`AppContext`).
    """
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is required to run the bot")
    token = settings.bot_token.get_secret_value()
    validate_token(token)
    metrics = Metrics()
    owns_database = database is None
    database = database if database is not None else Database(settings.database_url)
    owns_redis = redis is None and settings.redis_url is not None
    if redis is None and settings.redis_url is not None:
        redis = Redis.from_url(settings.redis_url)
    redis_prefix = redis_prefix if redis_prefix is not None else settings.redis_prefix
    if session is None:
        session = BotSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(ReplayGuard(metrics))  # outermost: a repeated request is not even counted
    bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    # the policy next (inside the replay guard): the counter below it sees every attempt
    session.middleware(
        send_policy_for(
            settings,
            bot_id=bot.id,
            metrics=metrics,
            redis=redis,
            redis_prefix=redis_prefix,
            request_timeout=float(session.timeout),
        )
    )
    session.middleware(BotApiCallCounter(metrics))
    i18n = i18n or I18n.load()
    context = AppContext(
        settings=settings,
        database=database,
        catalog=CatalogCache(database, metrics),
        clock=clock or SystemClock(),
        i18n=i18n,
        metrics=metrics,
        bot=bot,
        renderer=Renderer(i18n),
        redis=redis,
        redis_prefix=redis_prefix,
    )
    context.closers.append(count_statements(database.engine.sync_engine, metrics))
    if owns_database:
        context.closers.append(database.dispose)
    if owns_redis and redis is not None:
        context.closers.append(redis.aclose)
    context.closers.append(bot.session.close)
    context.gateway = gateway_factory(context)
    payment_http = _wire_payments(context)
    outbox_database = _outbox_database(database)
    if outbox_database is not database:
        context.closers.append(outbox_database.dispose)
    _wire_outbox(context, outbox_database)
    store, chat_lock, deduper, journal = _state_stores(context)
    flow = ChatFlow(
        bot_id=bot.id,
        engine=engine_factory(context),
        store=store,
        chat_lock=chat_lock,
        renderer=context.renderer,
        metrics=metrics,
        clock=context.clock,
        deduper=deduper,
        default_locale=settings.default_locale,
        retry_when_busy=bool(settings.webhook_url),
        journal=journal,
    )
    dispatcher = Dispatcher(disable_fsm=True)
    dispatcher.update.outer_middleware(UpdateGate(deduper, metrics))
    assert context.contacts is not None
    dispatcher.update.outer_middleware(ContactGate(context.contacts))
    dispatcher.include_router(create_router(flow))

    readiness: dict[str, Callable[[], Any]] = {"database": database.ping}
    if redis is not None:
        readiness["redis"] = redis.ping
    routes = [
        *payment_http,
        *(extra_routes(context) if callable(extra_routes) else extra_routes),
    ]
    app_holder: list[BotApp] = []

    async def feed(data: dict[str, Any]) -> dict[str, Any] | None:
        return await app_holder[0].feed_webhook(data)

    webhook = None
    if settings.webhook_url:
        secret = settings.webhook_secret
        webhook = WebhookEndpoint(feed, secret.get_secret_value() if secret else None)
    http_app = create_http_app(
        metrics=metrics, readiness=readiness, webhook=webhook, extra_routes=routes
    )
    app = BotApp(
        context=context,
        bot=bot,
        dispatcher=dispatcher,
        flow=flow,
        store=store,
        chat_lock=chat_lock,
        deduper=deduper,
        http_app=http_app,
        webhook=webhook,
    )
    app_holder.append(app)
    return app


def _outbox_database(database: Database) -> Database:
    """A second engine on the same database for the outbox worker (an in-memory SQLite
    database cannot be opened twice: then the same one)."""
    if database.is_sqlite and make_url(database.url).database in (None, "", ":memory:"):
        return database
    kwargs: dict[str, Any] = {} if database.is_sqlite else {"pool_size": 2, "max_overflow": 2}
    return Database(database.url, **kwargs)


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
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await app.run_until(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
