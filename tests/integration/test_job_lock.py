"""Background rounds across replicas (storage.job_lock, bot.reconciler): on PostgreSQL one
reconciler round runs at a time whatever the number of replicas, the others skip it; a holder
that dies frees the job at once; and several replicas expiring the same orders ask the gateway
about each attempt once and tell each user once."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.payments_http import build_payment_services
from bot.reconciler import PaymentReconciler
from domain.model import OrderStatus
from storage.db import Database
from storage.job_lock import JobLock
from tests.integration.test_ipn import Stack, stack  # noqa: F401 - the fixture
from tests.integration.test_payment_usecases import CATALOG, TTL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_backend", ["postgresql"]),
]

JOB = "payment-reconciler"


def replica(s: Stack, database: Database, *, guarded: bool = True) -> PaymentReconciler:
    """The reconciler one replica builds (bot.container.Container.reconciler)."""
    services = build_payment_services(s.world.uow, lambda: CATALOG, s.clock, s.client)
    return PaymentReconciler(
        reconcile=None,
        expire=services.expire,
        guard=JobLock(database, JOB).round if guarded else None,
    )


async def query_count(s: Stack) -> int:
    data: dict[str, Any] = (await s.http.get(f"{s.sim.base_url}/_sim/requests")).json()
    return int(data["query_count"])


async def test_three_replicas_expiring_at_once_ask_once_and_tell_once(
    stack: Stack,  # noqa: F811
    database: Database,
) -> None:
    placed = [(await stack.order_with_link())[0] for _ in range(3)]
    stack.clock.advance(TTL)
    replicas = [replica(stack, database) for _ in range(3)]

    rounds = await asyncio.gather(*(r.run_once() for r in replicas))

    assert sum(not r.skipped for r in rounds) >= 1
    assert await query_count(stack) == 3  # one last query per attempt, not one per replica
    assert sorted(e.order_code for e in await stack.told.expired()) == sorted(
        p.order_code for p in placed
    )
    for order in placed:
        assert (await stack.world.order(order.order_id)).status is OrderStatus.EXPIRED


async def test_a_round_held_elsewhere_is_skipped_then_runs(
    stack: Stack,  # noqa: F811
    database: Database,
) -> None:
    placed, _ = await stack.order_with_link()
    stack.clock.advance(TTL)
    mine = replica(stack, database)

    async with JobLock(database, JOB).round() as other:  # another replica's round
        assert other
        skipped = await mine.run_once()
        assert skipped.skipped and skipped.expiry is None
        assert await query_count(stack) == 0
    ran = await mine.run_once()

    assert not ran.skipped and ran.expiry is not None
    assert [e.order_code for e in ran.expiry.expired] == [placed.order_code]
    assert mine.skipped == 1


async def test_a_holder_that_dies_frees_the_job_at_once(
    stack: Stack,  # noqa: F811
    database: Database,
) -> None:
    placed, _ = await stack.order_with_link()
    stack.clock.advance(TTL)
    mine = replica(stack, database)
    dsn = make_url(database.url).set(drivername="postgresql").render_as_string(False)
    dying = await asyncpg.connect(dsn)
    transaction = dying.transaction()
    await transaction.start()
    assert await dying.fetchval("SELECT pg_try_advisory_xact_lock($1)", JobLock(database, JOB).key)
    assert (await mine.run_once()).skipped

    dying.terminate()  # kill -9 of its replica: the connection just drops

    for _ in range(50):  # the server notices the closed socket within moments
        ran = await mine.run_once()
        if not ran.skipped:
            break
        await asyncio.sleep(0.1)
    assert ran.expiry is not None
    assert [e.order_code for e in ran.expiry.expired] == [placed.order_code]
