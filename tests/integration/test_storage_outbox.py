"""The outbox repository and its delivery use cases on SQLite and PostgreSQL: a row is claimed by
one worker at a time (a lease), settled only by the worker holding it, claimable again once its
lease expires; concurrent claimers on PostgreSQL skip each other's rows (``SKIP LOCKED``)
instead of waiting or taking the same rows; a 403 marks the user unreachable; transient
failures back off and end, bounded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from domain.model import User, UserId
from domain.outbox import Notice, NoticeKind, OutboxStatus, PendingOutlook, retry_delay
from domain.usecases.outbox import (
    MAX_ATTEMPTS,
    ClaimNotices,
    Contact,
    DeliveryResult,
    OutboxDepth,
    RecordContact,
    SettleDelivery,
)
from storage.db import Database, SqlUnitOfWork
from storage.outbox_probe import SqlDueProbe

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


def notice(chat: int, order: str = "DH-1") -> Notice:
    return Notice(NoticeKind.ORDER_EXPIRED, chat, "vi", {"order": order, "total": 275_000})


async def add(uow: SqlUnitOfWork, *notices: Notice, at: datetime = NOW) -> None:
    async with uow:
        for n in notices:
            await uow.outbox.add(n, at)
        await uow.commit()


async def statuses(uow: SqlUnitOfWork) -> dict[int, str]:
    async with uow:
        rows = (await uow.session.execute(text("SELECT id, status FROM outbox"))).all()
    return {int(r.id): str(r.status) for r in rows}


async def test_a_row_is_claimed_by_one_worker_until_its_lease_expires(uow: SqlUnitOfWork) -> None:
    clock = Clock()
    await add(uow, notice(1, "DH-1"), notice(2, "DH-2"))
    a = ClaimNotices(lambda: uow, clock, "worker-a", LEASE)
    b = ClaimNotices(lambda: uow, clock, "worker-b", LEASE)

    claimed = await a(10)
    assert [m.notice.params["order"] for m in claimed] == ["DH-1", "DH-2"]
    assert {(m.claimed_by, m.attempts, m.lease_until) for m in claimed} == {
        ("worker-a", 1, NOW + LEASE)
    }
    assert await b(10) == []  # leased

    clock.advance(LEASE - timedelta(seconds=1))
    assert await b(10) == []
    clock.advance(timedelta(seconds=1))  # worker-a died: its lease is over
    taken = await b(10)
    assert [(m.id, m.claimed_by, m.attempts) for m in taken] == [
        (claimed[0].id, "worker-b", 2),
        (claimed[1].id, "worker-b", 2),
    ]
    # the dead worker cannot settle what it lost; the new holder can
    late = SettleDelivery(lambda: uow, clock, "worker-a")
    assert await late(claimed[0], DeliveryResult.SENT) is OutboxStatus.PENDING
    settle_b = SettleDelivery(lambda: uow, clock, "worker-b")
    assert await settle_b(taken[0], DeliveryResult.SENT) is OutboxStatus.SENT
    assert await statuses(uow) == {claimed[0].id: "sent", claimed[1].id: "pending"}
    clock.advance(LEASE)
    assert [m.id for m in await a(10)] == [claimed[1].id]  # a sent row is never claimed again


async def test_transient_failures_back_off_and_end_as_failed(uow: SqlUnitOfWork) -> None:
    clock = Clock()
    await add(uow, notice(1))
    claim = ClaimNotices(lambda: uow, clock, "w", LEASE)
    settle = SettleDelivery(lambda: uow, clock, "w")
    for attempt in range(1, MAX_ATTEMPTS):
        [message] = await claim(5)
        assert message.attempts == attempt
        assert await settle(message, DeliveryResult.TRANSIENT, "503") is OutboxStatus.PENDING
        delay = retry_delay(attempt)
        clock.advance(delay - timedelta(milliseconds=1))
        assert await claim(5) == []  # not before its delay
        clock.advance(timedelta(milliseconds=1))
    [last] = await claim(5)
    assert last.attempts == MAX_ATTEMPTS
    assert await settle(last, DeliveryResult.TRANSIENT, "503") is OutboxStatus.FAILED
    clock.advance(timedelta(hours=1))
    assert await claim(5) == []
    async with uow:
        stored = await uow.outbox.get(last.id)
    assert stored is not None and stored.last_error == "503"
    assert retry_delay(1) == timedelta(seconds=1) and retry_delay(30) == timedelta(minutes=5)


async def test_a_retry_waits_at_least_what_telegram_asked(uow: SqlUnitOfWork) -> None:
    clock = Clock()
    await add(uow, notice(1))
    claim = ClaimNotices(lambda: uow, clock, "w", LEASE)
    settle = SettleDelivery(lambda: uow, clock, "w")
    [message] = await claim(5)
    await settle(message, DeliveryResult.TRANSIENT, "429", not_before=timedelta(seconds=90))
    clock.advance(timedelta(seconds=89))
    assert await claim(5) == []  # the backoff alone (1 s) would have let it go
    clock.advance(timedelta(seconds=1))
    assert [m.id for m in await claim(5)] == [message.id]


async def test_a_403_closes_the_row_and_marks_the_user_unreachable_until_they_write(
    uow: SqlUnitOfWork,
) -> None:
    clock = Clock()
    record = RecordContact(lambda: uow, clock)
    await record(Contact(77, "Lan", "lan", "en"))
    async with uow:
        user = await uow.users.get(UserId(77))
    assert user is not None and user.reachable and user.language_code == "en"
    await add(uow, notice(77), notice(78))
    claim = ClaimNotices(lambda: uow, clock, "w", LEASE)
    settle = SettleDelivery(lambda: uow, clock, "w")
    first, second = await claim(5)
    assert await settle(first, DeliveryResult.FORBIDDEN, "403 blocked") is OutboxStatus.FORBIDDEN
    assert await settle(second, DeliveryResult.FAILED, "400 bad") is OutboxStatus.FAILED
    async with uow:
        user = await uow.users.get(UserId(77))
    assert user is not None and not user.reachable and user.unreachable_at == NOW
    clock.advance(timedelta(days=1))
    assert await claim(5) == []  # neither is retried
    await record(Contact(77, "Lan", "lan", "en"))  # they wrote again
    async with uow:
        user = await uow.users.get(UserId(77))
    assert user is not None and user.reachable and user.chat_seen_at == clock.now()


async def test_recording_a_contact_keeps_roles_phone_and_chosen_language(
    uow: SqlUnitOfWork,
) -> None:
    clock = Clock()
    async with uow:
        await uow.users.ensure(UserId(5), NOW)  # granted by id: never wrote
        await uow.users.set_phone(UserId(5), "+84912345678")
        await uow.users.set_locale(UserId(5), "vi")
        await uow.commit()
    async with uow:
        granted = await uow.users.get(UserId(5))
    assert granted is not None and not granted.reachable
    await RecordContact(lambda: uow, clock)(Contact(5, "Chủ", "chu", "en"))
    async with uow:
        seen = await uow.users.get(UserId(5))
    assert seen is not None and seen.reachable
    assert (seen.first_name, seen.username, seen.language_code) == ("Chủ", "chu", "en")
    assert (seen.phone, seen.locale) == ("+84912345678", "vi")


async def test_depth_and_oldest_age(uow: SqlUnitOfWork) -> None:
    clock = Clock(NOW + timedelta(seconds=90))
    depth = OutboxDepth(lambda: uow, clock)
    assert (await depth()).depth == 0 and (await depth()).oldest_age_seconds == 0.0
    await add(uow, notice(1), at=NOW)
    await add(uow, notice(2), at=NOW + timedelta(seconds=30))
    stats = await depth()
    assert stats.depth == 2 and stats.oldest_age_seconds == pytest.approx(90.0)
    [first, _] = await ClaimNotices(lambda: uow, clock, "w", LEASE)(5)
    await SettleDelivery(lambda: uow, clock, "w")(first, DeliveryResult.SENT)
    stats = await depth()
    assert stats.depth == 1 and stats.oldest_age_seconds == pytest.approx(60.0)


async def test_the_due_probe_says_when_a_claim_would_take_a_row(database: Database) -> None:
    uow = database.uow
    clock = Clock()
    due = SqlDueProbe(database)
    claim = ClaimNotices(lambda: uow, clock, "w", LEASE)
    assert await due() == PendingOutlook(0, None, None)
    await add(uow, notice(1), at=NOW + timedelta(seconds=5))
    assert await due() == PendingOutlook(1, NOW + timedelta(seconds=5), NOW + timedelta(seconds=5))
    assert await claim(5) == []  # not yet available
    clock.advance(timedelta(seconds=5))
    [message] = await claim(5)
    # under a live lease: due when the lease is over, and claimable again then
    assert (await due()).next_due == clock.now() + LEASE
    assert await claim(5) == []
    clock.advance(LEASE)
    [again] = await claim(5)
    assert again.id == message.id
    await SettleDelivery(lambda: uow, clock, "w")(again, DeliveryResult.TRANSIENT)
    retry = await due()  # given back: due after its backoff, no longer leased
    assert retry.depth == 1 and retry.next_due is not None and retry.next_due > clock.now()
    clock.advance(retry.next_due - clock.now())
    [last] = await claim(5)
    await SettleDelivery(lambda: uow, clock, "w")(last, DeliveryResult.SENT)
    assert await due() == PendingOutlook(0, None, None)  # sent


async def test_the_due_probe_sees_the_depth_the_stats_see(database: Database) -> None:
    clock = Clock(NOW + timedelta(seconds=90))
    due = SqlDueProbe(database)
    await add(database.uow, notice(1), at=NOW)
    await add(database.uow, notice(2), at=NOW + timedelta(seconds=30))
    await ClaimNotices(lambda: database.uow, clock, "w", LEASE)(1)  # claimed: still pending
    seen = await due()
    assert seen.stats(clock.now()) == await OutboxDepth(lambda: database.uow, clock)()
    assert seen.depth == 2 and seen.next_due == NOW + timedelta(seconds=30)


async def test_a_claim_with_a_due_probe_opens_no_transaction_when_nothing_is_due(
    uow: SqlUnitOfWork,
) -> None:
    opened = 0

    def counting() -> SqlUnitOfWork:
        nonlocal opened
        opened += 1
        return uow

    answers: list[PendingOutlook] = []

    async def due() -> PendingOutlook:
        return answers.pop(0)

    await add(uow, notice(1))
    clock = Clock()
    claim = ClaimNotices(counting, clock, "w", LEASE, due=due)
    later = PendingOutlook(1, NOW, clock.now() + timedelta(seconds=1))
    answers.append(later)
    assert await claim(5) == [] and opened == 0
    assert claim.outlook == later  # what the worker sleeps on
    answers.append(PendingOutlook(1, NOW, clock.now()))
    assert [m.notice.chat_id for m in await claim(5)] == [1] and opened == 1
    assert claim.outlook is None


async def test_a_rolled_back_transaction_leaves_no_row(uow: SqlUnitOfWork) -> None:
    async with uow:
        await uow.outbox.add(notice(1), NOW)
    assert await statuses(uow) == {}


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgresql"])
async def test_concurrent_claimers_skip_locked_rows_instead_of_waiting(
    db_url: str, database: Database
) -> None:
    """One transaction holds its claim open; a second claimer takes the other rows at once
    (no wait for the lock, no row twice)."""
    await add(database.uow, *(notice(chat, f"DH-{chat}") for chat in range(1, 7)))
    other = Database(db_url)
    try:
        holder = database.uow
        async with holder:
            held = await holder.outbox.claim("holder", NOW, LEASE, 3)
            assert len(held) == 3
            second = ClaimNotices(lambda: other.uow, Clock(), "second", LEASE)
            taken = await asyncio.wait_for(second(10), timeout=5)
            assert {m.id for m in taken}.isdisjoint({m.id for m in held})
            assert len(taken) == 3
            await holder.commit()
    finally:
        await other.dispose()


@pytest.mark.parametrize("workers", [4])
async def test_many_claimers_never_take_a_row_twice(
    db_url: str, database: Database, workers: int
) -> None:
    await add(database.uow, *(notice(chat) for chat in range(1, 121)))
    engines = [Database(db_url) for _ in range(workers)]
    seen: dict[int, str] = {}
    duplicates: list[Any] = []

    async def drain(index: int) -> None:
        name = f"w{index}"
        claim = ClaimNotices(lambda: engines[index].uow, Clock(), name, LEASE)
        settle = SettleDelivery(lambda: engines[index].uow, Clock(), name)
        while batch := await claim(7):
            for message in batch:
                if message.id in seen:
                    duplicates.append((message.id, seen[message.id], name))
                seen[message.id] = name
                assert await settle(message, DeliveryResult.SENT) is OutboxStatus.SENT

    try:
        await asyncio.gather(*(drain(i) for i in range(workers)))
    finally:
        for engine in engines:
            await engine.dispose()
    assert duplicates == [] and len(seen) == 120
    assert set((await statuses(database.uow)).values()) == {"sent"}


def test_a_user_created_by_id_only_is_not_reachable() -> None:
    assert not User(UserId(1), "", NOW).reachable
    assert User(UserId(1), "", NOW, chat_seen_at=NOW).reachable
    assert not User(UserId(1), "", NOW, chat_seen_at=NOW, unreachable_at=NOW).reachable
