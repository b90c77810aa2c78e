"""The unit of work (one transaction per use case), and the history and counters every use
case shares (see :mod:`domain.ports`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Protocol, Self

from domain.changes import ChangeRepository
from domain.model import EnterpriseId, HistoryEvent, OrderId, Page, SubscriptionId
from domain.outbox import OutboxRepository
from domain.ports.accounts import (
    EnterpriseRepository,
    InvitationRepository,
    JoinRequestRepository,
    MembershipRepository,
    UserRepository,
)
from domain.ports.commerce import (
    CatalogRepository,
    EmployeeRepository,
    InvoiceRepository,
    MemoRepository,
    OrderRepository,
    PaymentRepository,
    PromotionUsageRepository,
    RenewalRepository,
    SubscriptionRepository,
)


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

    async def latest_of(
        self, actions: Collection[str], limit: int = 100
    ) -> builtins.list[HistoryEvent]:
        """The newest ``limit`` events with one of ``actions``, of any business; newest first."""
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
