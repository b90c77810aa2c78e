"""The unit-of-work contract (test_uow_contract.py), continued for the outbox and the users'
reachability: every test runs on ``tests.fakes.FakeUnitOfWork`` and on ``SqlUnitOfWork``
(SQLite and PostgreSQL). test_storage_outbox.py keeps what only SQL has (``SKIP LOCKED``,
concurrent claimers on separate engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.model import Role, User, UserId
from domain.outbox import REFUSED_BEFORE, JsonValue, Notice, NoticeKind, OutboxStatus
from domain.ports import UnitOfWork
from tests.integration import test_uow_contract as contract

# the contract's fixtures: the fake, SQLite and PostgreSQL
db_backend = contract.db_backend
uow = contract.uow

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def notice(chat: int, order: str = "DH-1", **params: Any) -> Notice:
    return Notice(NoticeKind.ORDER_EXPIRED, chat, "vi", {"order": order, **params})


async def add(uow: UnitOfWork, *notices: Notice, at: datetime = NOW) -> None:
    async with uow:
        for n in notices:
            await uow.outbox.add(n, at)
        await uow.commit()


async def claim(uow: UnitOfWork, worker: str, now: datetime, limit: int = 10) -> list[Any]:
    async with uow:
        claimed = await uow.outbox.claim(worker, now, LEASE, limit)
        await uow.commit()
    return claimed


async def status_of(uow: UnitOfWork, message_id: int) -> OutboxStatus | None:
    async with uow:
        message = await uow.outbox.get(message_id)
    return message.status if message is not None else None


# ---------------------------------------------------------------------------------------------
# Outbox


async def test_an_added_notice_round_trips_as_json_and_waits(uow: UnitOfWork) -> None:
    hanoi = NOW.astimezone(timezone(timedelta(hours=7)))
    params: dict[str, JsonValue] = {
        "order": "DH-1",
        "total": 275_000,
        "cancelled": False,
        "ids": [1, 2],
        "code": None,
    }
    await add(uow, Notice(NoticeKind.PAYMENT_FAILED, 42, "en", params), at=hanoi)
    async with uow:
        [message] = await uow.outbox.claim("w", NOW, LEASE, 5)
        await uow.rollback()  # the claim is undone: the row waits again, untouched
        stored = await uow.outbox.get(message.id)
        stats = await uow.outbox.stats(NOW + timedelta(seconds=30))
    assert stored is not None
    assert stored.notice == Notice(NoticeKind.PAYMENT_FAILED, 42, "en", params)
    assert (stored.status, stored.attempts) == (OutboxStatus.PENDING, 0)
    assert stored.created_at == stored.available_at == NOW
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
    assert (stored.lease_until, stored.claimed_by, stored.sent_at, stored.last_error) == (
        None,
        None,
        None,
        None,
    )
    assert stats.depth == 1 and stats.oldest_age_seconds == pytest.approx(30.0)
    async with uow:
        assert await uow.outbox.get(message.id + 1000) is None


async def test_a_claim_leases_the_oldest_rows_to_one_worker(uow: UnitOfWork) -> None:
    await add(uow, notice(1, "DH-1"), notice(2, "DH-2"), at=NOW)
    await add(uow, notice(3, "DH-0"), at=NOW - timedelta(seconds=5))  # available earlier
    await add(uow, notice(4, "DH-later"), at=NOW + timedelta(minutes=1))  # not yet

    first = await claim(uow, "a", NOW, limit=2)
    assert [m.notice.params["order"] for m in first] == ["DH-0", "DH-1"]
    assert {(m.claimed_by, m.attempts, m.lease_until) for m in first} == {("a", 1, NOW + LEASE)}
    rest = await claim(uow, "b", NOW)
    assert [m.notice.params["order"] for m in rest] == ["DH-2"]
    # everything is leased, and the last row is not available yet
    assert await claim(uow, "c", NOW + LEASE - timedelta(seconds=1)) == []

    # a lease that ran out makes the row claimable again, by anyone; oldest first
    again = await claim(uow, "d", NOW + LEASE)
    assert [(m.id, m.claimed_by, m.attempts) for m in again[:3]] == [
        (first[0].id, "d", 2),
        (first[1].id, "d", 2),
        (rest[0].id, "d", 2),
    ]
    assert [(m.notice.params["order"], m.attempts) for m in again[3:]] == [("DH-later", 1)]


async def test_only_the_lease_holder_settles_a_row(uow: UnitOfWork) -> None:
    await add(uow, notice(1, "DH-1"), notice(2, "DH-2"), notice(3, "DH-3"))
    sent, forbidden, failed = await claim(uow, "a", NOW)
    later = NOW + LEASE
    [taken] = [m for m in await claim(uow, "b", later, limit=1)]
    assert taken.id == sent.id
    async with uow:
        # "a" lost the row to "b": nothing changes
        assert not await uow.outbox.finish(sent.id, "a", OutboxStatus.SENT, later)
        assert not await uow.outbox.release(sent.id, "a", later, "503")
        with pytest.raises(ValueError):
            await uow.outbox.finish(sent.id, "b", OutboxStatus.PENDING, later)
        assert await uow.outbox.finish(sent.id, "b", OutboxStatus.SENT, later)
        assert not await uow.outbox.finish(sent.id, "b", OutboxStatus.SENT, later)  # once
        assert await uow.outbox.finish(forbidden.id, "a", OutboxStatus.FORBIDDEN, later, "403")
        assert await uow.outbox.finish(failed.id, "a", OutboxStatus.FAILED, later, "x" * 600)
        assert not await uow.outbox.finish(9999, "a", OutboxStatus.SENT, later)
        await uow.commit()
    async with uow:
        done = await uow.outbox.get(sent.id)
        refused = await uow.outbox.get(forbidden.id)
        broken = await uow.outbox.get(failed.id)
        stats = await uow.outbox.stats(later)
    assert done is not None and refused is not None and broken is not None
    assert (done.status, done.sent_at, done.lease_until, done.claimed_by) == (
        OutboxStatus.SENT,
        later,
        None,
        "b",
    )
    assert (refused.status, refused.sent_at, refused.last_error) == (
        OutboxStatus.FORBIDDEN,
        None,
        "403",
    )
    assert broken.status is OutboxStatus.FAILED and broken.last_error == "x" * 500
    assert (stats.depth, stats.oldest_age_seconds) == (0, 0.0)
    assert await claim(uow, "c", later + timedelta(days=1)) == []  # settled rows stay settled


async def test_a_released_row_waits_until_its_time(uow: UnitOfWork) -> None:
    await add(uow, notice(1))
    [message] = await claim(uow, "a", NOW)
    retry_at = NOW + timedelta(seconds=90)
    async with uow:
        assert not await uow.outbox.release(message.id, "b", retry_at, "503")  # not b's row
        assert await uow.outbox.release(message.id, "a", retry_at, "e" * 600)
        await uow.commit()
    async with uow:
        stored = await uow.outbox.get(message.id)
    assert stored is not None and stored.status is OutboxStatus.PENDING
    assert (stored.available_at, stored.lease_until, stored.attempts) == (retry_at, None, 1)
    assert stored.last_error == "e" * 500
    assert await claim(uow, "b", retry_at - timedelta(seconds=1)) == []
    [again] = await claim(uow, "b", retry_at)
    assert (again.id, again.claimed_by, again.attempts) == (message.id, "b", 2)


async def test_a_claim_closes_the_rows_of_a_chat_that_refused_the_bot_since_they_were_written(
    uow: UnitOfWork,
) -> None:
    """A row written at or before its user's ``unreachable_at`` is closed as FORBIDDEN by the
    claim (returned so, not leased); one written later, one of a reachable user and one of a
    chat without a user row are leased as usual."""
    blocked_at = NOW + timedelta(seconds=10)
    async with uow:
        for user in (1, 2):
            await uow.users.record_contact(User(UserId(user), "U", NOW), NOW)
        await uow.users.mark_unreachable(UserId(1), blocked_at)
        await uow.commit()
    await add(uow, notice(1, "DH-before"), at=NOW)
    await add(uow, notice(1, "DH-same-time"), at=blocked_at)
    await add(uow, notice(2, "DH-reachable"), at=NOW)
    await add(uow, notice(3, "DH-no-user"), at=NOW)
    await add(uow, notice(1, "DH-after"), at=blocked_at + timedelta(microseconds=1))

    claimed = await claim(uow, "a", blocked_at + timedelta(seconds=1))
    got = [(m.notice.params["order"], m.status, m.claimed_by, m.attempts) for m in claimed]
    assert got == [
        ("DH-before", OutboxStatus.FORBIDDEN, "a", 1),
        ("DH-reachable", OutboxStatus.PENDING, "a", 1),
        ("DH-no-user", OutboxStatus.PENDING, "a", 1),
        ("DH-same-time", OutboxStatus.FORBIDDEN, "a", 1),
        ("DH-after", OutboxStatus.PENDING, "a", 1),
    ]
    closed = [m for m in claimed if m.status is OutboxStatus.FORBIDDEN]
    assert {(m.lease_until, m.sent_at, m.last_error) for m in closed} == {
        (None, None, REFUSED_BEFORE)
    }
    async with uow:
        assert not await uow.outbox.finish(closed[0].id, "a", OutboxStatus.SENT, blocked_at)
        stats = await uow.outbox.stats(blocked_at)
    assert stats.depth == 3  # the closed rows no longer wait
    again = await claim(uow, "b", blocked_at + timedelta(seconds=1) + LEASE)  # leases ran out
    assert sorted(m.notice.params["order"] for m in again) == [
        "DH-after",
        "DH-no-user",
        "DH-reachable",
    ]


async def test_a_rolled_back_transaction_leaves_no_row(uow: UnitOfWork) -> None:
    woken: list[str] = []
    uow_any: Any = uow
    uow_any.after_outbox_commit.append(lambda: woken.append("wake"))
    async with uow:
        await uow.outbox.add(notice(1), NOW)
    with pytest.raises(RuntimeError, match="boom"):
        async with uow:
            await uow.outbox.add(notice(2), NOW)
            raise RuntimeError("boom")
    async with uow:
        await uow.outbox.add(notice(3), NOW)
        await uow.rollback()
    async with uow:
        await uow.users.upsert(User(id=UserId(1), first_name="A", created_at=NOW))
        await uow.commit()  # wrote no outbox row
    assert woken == []
    async with uow:
        assert (await uow.outbox.stats(NOW)).depth == 0
        assert await uow.outbox.claim("w", NOW, LEASE, 10) == []
    await add(uow, notice(4), notice(5))
    assert woken == ["wake"]  # once per commit that wrote rows
    async with uow:
        assert (await uow.outbox.stats(NOW)).depth == 2


async def test_a_commit_after_a_rollback_wakes_only_for_rows_it_adds(uow: UnitOfWork) -> None:
    woken: list[str] = []
    uow_any: Any = uow
    uow_any.after_outbox_commit.append(lambda: woken.append("wake"))
    async with uow:
        await uow.outbox.add(notice(1), NOW)
        await uow.rollback()
        await uow.users.upsert(User(id=UserId(1), first_name="A", created_at=NOW))
        await uow.commit()  # the row was rolled back: nothing to deliver
    assert woken == []
    async with uow:
        await uow.outbox.add(notice(2), NOW)
        await uow.rollback()
        await uow.outbox.add(notice(3), NOW)
        await uow.commit()
        await uow.users.upsert(User(id=UserId(2), first_name="B", created_at=NOW))
        await uow.commit()  # a second transaction in the block, without rows
    assert woken == ["wake"]
    async with uow:
        [message] = await uow.outbox.claim("w", NOW, LEASE, 10)
    assert message.notice.chat_id == 3


# ---------------------------------------------------------------------------------------------
# Users: who may be messaged


async def test_record_contact_inserts_or_refreshes_and_keeps_roles_phone_and_locale(
    uow: UnitOfWork,
) -> None:
    later = NOW + timedelta(hours=1)
    async with uow:
        await uow.users.record_contact(
            User(UserId(1), "Lan", NOW, username="lan", language_code="en"), NOW
        )
        await uow.users.ensure(UserId(2), NOW)  # granted by id: never wrote
        await uow.users.set_global_role(UserId(2), Role.AGENT)
        await uow.users.set_phone(UserId(2), "+84912345678")
        await uow.users.set_locale(UserId(2), "vi")
        await uow.commit()
    async with uow:
        new = await uow.users.get(UserId(1))
        granted = await uow.users.get(UserId(2))
    assert new is not None and granted is not None
    assert (new.first_name, new.username, new.language_code) == ("Lan", "lan", "en")
    assert new.created_at == new.chat_seen_at == NOW and new.reachable
    assert (new.is_admin, new.is_agent, new.phone, new.locale) == (False, False, None, None)
    assert not granted.reachable and granted.chat_seen_at is None

    async with uow:
        await uow.users.record_contact(User(UserId(2), "Chủ", later, language_code="vi"), later)
        await uow.users.mark_unreachable(UserId(1), later)
        await uow.users.mark_unreachable(UserId(99), later)  # unknown: nothing happens
        await uow.commit()
    async with uow:
        seen = await uow.users.get(UserId(2))
        blocked = await uow.users.get(UserId(1))
        unknown = await uow.users.get(UserId(99))
    assert seen is not None and blocked is not None and unknown is None
    assert seen.reachable and seen.chat_seen_at == later and seen.created_at == NOW
    assert (seen.first_name, seen.username, seen.language_code) == ("Chủ", None, "vi")
    assert (seen.is_agent, seen.phone, seen.locale) == (True, "+84912345678", "vi")
    assert not blocked.reachable and blocked.unreachable_at == later

    async with uow:  # writing again makes them reachable again
        await uow.users.record_contact(User(UserId(1), "Lan", later), later + timedelta(days=1))
        await uow.commit()
    async with uow:
        back = await uow.users.get(UserId(1))
    assert back is not None and back.reachable and back.unreachable_at is None
    assert back.language_code is None and back.created_at == NOW


async def test_upsert_with_chat_seen_at_clears_unreachable_and_without_keeps_it(
    uow: UnitOfWork,
) -> None:
    later = NOW + timedelta(hours=1)
    async with uow:
        stored = await uow.users.upsert(User(UserId(1), "Lan", NOW, chat_seen_at=NOW))
        assert stored.reachable and stored.chat_seen_at == NOW
        await uow.users.mark_unreachable(UserId(1), later)
        kept = await uow.users.upsert(User(UserId(1), "Lan 2", later))
        assert kept.unreachable_at == later and kept.chat_seen_at == NOW and not kept.reachable
        again = await uow.users.upsert(User(UserId(1), "Lan 3", later, chat_seen_at=later))
        await uow.commit()
    assert again.reachable and again.chat_seen_at == later and again.unreachable_at is None
    assert again.first_name == "Lan 3" and again.created_at == NOW
