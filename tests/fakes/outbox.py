"""Fake outbox (storage/repositories/outbox.py): rows added by the use cases, claimed with a
lease. The store allows one transaction at a time, so a claim never races another one (as on
SQLite); the lease rules are the SQL ones."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from domain.outbox import REFUSED_BEFORE, Notice, OutboxMessage, OutboxStats, OutboxStatus
from tests.fakes.store import FakeRepository, aware

__all__ = ["FakeOutboxRepository"]

_MAX_ERROR = 500


def _claimable(message: OutboxMessage, now: datetime) -> bool:
    return (
        message.status is OutboxStatus.PENDING
        and message.available_at <= now
        and (message.lease_until is None or message.lease_until <= now)
    )


def _held(message: OutboxMessage | None, worker: str) -> bool:
    return (
        message is not None
        and message.claimed_by == worker
        and message.status is OutboxStatus.PENDING
    )


class FakeOutboxRepository(FakeRepository):
    __slots__ = ()

    async def add(self, notice: Notice, now: datetime) -> None:
        t = await self._t()
        now = aware(now)
        params = json.loads(json.dumps(dict(notice.params)))  # a JSON column
        stored = Notice(notice.kind, int(notice.chat_id), notice.locale, params)
        message_id = self._store.next_id("outbox")
        t.outbox[message_id] = OutboxMessage(
            id=message_id,
            notice=stored,
            status=OutboxStatus.PENDING,
            attempts=0,
            created_at=now,
            available_at=now,
        )
        self._tx.outbox_written = True

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxMessage]:
        t = await self._t()
        now = aware(now)
        ready = sorted(
            (m for m in t.outbox.values() if _claimable(m, now)),
            key=lambda m: (m.available_at, m.id),
        )[:limit]
        claimed = []
        for message in ready:
            user = t.users.get(message.notice.chat_id)
            unreachable = user.unreachable_at if user is not None else None
            if unreachable is not None and aware(unreachable) >= message.created_at:
                taken = replace(
                    message,
                    status=OutboxStatus.FORBIDDEN,
                    lease_until=None,
                    claimed_by=worker,
                    attempts=message.attempts + 1,
                    last_error=REFUSED_BEFORE,
                )
            else:
                taken = replace(
                    message,
                    lease_until=now + lease,
                    claimed_by=worker,
                    attempts=message.attempts + 1,
                )
            t.outbox[message.id] = taken
            claimed.append(_copy(taken))
        return claimed

    async def finish(
        self,
        message_id: int,
        worker: str,
        status: OutboxStatus,
        now: datetime,
        error: str | None = None,
    ) -> bool:
        if status is OutboxStatus.PENDING:
            raise ValueError("finish closes a row: use release to give it back")
        t = await self._t()
        message = t.outbox.get(message_id)
        if message is None or not _held(message, worker):
            return False
        t.outbox[message_id] = replace(
            message,
            status=status,
            sent_at=aware(now) if status is OutboxStatus.SENT else None,
            lease_until=None,
            last_error=error[:_MAX_ERROR] if error else None,
        )
        return True

    async def release(
        self, message_id: int, worker: str, available_at: datetime, error: str
    ) -> bool:
        t = await self._t()
        message = t.outbox.get(message_id)
        if message is None or not _held(message, worker):
            return False
        t.outbox[message_id] = replace(
            message,
            available_at=aware(available_at),
            lease_until=None,
            last_error=error[:_MAX_ERROR],
        )
        return True

    async def get(self, message_id: int) -> OutboxMessage | None:
        message = (await self._t()).outbox.get(message_id)
        return _copy(message) if message is not None else None

    async def stats(self, now: datetime) -> OutboxStats:
        waiting = [m for m in (await self._t()).outbox.values() if m.status is OutboxStatus.PENDING]
        if not waiting:
            return OutboxStats(depth=0, oldest_age_seconds=0.0)
        oldest = min(m.created_at for m in waiting)
        age = max((aware(now) - oldest).total_seconds(), 0.0)
        return OutboxStats(depth=len(waiting), oldest_age_seconds=age)


def _copy(message: OutboxMessage) -> OutboxMessage:
    """The caller gets its own params (a JSON dict is mutable)."""
    notice = message.notice
    params = json.loads(json.dumps(dict(notice.params)))
    return replace(message, notice=Notice(notice.kind, notice.chat_id, notice.locale, params))
