"""The in-memory database behind :class:`tests.fakes.uow.FakeUnitOfWork`.

Behaviour copied from ``storage/`` (PostgreSQL's where the two backends differ):

- One transaction at a time: a transaction takes the store's lock on its first statement (as
  SQLite's ``BEGIN IMMEDIATE`` does) and works on a copy of the committed tables; ``commit``
  publishes the copy, ``rollback`` drops it. So a task must not wait for another task's
  transaction while it holds one (the same rule as on SQLite); a wait longer than
  ``lock_timeout`` raises instead of hanging the test.
- Ids come from per-table sequences that live outside transactions, as PostgreSQL's do: a
  rolled-back insert, or an ``ON CONFLICT DO NOTHING`` that inserted nothing, still uses a value.
- A violated unique or foreign key constraint raises :class:`sqlalchemy.exc.IntegrityError`, the
  error the SQL repositories let through (the ports name no error of their own for it); the
  transaction is then aborted, as on PostgreSQL: every later statement and ``commit`` raise
  until ``rollback`` or the end of the block.
- Timestamps must be timezone-aware (a naive one raises ``ValueError``) and come back in UTC.
  JSON columns go through ``json.dumps``/``json.loads`` (tuples come back as lists, a value
  JSON cannot hold raises ``TypeError``).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from domain.catalog import Addon, BillingCycle, Plan, Promotion, Service
from domain.changes import ScheduledChange, Trial
from domain.model import (
    Employee,
    Enterprise,
    HistoryEvent,
    Invitation,
    Invoice,
    JoinRequest,
    Memo,
    Order,
    Page,
    PaymentAttempt,
    Role,
    Subscription,
    User,
)
from domain.outbox import OutboxMessage

T = TypeVar("T")

#: how long a transaction waits for another one before the fake gives up (a test bug)
LOCK_TIMEOUT_S = 10.0


class TransactionAborted(RuntimeError):
    """A statement after a failed one in the same transaction (PostgreSQL refuses it too)."""


def integrity_error(constraint: str) -> IntegrityError:
    return IntegrityError(f"fake: {constraint}", None, Exception(f"violates {constraint}"))


def aware(value: datetime) -> datetime:
    """What a ``UTCDateTime`` column stores and returns."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    return value.astimezone(UTC)


def aware_or_none(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def as_stored(entity: T, json_fields: Iterable[str] = ()) -> T:
    """``entity`` as a row would give it back: datetimes in UTC, JSON fields through JSON."""
    assert dataclasses.is_dataclass(entity) and not isinstance(entity, type)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(entity):
        value = getattr(entity, f.name)
        if isinstance(value, datetime):
            changes[f.name] = aware(value)
    for name in json_fields:
        value = getattr(entity, name)
        if value is None:
            continue
        loaded = json.loads(json.dumps(value))
        changes[name] = tuple(loaded) if isinstance(value, tuple) else loaded
    return dataclasses.replace(entity, **changes) if changes else entity


def fresh(entity: T) -> T:
    """A copy the caller may not use to change the store (JSON dicts are mutable)."""
    return copy.deepcopy(entity)


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 1:
        raise ValueError("offset must be ≥ 0 and limit ≥ 1")


def page_of(rows: list[T], offset: int, limit: int) -> Page[T]:
    check_page(offset, limit)
    return Page.of(rows[offset : offset + limit], len(rows), offset, limit)


def newest_first(rows: Iterable[T], key: Callable[[T], Any]) -> list[T]:
    return sorted(rows, key=key, reverse=True)


@dataclass
class CatalogRows:
    """The catalog tables. Services and promotions are keyed by code; plans by (service, code),
    cycles by (plan id, code), add-ons by (service, code). Each value is
    ``(entity without children, position, id)``; a cycle's is ``(cycle, position, id, active)``."""

    services: dict[str, tuple[Service, int]] = field(default_factory=dict)
    plans: dict[tuple[str, str], tuple[Plan, int, int]] = field(default_factory=dict)
    cycles: dict[tuple[int, str], tuple[BillingCycle, int, int, bool]] = field(default_factory=dict)
    addons: dict[tuple[str, str], tuple[Addon, int, int]] = field(default_factory=dict)
    promotions: dict[str, tuple[Promotion, int]] = field(default_factory=dict)

    def copy(self) -> CatalogRows:
        return CatalogRows(
            dict(self.services),
            dict(self.plans),
            dict(self.cycles),
            dict(self.addons),
            dict(self.promotions),
        )


@dataclass
class Tables:
    """Every table, as dicts of immutable values (so a copy of each dict is a snapshot)."""

    users: dict[int, User] = field(default_factory=dict)
    #: (user id, enterprise id) -> (role, insertion order standing in for created_at)
    memberships: dict[tuple[int, int], tuple[Role, int]] = field(default_factory=dict)
    enterprises: dict[int, Enterprise] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    payments: dict[int, PaymentAttempt] = field(default_factory=dict)
    #: id -> (attempt id, order id, merchant order id, applied at)
    applications: dict[int, tuple[int, int, str, datetime]] = field(default_factory=dict)
    #: id -> (order id, enterprise id, promotion code, created at)
    redemptions: dict[int, tuple[int, int, str, datetime]] = field(default_factory=dict)
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    invoices: dict[int, Invoice] = field(default_factory=dict)
    memos: dict[int, Memo] = field(default_factory=dict)
    employees: dict[int, Employee] = field(default_factory=dict)
    history: dict[int, HistoryEvent] = field(default_factory=dict)
    invitations: dict[int, Invitation] = field(default_factory=dict)
    join_requests: dict[int, JoinRequest] = field(default_factory=dict)
    outbox: dict[int, OutboxMessage] = field(default_factory=dict)
    catalog: CatalogRows = field(default_factory=CatalogRows)
    scheduled_changes: dict[int, ScheduledChange] = field(default_factory=dict)
    trials: dict[int, Trial] = field(default_factory=dict)

    def copy(self) -> Tables:
        values = {f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)}
        return Tables(**values)


class FakeStore:
    """The committed tables, the sequences and the write lock, shared by every transaction."""

    def __init__(self, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.committed = Tables()
        self.lock = asyncio.Lock()
        self.lock_timeout = lock_timeout
        self._sequences: dict[str, itertools.count[int]] = {}
        self._order = itertools.count(1)
        #: transactions committed so far (tests may count them)
        self.commits = 0

    def next_id(self, table: str) -> int:
        """``nextval``: never given back, whatever happens to the transaction."""
        return next(self._sequences.setdefault(table, itertools.count(1)))

    def tick(self) -> int:
        return next(self._order)


class Transaction:
    """One task's open unit of work: begun lazily by its first statement."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.task = asyncio.current_task()
        self._tables: Tables | None = None
        self._aborted = False
        #: this transaction wrote outbox rows (read by the unit of work's commit); cleared by
        #: a rollback, like the SQL session's flag
        self.outbox_written = False

    async def tables(self) -> Tables:
        """The working copy, beginning the transaction (and taking the lock) if needed."""
        if self._aborted:
            raise TransactionAborted(
                "current transaction is aborted (a statement failed): roll back first"
            )
        if self._tables is None:
            try:
                await asyncio.wait_for(self.store.lock.acquire(), self.store.lock_timeout)
            except TimeoutError:
                raise TimeoutError(
                    "fake unit of work: another transaction held the store for "
                    f"{self.store.lock_timeout} s (does a task wait for another task's "
                    "transaction while holding one?)"
                ) from None
            self._tables = self.store.committed.copy()
        return self._tables

    def abort(self) -> None:
        self._aborted = True

    async def commit(self) -> None:
        if self._aborted:
            await self.rollback()
            raise TransactionAborted("the transaction was aborted by a failed statement")
        if self._tables is not None:
            self.store.committed = self._tables
            self.store.commits += 1
            self._end()

    async def rollback(self) -> None:
        self._aborted = False
        self.outbox_written = False
        if self._tables is not None:
            self._end()

    def _end(self) -> None:
        self._tables = None
        self.store.lock.release()


class FakeRepository:
    """Base of the fake repositories: the transaction they belong to."""

    __slots__ = ("_tx",)

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    @property
    def _store(self) -> FakeStore:
        return self._tx.store

    async def _t(self) -> Tables:
        return await self._tx.tables()

    def _fail(self, constraint: str) -> IntegrityError:
        """The error of a violated constraint; the transaction is aborted."""
        self._tx.abort()
        return integrity_error(constraint)

    def _fk(self, table: dict[Any, Any], value: Any, constraint: str) -> None:
        """A foreign key: ``value`` (unless None) must be a key of ``table``."""
        if value is not None and value not in table:
            raise self._fail(f"foreign key {constraint}")
