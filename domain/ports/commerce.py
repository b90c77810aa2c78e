"""Repositories of what is sold and bought: catalog, promotion usage, orders, payments,
subscriptions, renewals, invoices, memos and a subscription's employees (see
:mod:`domain.ports`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from domain.catalog import Catalog
from domain.model import (
    Employee,
    EmployeeId,
    EnterpriseId,
    Invoice,
    InvoiceId,
    InvoiceStatus,
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
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
)


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
