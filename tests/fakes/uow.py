"""An in-memory :class:`domain.ports.UnitOfWork` for fast use-case tests (no database).

Use it like the SQL one: one ``FakeUnitOfWork`` shared by the use cases (``lambda: uow``), each
``async with uow:`` a transaction of its own task; changes are seen by others only after
``await uow.commit()``, leaving the block without a commit rolls back. See
:mod:`tests.fakes.store` for what is copied from the database's behaviour (one transaction at a
time, PostgreSQL-like ids, ``IntegrityError`` on a violated constraint, aware timestamps, JSON).
``tests/integration/test_uow_contract.py`` runs the same assertions on this fake and on
``storage.db.SqlUnitOfWork``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Self

from tests.fakes.accounts import (
    FakeEnterpriseRepository,
    FakeInvitationRepository,
    FakeJoinRequestRepository,
    FakeMembershipRepository,
    FakeUserRepository,
)
from tests.fakes.catalog import FakeCatalogRepository
from tests.fakes.changes import FakeChangeRepository
from tests.fakes.orders import (
    FakeCounterRepository,
    FakeOrderRepository,
    FakePaymentRepository,
    FakePromotionUsageRepository,
)
from tests.fakes.outbox import FakeOutboxRepository
from tests.fakes.store import FakeStore, Tables, Transaction
from tests.fakes.subscriptions import (
    FakeEmployeeRepository,
    FakeHistoryRepository,
    FakeInvoiceRepository,
    FakeMemoRepository,
    FakeSubscriptionRepository,
)

if TYPE_CHECKING:
    from domain.ports import UnitOfWork


class _Active:
    """The transaction of one open unit of work and its repositories."""

    __slots__ = (
        "catalog",
        "changes",
        "counters",
        "employees",
        "enterprises",
        "history",
        "invitations",
        "invoices",
        "join_requests",
        "memberships",
        "memos",
        "orders",
        "outbox",
        "payments",
        "promotions",
        "subscriptions",
        "tx",
        "users",
    )

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.users = FakeUserRepository(tx)
        self.memberships = FakeMembershipRepository(tx)
        self.enterprises = FakeEnterpriseRepository(tx)
        self.catalog = FakeCatalogRepository(tx)
        self.promotions = FakePromotionUsageRepository(tx)
        self.orders = FakeOrderRepository(tx)
        self.payments = FakePaymentRepository(tx)
        self.subscriptions = FakeSubscriptionRepository(tx)
        self.invoices = FakeInvoiceRepository(tx)
        self.memos = FakeMemoRepository(tx)
        self.employees = FakeEmployeeRepository(tx)
        self.history = FakeHistoryRepository(tx)
        self.invitations = FakeInvitationRepository(tx)
        self.join_requests = FakeJoinRequestRepository(tx)
        self.counters = FakeCounterRepository(tx)
        self.outbox = FakeOutboxRepository(tx)
        self.changes = FakeChangeRepository(tx)


class FakeUnitOfWork:
    """The unit of work on a :class:`FakeStore` (a new empty one by default).

    Per task, like ``SqlUnitOfWork``: nested use in one task is refused, a task started inside
    the block cannot use its parent's transaction but may open its own.
    """

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store if store is not None else FakeStore()
        #: called after a commit that wrote outbox rows (as on ``SqlUnitOfWork``)
        self.after_outbox_commit: list[Callable[[], None]] = []
        self._active: ContextVar[_Active | None] = ContextVar(
            f"FakeUnitOfWork-{id(self)}", default=None
        )

    @property
    def committed(self) -> Tables:
        """The committed tables (for assertions; do not change them)."""
        return self.store.committed

    async def __aenter__(self) -> Self:
        if self._open_here() is not None:
            raise RuntimeError("this unit of work is already open in this task")
        self._active.set(_Active(Transaction(self.store)))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        active = self._current()
        self._active.set(None)
        await active.tx.rollback()

    async def commit(self) -> None:
        tx = self._current().tx
        wrote = tx.outbox_written
        await tx.commit()
        tx.outbox_written = False
        if wrote:
            for wake in self.after_outbox_commit:
                wake()

    async def rollback(self) -> None:
        await self._current().tx.rollback()

    def _open_here(self) -> _Active | None:
        active = self._active.get()
        if active is None or active.tx.task is not asyncio.current_task():
            return None
        return active

    def _current(self) -> _Active:
        active = self._open_here()
        if active is None:
            raise RuntimeError("the unit of work is not open in this task: use `async with uow:`")
        return active

    @property
    def users(self) -> FakeUserRepository:
        return self._current().users

    @property
    def memberships(self) -> FakeMembershipRepository:
        return self._current().memberships

    @property
    def enterprises(self) -> FakeEnterpriseRepository:
        return self._current().enterprises

    @property
    def catalog(self) -> FakeCatalogRepository:
        return self._current().catalog

    @property
    def promotions(self) -> FakePromotionUsageRepository:
        return self._current().promotions

    @property
    def orders(self) -> FakeOrderRepository:
        return self._current().orders

    @property
    def payments(self) -> FakePaymentRepository:
        return self._current().payments

    @property
    def subscriptions(self) -> FakeSubscriptionRepository:
        return self._current().subscriptions

    @property
    def invoices(self) -> FakeInvoiceRepository:
        return self._current().invoices

    @property
    def memos(self) -> FakeMemoRepository:
        return self._current().memos

    @property
    def employees(self) -> FakeEmployeeRepository:
        return self._current().employees

    @property
    def history(self) -> FakeHistoryRepository:
        return self._current().history

    @property
    def invitations(self) -> FakeInvitationRepository:
        return self._current().invitations

    @property
    def join_requests(self) -> FakeJoinRequestRepository:
        return self._current().join_requests

    @property
    def counters(self) -> FakeCounterRepository:
        return self._current().counters

    @property
    def changes(self) -> FakeChangeRepository:
        return self._current().changes

    @property
    def outbox(self) -> FakeOutboxRepository:
        return self._current().outbox


if TYPE_CHECKING:
    # mypy checks that the fake implements the port (`scripts/check` runs mypy on tests/fakes)
    _: UnitOfWork = FakeUnitOfWork()


class FakeDatabase:
    """Stands in for ``storage.db.Database`` where a test helper only uses its ``uow``."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self.uow = FakeUnitOfWork(store)

    def snapshot(self) -> Tables:
        """Every committed table, to compare before and after ("nothing changed")."""
        return self.uow.committed.copy()
