"""CPU per call of the storage calls the registration wizard makes on its updates, measured
alone in one process (``time.process_time``), on a fresh migrated database:

    python -m bench.storage_calls [--db sqlite|postgres] [--calls 2000] [--only put,usage]

To compare two versions, run it from an export of each (``git archive REV | tar -x -C DIR``;
``cd DIR && python -m bench.storage_calls``) a few times, alternating. The product's statement
counter is attached to the engine, as in the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.catalog_file import load_catalog_file
from bot.metrics import Metrics, count_statements
from domain.model import ConversationRecord, Enterprise, Membership, Role, User, UserId
from domain.pricing import NO_USAGE, Selection, quote
from domain.registration import ConfirmRequest, ContactInfo, DetailEdits, OrderOutcomeKind
from domain.usecases.checkout import CheckoutOptions, RegistrantDirectory
from domain.usecases.outbox import Contact, RecordContact
from domain.usecases.registration import PlaceOrder
from storage.conversation_store import SqlConversationStore
from storage.db import Database
from storage.local_store import CachedConversationStore
from storage.migrate import upgrade_to_head
from storage.reads import SqlRegistrationReads
from storage.writes import SqlContactWrites

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
DRAFT = {
    "service": "SMARTCA",
    "addons": ["SMARTCA-TSA"],
    "note": "Đăng ký",
    "tax": "0101234567",
    "name": "Công ty TNHH ABC",
    "email": "a@b.vn",
    "phone": "+84912345678",
    "message_id": 123456,
}
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


class _Clock:
    def now(self) -> datetime:
        return NOW


PG_NAME = f"storage_calls_{os.getpid()}"


async def _on_pg_server(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _database_url(db: str) -> str:
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='storage-calls')}/calls.db"
    await _on_pg_server(f"DROP DATABASE IF EXISTS {PG_NAME}", f"CREATE DATABASE {PG_NAME}")
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_NAME}"


async def _timed(label: str, calls: int, call: Callable[[int], Awaitable[object]]) -> None:
    for i in range(50):
        await call(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        await call(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:16s} {1e6 * cpu / calls:8.1f} µs CPU/call ({1e6 * wall / calls:8.1f} µs wall)")


async def main(db: str, calls: int, only: set[str] | None) -> None:
    url = await _database_url(db)
    await upgrade_to_head(url)
    database = Database(url)
    metrics = Metrics()
    count_statements(database.engine.sync_engine, metrics)
    catalog = load_catalog_file(Path.cwd() / "catalog.sample.yaml")
    async with database.uow as uow:
        business = await uow.enterprises.add(
            Enterprise(tax_code="0100233488", name="Công ty TNHH ABC", created_at=NOW)
        )
        await uow.users.upsert(User(id=UserId(77), first_name="An", created_at=NOW))
        await uow.memberships.add(Membership(UserId(77), business.id, Role.OWNER))
        await uow.commit()
    store = CachedConversationStore(SqlConversationStore(database.engine))
    # as the bot wires them: the reads outside a unit of work
    reads = SqlRegistrationReads(database.engine)
    registrants = RegistrantDirectory(lambda: database.uow, reads)
    checkout = CheckoutOptions(lambda: database.uow, lambda: catalog, reads)
    # as before round 7: each read in a unit of work of its own
    registrants_uow = RegistrantDirectory(lambda: database.uow)
    checkout_uow = CheckoutOptions(lambda: database.uow, lambda: catalog)
    # as the bot wires it: one statement outside a unit of work; and in a unit of work
    record_contact = RecordContact(
        lambda: database.uow, _Clock(), SqlContactWrites(database.engine)
    )
    record_contact_uow = RecordContact(lambda: database.uow, _Clock())
    place_order = PlaceOrder(lambda: database.uow, lambda: catalog, _Clock())
    # the bench's wizard: Wifi doanh nghiệp (an OS service: subscription and invoice at once)
    selection = Selection(service_code="WIFI-BIZ", plan_code="WIFI-SME", cycle_code="M1")
    total = quote(catalog, selection, today=NOW.date(), usage=NO_USAGE).total

    async def place(i: int) -> None:
        outcome = (
            await place_order.place(
                ConfirmRequest(
                    actor_id=77,
                    enterprise_id=business.id,
                    selection=selection,
                    edits=DetailEdits(
                        invoice={"addr": "1 Lê Lợi, Hà Nội", "email": "kt@anbinh.vn"},
                        customer={"addr": "1 Lê Lợi, Hà Nội", "phone": "0912345678"},
                    ),
                    contact=ContactInfo("Nguyễn Thị Lan", "0912345678", "lan.nguyen@anbinh.vn"),
                    expected_total=total,
                    idempotency_key=f"place-{i}-{time.perf_counter_ns()}",
                    locale="vi",
                    chat_id=77,
                )
            )
        ).outcome
        assert outcome.kind is OrderOutcomeKind.CREATED, outcome

    async def principal(i: int) -> None:
        async with database.uow as uow:
            await uow.users.principal(UserId(77))

    async def put(i: int) -> None:
        key = f"chat:{i % 100}:user:{i % 100}"
        await store.put(ConversationRecord(key, "checkout.contact", DRAFT, i, NOW))

    async def empty_uow(i: int) -> None:
        async with database.uow:
            pass

    measured: dict[str, Callable[[int], Awaitable[object]]] = {
        "put": put,
        "enterprise": lambda i: registrants.enterprise(business.id),
        "usage": lambda i: checkout.usage(business.id),
        "access": lambda i: registrants.access(77),
        "enterprise_uow": lambda i: registrants_uow.enterprise(business.id),
        "usage_uow": lambda i: checkout_uow.usage(business.id),
        "access_uow": lambda i: registrants_uow.access(77),
        "record_contact": lambda i: record_contact(Contact(1000 + i % 100, "An", "an", "vi")),
        "record_contact_uow": lambda i: record_contact_uow(
            Contact(1000 + i % 100, "An", "an", "vi")
        ),
        "empty_uow": empty_uow,
        "principal": principal,
        "place": place,
    }
    try:
        for label, call in measured.items():
            if only is None or label in only:
                await _timed(label, calls, call)
        print(f"statements: {metrics.sql_statements._value.get():.0f}")
    finally:
        await database.dispose()
        if db == "postgres":
            await _on_pg_server(f"DROP DATABASE {PG_NAME}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--only", help="comma-separated: put,enterprise,usage,...,place")
    args = parser.parse_args()
    asyncio.run(main(args.db, args.calls, set(args.only.split(",")) if args.only else None))
