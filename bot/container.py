"""The composition root: one typed container that builds every dependency once.

:class:`Container` is made from :class:`~bot.settings.Settings` (plus optional overrides for
tests and the sandbox: a database, a Redis client, a clock, the i18n, the Bot API session) and
gives each piece as a cached property, built on first use from the pieces it needs: the
infrastructure (database, Redis, the aiogram ``Bot``), the use cases (admin, payments, the
outbox worker's, the conversations': :attr:`Container.accounts`, :attr:`Container.manage`)
and the background services. Nothing here does I/O.

The bot (:func:`bot.app.build_app`), the command line (:mod:`bot.cli`) and the sandbox
(:mod:`bot.sandbox_cmd`) all take their use cases from it. What the container created it
closes (:meth:`Container.aclose`, last first); a database or Redis client given to it stays
the caller's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.utils.token import validate_token
from sqlalchemy.engine import make_url

from bot.change_rounds import ChangeRounds
from bot.contacts import (
    ContactCache,
    ContactRecorder,
    MemoryContactCache,
    RedisContactCache,
    RedisFirstRead,
)
from bot.handlers import ConversationEngine
from bot.http import RouteDef
from bot.i18n import I18n
from bot.invoice_pdf import InvoicePdf, InvoicePdfFile
from bot.lifecycle import SubscriptionLifecycle
from bot.metrics import Metrics, count_statements
from bot.middlewares import BotApiCallCounter, FirstRead
from bot.outbox import OutboxWorker, poll_interval, worker_name
from bot.payments_http import (
    PaymentServices,
    TelegramChatUrl,
    build_payment_services,
    payment_routes,
)
from bot.reconciler import PaymentReconciler, interval_for
from bot.render import Renderer
from bot.replay import ReplayGuard
from bot.runtime import Background, CatalogCache, StateStores
from bot.session import BotSession
from bot.settings import Settings
from bot.telegram_policy import send_policy_for
from conversations.accounts import COMMANDS as ACCOUNT_COMMANDS
from conversations.accounts import ENTRIES as ACCOUNT_ENTRIES
from conversations.accounts import (
    AccountsServices,
    AgentOrderNotice,
    StaffBusinessPicker,
    account_flows,
)
from conversations.engine import ConversationEngine as Engine
from conversations.engine import EngineSettings
from conversations.manage import FLOW as MANAGE_FLOW
from conversations.manage import ManageBackend, ManageFlow
from conversations.manage.change import ChangeBackend
from conversations.payment import CASH_ACTION, CASH_FLOW, PAY_FLOW, REPAY_ACTION, CashFlow, PayFlow
from conversations.refunds import REFUND_ACTION, REFUND_FLOW, RefundFlow
from conversations.registration import RegistrationFlow, RegistrationServices
from conversations.renewal import FLOW as RENEWAL_FLOW
from conversations.renewal import RENEW_ACTION, RenewalFlow
from domain.payments import PaymentGateway
from domain.ports import Clock, SystemClock, UnitOfWork
from domain.usecases.accounts import (
    AcceptInvitation,
    BusinessRecipients,
    CreateBusiness,
    CreateInvitation,
    DecideJoinRequest,
    FindBusinessByTaxCode,
    GrantRoleByAdmin,
    Greet,
    OpenBusiness,
    RequestToJoin,
    SearchBusinesses,
    SignUp,
)
from domain.usecases.admin import AddEnterprise, GrantRole, LoadCatalog
from domain.usecases.changes.apply import ApplyScheduledChanges
from domain.usecases.changes.change import ConfirmChange, PreviewChange
from domain.usecases.changes.trials import PayTrial, StartTrial, TrialRound
from domain.usecases.checkout import CheckoutOptions, RegistrantDirectory
from domain.usecases.manage import (
    AddEmployee,
    AddMemo,
    AddNote,
    AdvanceProgress,
    FindSubscription,
    GetInvoice,
    GetPaymentMethod,
    GetSubscription,
    GetSubscriptionDetails,
    ListEmployees,
    ListHistory,
    ListInvoices,
    ListMemos,
    ListSubscriptions,
    SetEmployeeActive,
    SetMemoStatus,
)
from domain.usecases.manage.paying import PayInvoice
from domain.usecases.outbox import (
    ClaimNotices,
    MarkUnreachable,
    OutboxDepth,
    RecordContact,
    SettleDelivery,
)
from domain.usecases.refunds import (
    PendingRefunds,
    RecordRefund,
    RefundServices,
    RefundsOfOrder,
)
from domain.usecases.registration import ConfirmRegistration, OrderSettings, PayAgain, PlaceOrder
from domain.usecases.renewal import (
    CancelNow,
    ExpireSubscriptions,
    PlaceRenewal,
    RenewalOffers,
    RenewalServices,
    RenewSubscription,
    SendRenewalReminders,
    SetRenewal,
)
from payments.vnptpay import VnptPayClient
from storage.conversation_store import SqlConversationStore
from storage.db import Database
from storage.job_lock import JobLock
from storage.local_store import (
    CachedConversationStore,
    LocalChatLock,
    LockedUpdateTurns,
    MemoryUpdateDeduper,
)
from storage.outbox_probe import SqlDueProbe
from storage.reads import SqlRegistrationReads
from storage.redis_store import (
    RedisChatLock,
    RedisConversationStore,
    RedisUpdateDeduper,
)
from storage.redis_store import connect as connect_redis
from storage.redis_turns import RedisUpdateJournal, RedisUpdateTurns
from storage.writes import SqlContactWrites

if TYPE_CHECKING:  # redis is imported only with REDIS_URL (storage.redis_store.connect)
    from redis.asyncio import Redis

__all__ = ["Background", "CatalogCache", "Container", "StateStores"]

log = logging.getLogger(__name__)


class Container:
    """Every dependency of the bot, the CLI and the sandbox, each built once on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        redis: Any | None = None,
        redis_prefix: str | None = None,
        clock: Clock | None = None,
        i18n: I18n | None = None,
        session: AiohttpSession | None = None,
    ) -> None:
        self.settings = settings
        #: closed by :meth:`aclose`, last first
        self.closers: list[Callable[[], Any]] = []
        self.metrics = Metrics()
        self.clock: Clock = clock or SystemClock()
        if database is None:
            database = Database(settings.database_url)
            self.closers.append(database.dispose)
        self.database = database
        self.closers.append(count_statements(database.engine.sync_engine, self.metrics))
        if redis is None and settings.redis_url is not None:
            redis = connect_redis(settings.redis_url)
            self.closers.append(redis.aclose)
        self.redis: Redis | None = redis
        self.redis_prefix = redis_prefix if redis_prefix is not None else settings.redis_prefix
        self._i18n = i18n
        self._session = session

    # infrastructure

    def uow(self) -> UnitOfWork:
        """A unit of work on the main database (what use cases take as their factory)."""
        return self.database.uow

    @cached_property
    def i18n(self) -> I18n:
        return self._i18n or I18n.load()

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.i18n)

    @cached_property
    def catalog(self) -> CatalogCache:
        return CatalogCache(self.database, self.metrics)

    @cached_property
    def bot(self) -> Bot:
        """The aiogram Bot (``TELEGRAM_API_URL``, HTML parse mode) with its session's
        middlewares: the replay guard outermost, the send policy, the call counter."""
        settings = self.settings
        if settings.bot_token is None:
            raise ValueError("BOT_TOKEN is required to run the bot")
        token = settings.bot_token.get_secret_value()
        validate_token(token)
        session = self._session or BotSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_url)
        )
        # outermost: a repeated request is not even counted
        session.middleware(ReplayGuard(self.metrics))
        bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        # the policy next (inside the replay guard): the counter below it sees every attempt
        session.middleware(
            send_policy_for(
                settings,
                bot_id=bot.id,
                metrics=self.metrics,
                redis=self.redis,
                redis_prefix=self.redis_prefix,
                request_timeout=float(session.timeout),
            )
        )
        session.middleware(BotApiCallCounter(self.metrics))
        self.closers.append(bot.session.close)
        return bot

    @cached_property
    def gateway(self) -> PaymentGateway | None:
        """The VNPT Pay client when ``VNPTPAY_*`` are all set; None otherwise (cash only)."""
        settings = self.settings
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
        self.closers.append(client.aclose)
        return client

    @cached_property
    def outbox_database(self) -> Database:
        """A second engine on the same database for the outbox worker, so its polling never
        waits for, or is counted with, the connections serving updates (an in-memory SQLite
        database cannot be opened twice: then the same one)."""
        database = self.database
        if database.is_sqlite and make_url(database.url).database in (None, "", ":memory:"):
            return database
        kwargs: dict[str, Any] = {} if database.is_sqlite else {"pool_size": 2, "max_overflow": 2}
        second = Database(database.url, **kwargs)
        self.closers.append(second.dispose)
        return second

    @cached_property
    def state(self) -> StateStores:
        """In Redis when it is configured (shared by every replica), else the database and
        this process."""
        if self.redis is not None:
            # Redis' expiry only collects garbage; the engine tells the user a draft expired,
            # so a draft must outlive DRAFT_TTL_HOURS in Redis.
            ttl = max(timedelta(days=7), 2 * timedelta(hours=self.settings.draft_ttl_hours))
            prefix = self.redis_prefix
            # update ids are per bot: two bots sharing a Redis must not skip each other's
            per_bot = f"{prefix}{self.bot.id}:"
            # extended while its handler runs; a dead replica's chats are free within 10 s
            lock = RedisChatLock(self.redis, prefix=prefix, ttl=timedelta(seconds=10))
            deduper = RedisUpdateDeduper(self.redis, prefix=per_bot)
            journal = RedisUpdateJournal(self.redis, prefix=per_bot)
            # a turn's lock script reads the draft and the journal; its end saves the draft
            store = RedisConversationStore(self.redis, prefix=prefix, ttl=ttl)
            return StateStores(
                store, lock, deduper, journal, RedisUpdateTurns(lock, deduper, journal, store)
            )
        # REDIS_URL unset means one bot process: drafts are read from memory, written through
        local_lock, memory_deduper = LocalChatLock(), MemoryUpdateDeduper()
        return StateStores(
            CachedConversationStore(SqlConversationStore(self.database.engine)),
            local_lock,
            memory_deduper,
            None,
            LockedUpdateTurns(local_lock, memory_deduper),
        )

    # use cases

    @cached_property
    def load_catalog(self) -> LoadCatalog:
        return LoadCatalog(self.uow, self.clock)

    @cached_property
    def add_enterprise(self) -> AddEnterprise:
        return AddEnterprise(self.uow, self.clock)

    @cached_property
    def grant_role(self) -> GrantRole:
        return GrantRole(self.uow, self.clock)

    @cached_property
    def place_order(self) -> PlaceOrder:
        minutes = self.settings.order_expiry_minutes
        return PlaceOrder(
            self.uow,
            self.catalog.get,
            self.clock,
            OrderSettings(unpaid_order_ttl=timedelta(minutes=minutes)),
        )

    @cached_property
    def payments(self) -> PaymentServices:
        minutes = self.settings.reconcile_after_minutes
        return build_payment_services(
            self.uow,
            self.catalog.get,
            self.clock,
            self.gateway,
            reconcile_after=timedelta(minutes=minutes),
        )

    @cached_property
    def first_read(self) -> FirstRead | None:
        """The update gate's de-duplication check and contact cache read in one round trip
        (both in Redis), else None: each asked on its own."""
        deduper, cache = self.state.deduper, self.contacts.cache
        if isinstance(deduper, RedisUpdateDeduper) and isinstance(cache, RedisContactCache):
            assert self.redis is not None
            turns = self.state.turns
            if isinstance(turns, RedisUpdateTurns) and turns.store is not None:
                # the read also takes the turn's lock of the sender's private chat
                return RedisFirstRead(self.redis, deduper, cache, turns, self.bot.id)
            return RedisFirstRead(self.redis, deduper, cache)
        return None

    @cached_property
    def contacts(self) -> ContactRecorder:
        """Who wrote to the bot: a cache in Redis when configured (shared by the replicas),
        else in the process."""
        cache: ContactCache = (
            RedisContactCache(self.redis, self.redis_prefix)
            if self.redis is not None
            else MemoryContactCache()
        )
        return ContactRecorder(
            RecordContact(self.uow, self.clock, SqlContactWrites(self.database.engine)),
            cache,
            blocked=MarkUnreachable(self.uow, self.clock),
        )

    @cached_property
    def renewals(self) -> RenewalServices:
        """**Gia hạn**, **Hủy gia hạn**, **Tiếp tục gia hạn** and the cancellation by staff."""
        place = PlaceRenewal(
            self.uow,
            self.catalog.get,
            self.clock,
            ttl=timedelta(minutes=self.settings.order_expiry_minutes),
        )
        return RenewalServices(
            offers=RenewalOffers(self.uow, self.catalog.get, self.clock),
            renewal=RenewSubscription(place, self.payments.start),
            renewal_setting=SetRenewal(self.uow, self.clock),
            cancellation=CancelNow(self.uow, self.clock),
        )

    # background services

    @cached_property
    def lifecycle(self) -> SubscriptionLifecycle:
        """Ends the subscriptions whose period is over and sends the renewal reminders; one
        replica per round."""
        settings = self.settings
        return SubscriptionLifecycle(
            expire=ExpireSubscriptions(self.uow, self.clock, settings.renewal_grace_days),
            remind=SendRenewalReminders(self.uow, self.clock, settings.renewal_reminder_days),
            guard=JobLock(self.database, "subscription-lifecycle").round,
        )

    @cached_property
    def reconciler(self) -> PaymentReconciler:
        """Expires unpaid orders (even without a gateway) and asks the gateway about open
        attempts; one replica per round."""
        return PaymentReconciler(
            reconcile=self.payments.reconcile,
            expire=self.payments.expire,
            interval=interval_for(self.settings.reconcile_after_minutes),
            guard=JobLock(self.database, "payment-reconciler").round,
        )

    @cached_property
    def outbox(self) -> OutboxWorker:
        """Delivers the outbox on its own small pool; woken by every commit of this process
        that wrote outbox rows."""
        outbox_database = self.outbox_database
        settings = self.settings

        def worker_uow() -> UnitOfWork:
            return outbox_database.uow

        name = worker_name()
        lease = timedelta(seconds=settings.outbox_lease_seconds)
        worker = OutboxWorker(
            claim=ClaimNotices(
                worker_uow, self.clock, name, lease, due=SqlDueProbe(outbox_database)
            ),
            settle=SettleDelivery(worker_uow, self.clock, name),
            depth=OutboxDepth(worker_uow, self.clock),
            clock=self.clock,
            bot=self.bot,
            renderer=self.renderer,
            catalog=self.catalog.get,
            metrics=self.metrics,
            default_locale=settings.default_locale,
            on_forbidden=self.contacts.forget,
            poll_interval=poll_interval(settings.outbox_poll_seconds, outbox_database.is_sqlite),
        )
        self.database.uow.after_outbox_commit.append(worker.wake)
        return worker

    @cached_property
    def change_rounds(self) -> ChangeRounds:
        """Đổi gói downgrades due at the period end, trial reminders and ends; one replica per
        round."""
        return ChangeRounds(
            scheduled=ApplyScheduledChanges(self.uow, self.catalog.get, self.clock),
            trials=TrialRound(self.uow, self.clock),
            guard=JobLock(self.database, "subscription-changes").round,
        )

    @cached_property
    def background(self) -> list[Background]:
        """Started by BotApp.start after updates flow, stopped (last first) by BotApp.stop."""
        return [self.reconciler, self.outbox, self.change_rounds, self.lifecycle]

    # the conversations

    @cached_property
    def engine(self) -> ConversationEngine:
        """The real engine: the flows on the database, paying through the gateway."""
        settings = self.settings
        # the steps' reads outside a unit of work (PlaceOrder reads again in its transaction)
        reads = SqlRegistrationReads(self.database.engine)
        registration = RegistrationServices(
            registrants=RegistrantDirectory(self.uow, reads),
            checkout=CheckoutOptions(self.uow, self.catalog.get, reads),
            confirmation=ConfirmRegistration(self.place_order, self.payments.start),
            trial=StartTrial(self.uow, self.catalog.get, self.clock),
        )
        pay_again = PayAgain(self.payments.retry, self.payments.start)
        accounts, manage = self.accounts, self.manage
        return Engine(
            catalog=self.catalog.get,
            registration=registration,
            settings=EngineSettings(draft_ttl=timedelta(hours=settings.draft_ttl_hours)),
            flow=RegistrationFlow(
                business=StaffBusinessPicker(accounts), order_placed=AgentOrderNotice(accounts)
            ),
            flows={
                PAY_FLOW: PayFlow(pay_again),
                CASH_FLOW: CashFlow(self.payments.confirm_cash),
                REFUND_FLOW: RefundFlow(
                    RefundServices(
                        RefundsOfOrder(self.uow),
                        RecordRefund(self.uow, self.clock),
                        PendingRefunds(self.uow),
                    )
                ),
                **account_flows(accounts),
                MANAGE_FLOW: ManageFlow(manage),
                RENEWAL_FLOW: RenewalFlow(self.renewals),
            },
            commands={
                "cash": CASH_FLOW,
                "refund": REFUND_FLOW,
                "subscriptions": MANAGE_FLOW,
                **ACCOUNT_COMMANDS,
            },
            entries={
                REPAY_ACTION: PAY_FLOW,
                CASH_ACTION: CASH_FLOW,
                REFUND_ACTION: REFUND_FLOW,
                RENEW_ACTION: RENEWAL_FLOW,
                **ACCOUNT_ENTRIES,
            },
        )

    @cached_property
    def accounts(self) -> AccountsServices:
        """The accounts conversations' use cases (sign-up, joining, invitations, staff)."""
        uow, clock = self.uow, self.clock
        return AccountsServices(
            greet=Greet(uow, clock),
            find_by_tax_code=FindBusinessByTaxCode(uow),
            sign_up=SignUp(uow, clock),
            request_join=RequestToJoin(uow, clock),
            decide_join=DecideJoinRequest(uow, clock),
            invite=CreateInvitation(uow, clock),
            accept_invitation=AcceptInvitation(uow, clock),
            search=SearchBusinesses(uow, clock),
            open_business=OpenBusiness(uow, clock),
            create_business=CreateBusiness(uow, clock),
            owners=BusinessRecipients(uow),
            grant=GrantRoleByAdmin(uow, clock),
            bot_username=self._bot_username,
        )

    @cached_property
    def manage(self) -> ManageBackend:
        """**Quản lý thuê bao**'s use cases, one per question or change; invoices as PDF."""
        uow, catalog, clock = self.uow, self.catalog.get, self.clock
        unpaid_ttl = timedelta(minutes=self.settings.order_expiry_minutes)
        return ManageBackend(
            subscriptions=ListSubscriptions(uow),
            find=FindSubscription(uow),
            overview=GetSubscription(uow),
            employees=ListEmployees(uow, catalog),
            details=GetSubscriptionDetails(uow),
            memos=ListMemos(uow),
            payment=GetPaymentMethod(uow),
            invoices=ListInvoices(uow),
            invoice=GetInvoice(uow),
            invoice_pdf=InvoicePdfFile(catalog, InvoicePdf(self.i18n), self.bot),
            history=ListHistory(uow, clock),
            add_employee=AddEmployee(uow, catalog, clock),
            set_employee_active=SetEmployeeActive(uow, catalog, clock),
            add_note=AddNote(uow, clock),
            add_memo=AddMemo(uow, clock),
            set_memo_status=SetMemoStatus(uow, clock),
            advance_progress=AdvanceProgress(uow, clock, self.settings.default_locale),
            pay_invoice=PayInvoice(uow, clock, self.payments.retry, self.payments.start),
            changes=ChangeBackend(
                preview=PreviewChange(uow, catalog, clock),
                confirm=ConfirmChange(uow, catalog, clock, self.payments.start, unpaid_ttl),
                pay_trial=PayTrial(uow, catalog, clock, self.payments.start, unpaid_ttl),
            ),
        )

    async def _bot_username(self) -> str:
        return (await self.bot.me()).username or ""

    # HTTP

    @cached_property
    def payment_routes(self) -> Sequence[RouteDef]:
        """With VNPT Pay, the notification and return routes; none otherwise."""
        gateway = self.gateway
        if not isinstance(gateway, VnptPayClient):
            return []
        settings = self.settings
        return payment_routes(
            client=gateway,
            services=self.payments,
            i18n=self.i18n,
            chat_url=_fixed_url(settings.chat_url)
            if settings.chat_url
            else TelegramChatUrl.from_bot(self.bot),
            default_locale=settings.default_locale,
        )

    @property
    def bot_id(self) -> int:
        return self.bot.id

    async def aclose(self) -> None:
        """Close what the container created, last first; safe to call twice."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as error:
                log.warning("closing %s failed: %s", close, error)


def _fixed_url(url: str) -> Callable[[], Awaitable[str | None]]:
    async def chat_url() -> str | None:
        return url

    return chat_url
