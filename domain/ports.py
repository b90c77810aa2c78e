"""Ports: what the use cases need from the outside world, as small Protocols.

Repositories return domain objects (``domain.model``), never storage rows. They never commit:
the unit of work does, once per use case (``async with uow: ... await uow.commit()``; leaving
the block without a commit rolls everything back).

Methods named ``add`` take an entity built with ``id=0`` and return the stored copy with its id.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self

from domain.catalog import Catalog
from domain.changes import ChangeRepository
from domain.model import (
    ConversationRecord,
    Employee,
    EmployeeId,
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Invitation,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    JoinRequest,
    JoinRequestId,
    JoinRequestStatus,
    Membership,
    Memo,
    MemoId,
    MemoStatus,
    Order,
    OrderId,
    OrderStatus,
    Page,
    PaymentAttempt,
    PaymentAttemptId,
    PaymentAttemptStatus,
    Principal,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
)
from domain.outbox import OutboxRepository


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class LockTimeout(TimeoutError):
    """A per-chat lock could not be taken in time (another update of that chat is running)."""


# ---------------------------------------------------------------------------------------------
# Repositories


class UserRepository(Protocol):
    async def get(self, user_id: UserId) -> User | None: ...

    async def get_many(self, user_ids: Collection[UserId]) -> dict[UserId, User]: ...

    async def upsert(self, user: User) -> User:
        """Insert the user, or refresh the Telegram profile (``first_name``, ``username``) of an
        existing one; ``phone`` and ``locale`` are overwritten only when the given user has them;
        a ``chat_seen_at`` given is stored and clears ``unreachable_at``; ``created_at`` and the
        global roles of an existing user are kept. One statement."""
        ...

    async def ensure(self, user_id: UserId, now: datetime) -> User:
        """The user, created with an empty profile if unknown (e.g. granted a role by id)."""
        ...

    async def record_contact(self, user: User, now: datetime) -> None:
        """The user wrote to the bot: insert them or refresh ``first_name``, ``username`` and
        ``language_code``; ``chat_seen_at`` becomes ``now`` and ``unreachable_at`` is cleared.
        Roles, phone and chosen locale are kept. One statement."""
        ...

    async def mark_unreachable(self, user_id: UserId, now: datetime) -> None:
        """Telegram refused a message to them (403)."""
        ...

    async def set_locale(self, user_id: UserId, locale: str | None) -> None: ...

    async def set_phone(self, user_id: UserId, phone: str | None) -> None: ...

    async def set_global_role(self, user_id: UserId, role: Role, enabled: bool = True) -> bool:
        """Grant (or revoke) ``admin``/``agent``; True if it changed anything."""
        ...

    async def principal(self, user_id: UserId) -> Principal | None:
        """The user with memberships and global roles, in one query; None if unknown."""
        ...

    async def reachable_admins(self, limit: int = 20) -> list[User]:
        """Admins the bot may write to (``User.reachable``), by id; at most ``limit``."""
        ...


class MembershipRepository(Protocol):
    async def for_user(self, user_id: UserId) -> list[Membership]: ...

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Membership]: ...

    async def get(self, user_id: UserId, enterprise_id: EnterpriseId) -> Membership | None: ...

    async def add(self, membership: Membership) -> bool:
        """Insert, or change the role of an existing membership; True if anything changed."""
        ...

    async def set_role(self, user_id: UserId, enterprise_id: EnterpriseId, role: Role) -> bool:
        """Change the role of an existing membership; False if there is none."""
        ...

    async def remove(self, user_id: UserId, enterprise_id: EnterpriseId) -> bool: ...


class EnterpriseRepository(Protocol):
    async def get(self, enterprise_id: EnterpriseId) -> Enterprise | None: ...

    async def get_many(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]: ...

    async def by_tax_code(self, tax_code: str) -> Enterprise | None: ...

    async def search(self, query: str, limit: int = 10) -> list[Enterprise]:
        """Enterprises whose tax code starts with, or whose name contains, ``query``."""
        ...

    async def add(self, enterprise: Enterprise) -> Enterprise:
        """Insert; idempotent on the tax code: if it exists, the stored enterprise is returned
        unchanged (compare ids to know whether it was created)."""
        ...

    async def update(self, enterprise: Enterprise) -> None: ...


class CatalogRepository(Protocol):
    async def replace(self, catalog: Catalog) -> bool:
        """Upsert every service, plan, cycle, add-on and promotion of ``catalog``; entries whose
        code is not in it become inactive (never deleted). True if anything changed; the
        catalog revision is bumped only then. Concurrent replaces are serialised."""
        ...

    async def load(self) -> Catalog:
        """The whole catalog, inactive entries included (old orders must stay readable)."""
        ...

    async def revision(self) -> int:
        """A number that grows whenever the catalog changes; one cheap query."""
        ...


class PromotionUsageRepository(Protocol):
    async def usage(
        self, codes: Collection[str], enterprise_id: EnterpriseId
    ) -> tuple[dict[str, int], dict[str, int]]:
        """``(total uses, uses by this enterprise)`` for each code (0 when unused), one query.
        A use is one order holding the code, until that order is released."""
        ...

    async def lock(self, codes: Collection[str]) -> None:
        """Serialise quota checks: row locks on the promotions until the unit of work ends."""
        ...

    async def redeem(
        self,
        order_id: OrderId,
        enterprise_id: EnterpriseId,
        codes: Collection[str],
        at: datetime | None = None,
    ) -> None:
        """Take one use of each code for the order (a code counts once per order)."""
        ...

    async def release(self, order_id: OrderId) -> int:
        """Give back the uses of an order that will never be paid; returns how many."""
        ...


class OrderRepository(Protocol):
    async def next_code(self, year: int) -> str:
        """A fresh order code for ``year`` (from a per-year counter)."""
        ...

    async def add(self, order: Order) -> Order:
        """Insert; idempotent on ``idempotency_key``: when the key exists (even inserted
        concurrently) the order stored first is returned and nothing is written.
        Compare ``code`` or ``id`` to know whether this call created it."""
        ...

    async def get(self, order_id: OrderId, *, for_update: bool = False) -> Order | None: ...

    async def get_by_code(self, code: str) -> Order | None: ...

    async def by_idempotency_key(self, key: str) -> Order | None: ...

    async def list_expired(self, now: datetime, limit: int = 100) -> list[Order]:
        """Orders still waiting for payment whose ``expires_at`` is not after ``now``."""
        ...

    async def set_status(
        self,
        order_id: OrderId,
        status: OrderStatus,
        *,
        paid_at: datetime | None = None,
        expected: Collection[OrderStatus] | None = None,
    ) -> bool:
        """Set the status (and ``paid_at`` when given); with ``expected``, only when the current
        status is one of them. True if the row changed."""
        ...


class PaymentRepository(Protocol):
    async def add(self, attempt: PaymentAttempt) -> PaymentAttempt: ...

    async def get(self, attempt_id: PaymentAttemptId) -> PaymentAttempt | None: ...

    async def get_by_merchant_order_id(
        self, merchant_order_id: str, *, for_update: bool = False
    ) -> PaymentAttempt | None: ...

    async def for_order(self, order_id: OrderId) -> list[PaymentAttempt]:
        """Every attempt of an order, oldest first."""
        ...

    async def mark_pending(
        self, attempt_id: PaymentAttemptId, redirect_url: str, create_date: str
    ) -> bool:
        """The gateway gave a payment link (only from CREATED/PENDING)."""
        ...

    async def mark_success(
        self,
        attempt_id: PaymentAttemptId,
        *,
        transaction_id: str | None,
        response_code: str | None,
        at: datetime,
    ) -> bool:
        """From any status but SUCCESS (a late success still counts); sets ``completed_at``.
        Call it after :meth:`claim_success` returned True."""
        ...

    async def mark_failed(
        self, attempt_id: PaymentAttemptId, *, response_code: str | None, at: datetime
    ) -> bool:
        """Only from CREATED/PENDING."""
        ...

    async def mark_cancelled(
        self, attempt_id: PaymentAttemptId, *, response_code: str | None, at: datetime
    ) -> bool:
        """Only from CREATED/PENDING."""
        ...

    async def mark_expired(self, attempt_id: PaymentAttemptId, *, at: datetime) -> bool:
        """Only from CREATED/PENDING."""
        ...

    async def mark_notified(self, attempt_id: PaymentAttemptId, at: datetime) -> None:
        """A notification about this attempt arrived (whatever its result)."""
        ...

    async def set_status(
        self,
        attempt_id: PaymentAttemptId,
        status: PaymentAttemptStatus,
        *,
        response_code: str | None = None,
        transaction_id: str | None = None,
        completed_at: datetime | None = None,
        expected: Collection[PaymentAttemptStatus] | None = None,
    ) -> bool:
        """The general form of the ``mark_*`` methods (fields left ``None`` are kept);
        with ``expected``, only from those statuses. True if the row changed."""
        ...

    async def mark_queried(self, attempt_id: PaymentAttemptId, at: datetime) -> None:
        """Record a gateway query: ``last_queried_at`` and ``query_count + 1``."""
        ...

    async def list_unnotified(self, older_than: datetime, limit: int = 100) -> list[PaymentAttempt]:
        """Open attempts (CREATED/PENDING) with no notification, created and last queried no
        later than ``older_than``: the ones to ask the gateway about, oldest first."""
        ...

    async def claim_success(
        self,
        attempt_id: PaymentAttemptId,
        order_id: OrderId,
        merchant_order_id: str,
        at: datetime,
    ) -> bool:
        """Record that a success is being applied. A database constraint allows one per merchant
        order id and one per order: True for the first claim, False for any repeat (even a
        concurrent one) — then nothing must be applied again."""
        ...


class SubscriptionRepository(Protocol):
    async def next_code(self, year: int) -> str: ...

    async def add(self, subscription: Subscription) -> Subscription: ...

    async def get(
        self, subscription_id: SubscriptionId, *, for_update: bool = False
    ) -> Subscription | None: ...

    async def get_by_code(self, code: str) -> Subscription | None: ...

    async def for_order(self, order_id: OrderId) -> list[Subscription]: ...

    async def list_for_enterprise(
        self,
        enterprise_id: EnterpriseId | Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        """Newest first, with the total count; two queries whatever the size."""
        ...

    async def update(self, subscription: Subscription) -> None:
        """Store the mutable fields (plan, cycle, status, progress, quantity, add-ons, periods)."""
        ...

    async def get_for_user(
        self, subscription_id: SubscriptionId, user_id: UserId
    ) -> tuple[Subscription, User | None, Role | None] | None:
        """The subscription with what ``user_id`` is (the user, None if unknown) and their role
        in its enterprise (None if they hold none), in one query; None if no such subscription."""
        ...

    async def page_for_enterprises(
        self,
        enterprise_ids: Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        """Newest first, with the total count, in one query whatever the size."""
        ...


class RenewalRepository(Protocol):
    """The subscription's life after registration (``domain.usecases.renewal``)."""

    async def ending(
        self,
        statuses: Collection[SubscriptionStatus],
        before: datetime,
        after: datetime | None = None,
        limit: int = 100,
    ) -> list[Subscription]:
        """Subscriptions in ``statuses`` whose period ends at or before ``before`` (and after
        ``after``), soonest first."""
        ...

    async def record_reminder(
        self,
        subscription_id: SubscriptionId,
        period_end: datetime,
        days: int,
        recipients: int,
        now: datetime,
    ) -> bool:
        """Record the reminder (subscription, period end, days): False, and nothing written,
        when it exists already (another worker sent it). Unique in the database: a concurrent
        insert of the same key waits for the other transaction and then finds it."""
        ...

    async def reminders_sent(
        self, subscription_id: SubscriptionId, period_end: datetime
    ) -> list[int]:
        """The days-before offsets already sent for this period."""
        ...

    async def open_orders(self, subscription_id: SubscriptionId) -> list[Order]:
        """Orders still waiting for payment that act on the subscription (renewal, change)."""
        ...


class InvoiceRepository(Protocol):
    async def add(self, invoice: Invoice) -> Invoice: ...

    async def get(self, invoice_id: InvoiceId, *, for_update: bool = False) -> Invoice | None: ...

    async def get_by_number(self, number: str) -> Invoice | None: ...

    async def for_subscription(self, subscription_id: SubscriptionId) -> list[Invoice]: ...

    async def for_order(self, order_id: OrderId) -> list[Invoice]: ...

    async def assign_number(self, invoice_id: InvoiceId, year: int) -> str:
        """Give the invoice the next number of ``year`` (``HD2026-000123``), gap-free: the
        counter moves in the same transaction, so a rollback gives the number back. An invoice
        that already has a number keeps it."""
        ...

    async def update(self, invoice: Invoice) -> None:
        """Store status, subscription, issued/paid times and who confirmed it."""
        ...

    async def set_status(
        self,
        invoice_id: InvoiceId,
        status: InvoiceStatus,
        *,
        paid_at: datetime | None = None,
        confirmed_by: UserId | None = None,
    ) -> None: ...


class MemoRepository(Protocol):
    async def add(self, memo: Memo) -> Memo: ...

    async def get(self, memo_id: MemoId) -> Memo | None: ...

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]: ...

    async def set_status(self, memo_id: MemoId, status: MemoStatus) -> bool: ...

    async def page(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        """Newest first, with the total count, in one query."""
        ...


class EmployeeRepository(Protocol):
    async def add(self, employee: Employee) -> Employee: ...

    async def get(self, employee_id: EmployeeId) -> Employee | None: ...

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Employee]: ...

    async def count_active(self, subscription_id: SubscriptionId) -> int: ...

    async def set_active(self, employee_id: EmployeeId, active: bool) -> bool: ...

    async def update(self, employee: Employee) -> None: ...

    async def page_with_active(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> tuple[Page[Employee], int]:
        """Active employees first, then by name, with the total and the number of active
        employees, in one query."""
        ...

    async def email_taken(self, subscription_id: SubscriptionId, email: str) -> bool:
        """Whether an employee of the subscription has this e-mail (case-insensitive)."""
        ...


class HistoryRepository(Protocol):
    async def add(self, event: HistoryEvent) -> HistoryEvent: ...

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        """Newest first."""
        ...

    async def list_for_enterprise(
        self, enterprise_id: EnterpriseId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]: ...

    async def list_for_order(self, order_id: OrderId) -> builtins.list[HistoryEvent]:
        """Oldest first."""
        ...

    async def page_for_subscription(
        self,
        subscription_id: SubscriptionId,
        order_id: OrderId | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[HistoryEvent]:
        """The events of the subscription and, with ``order_id``, those of its order from
        before it existed; newest first, with the total count, in one query."""
        ...


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> Invitation: ...

    async def get_by_token(self, token: str, *, for_update: bool = False) -> Invitation | None: ...

    async def mark_used(self, token: str, user_id: UserId, at: datetime) -> bool:
        """Use the invitation if it is still unused; True for the one caller that did."""
        ...

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Invitation]: ...


class JoinRequestRepository(Protocol):
    async def add(self, request: JoinRequest) -> JoinRequest: ...

    async def get(self, request_id: JoinRequestId) -> JoinRequest | None: ...

    async def pending_for_enterprise(self, enterprise_id: EnterpriseId) -> list[JoinRequest]: ...

    async def pending_for_user(self, user_id: UserId) -> list[JoinRequest]: ...

    async def decide(
        self,
        request_id: JoinRequestId,
        status: JoinRequestStatus,
        decided_by: UserId,
        at: datetime,
    ) -> bool:
        """Accept or refuse a pending request; True for the one caller that decided it."""
        ...


class CounterRepository(Protocol):
    async def next(self, name: str) -> int:
        """The next value (1, 2, …) of a named counter, gap-free: the increment belongs to the
        current transaction and concurrent transactions wait for each other."""
        ...

    async def current(self, name: str) -> int:
        """The last value handed out (0 if never)."""
        ...


class UnitOfWork(Protocol):
    """One transaction. ``async with uow:`` opens it; ``await uow.commit()`` makes it durable;
    leaving the block without committing rolls back."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def memberships(self) -> MembershipRepository: ...

    @property
    def enterprises(self) -> EnterpriseRepository: ...

    @property
    def catalog(self) -> CatalogRepository: ...

    @property
    def promotions(self) -> PromotionUsageRepository: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def invoices(self) -> InvoiceRepository: ...

    @property
    def memos(self) -> MemoRepository: ...

    @property
    def employees(self) -> EmployeeRepository: ...

    @property
    def history(self) -> HistoryRepository: ...

    @property
    def invitations(self) -> InvitationRepository: ...

    @property
    def join_requests(self) -> JoinRequestRepository: ...

    @property
    def counters(self) -> CounterRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def renewals(self) -> RenewalRepository: ...

    @property
    def changes(self) -> ChangeRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


#: what use cases take: ``async with self._uow() as uow: ...`` opens one transaction
UowFactory = Callable[[], UnitOfWork]


# ---------------------------------------------------------------------------------------------
# Conversation state, per-chat locking, update de-duplication


class ConversationStore(Protocol):
    """Drafts, one round trip per call. Stores may forget records after an idle time."""

    async def get(self, key: str) -> ConversationRecord | None: ...

    async def put(self, record: ConversationRecord) -> None: ...

    async def delete(self, key: str) -> None: ...


class ChatLock(Protocol):
    """Mutual exclusion per chat: ``async with chat_lock.lock(key):``. Raises
    :class:`LockTimeout` when the lock cannot be taken in time."""

    def lock(self, key: str, order: int | None = None) -> AbstractAsyncContextManager[None]:
        """``order`` (the update id) puts waiters for one chat in Telegram's order where the
        lock is shared by several processes; ``None`` waits behind every update."""
        ...


class UpdateDeduper(Protocol):
    """Which updates were handled to the end. An update is marked *done* only once handled
    (under its chat's lock), so a redelivery of an update whose replica died mid-way runs
    again, while a repeat of a finished one is skipped."""

    async def done(self, update_id: int) -> bool:
        """True if ``update_id`` was handled to the end already."""
        ...

    async def mark_done(self, update_id: int) -> None:
        """Record that ``update_id`` was handled to the end."""
        ...

    async def forget(self, update_id: int) -> None:
        """Undo :meth:`mark_done` (a failed update, so that a redelivery runs)."""
        ...
