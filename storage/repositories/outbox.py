"""The outbox (``domain.outbox``): rows written by the use cases, claimed by the delivery
workers with a lease.

The claim is two or three statements in the caller's transaction: the ids (PostgreSQL ``FOR
UPDATE OF outbox SKIP LOCKED``, so concurrent claimers take different rows without waiting for
each other; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), each with whether its
chat refused the bot since it was written (``users.unreachable_at`` at or after the row's
``created_at``); then the lease on the others, and FORBIDDEN on those, on exactly those ids,
guarded again so a row leased meanwhile is not taken twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from domain.outbox import (
    REFUSED_BEFORE,
    Notice,
    NoticeKind,
    OutboxMessage,
    OutboxStats,
    OutboxStatus,
)
from storage.models import OutboxRow, UserRow
from storage.repositories._common import SqlRepository, rowcount

__all__ = ["OUTBOX_WRITTEN", "SqlOutboxRepository"]

#: ``session.info`` flag: this transaction wrote outbox rows (read by the unit of work's commit)
OUTBOX_WRITTEN = "outbox_written"

_PENDING = OutboxStatus.PENDING.value
_FORBIDDEN = OutboxStatus.FORBIDDEN.value
_MAX_ERROR = 500


def to_message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=int(row.id),
        notice=Notice(NoticeKind(row.kind), int(row.chat_id), row.locale, dict(row.params or {})),
        status=OutboxStatus(row.status),
        attempts=int(row.attempts),
        created_at=row.created_at,
        available_at=row.available_at,
        lease_until=row.lease_until,
        claimed_by=row.claimed_by,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


class SqlOutboxRepository(SqlRepository):
    __slots__ = ()

    async def add(self, notice: Notice, now: datetime) -> None:
        await self._session.execute(
            self._insert(OutboxRow).values(
                kind=notice.kind.value,
                chat_id=notice.chat_id,
                locale=notice.locale,
                params=dict(notice.params),
                status=_PENDING,
                attempts=0,
                created_at=now,
                available_at=now,
            )
        )
        self._session.info[OUTBOX_WRITTEN] = True

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxMessage]:
        claimable = (
            (OutboxRow.status == _PENDING)
            & (OutboxRow.available_at <= now)
            & or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= now)
        )
        # Telegram refused the chat (a 403 to another row, or "kicked") after this row was
        # written: it would be refused too (rows written later are tried: the user may have
        # unblocked the bot without writing)
        refused = (
            select(UserRow.id)
            .where(UserRow.id == OutboxRow.chat_id, UserRow.unreachable_at >= OutboxRow.created_at)
            .exists()
        )
        found = (
            await self._session.execute(
                select(OutboxRow.id, refused.label("refused"))
                .where(claimable)
                .order_by(OutboxRow.available_at, OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=OutboxRow)
            )
        ).all()
        if not found:
            return []
        to_send = [int(r.id) for r in found if not r.refused]
        to_close = [int(r.id) for r in found if r.refused]
        rows: list[Any] = []
        if to_send:
            rows += (
                await self._session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(to_send), claimable)
                    .values(
                        lease_until=now + lease,
                        claimed_by=worker,
                        attempts=OutboxRow.attempts + 1,
                    )
                    .returning(*OutboxRow.__table__.c)
                )
            ).all()
        if to_close:
            rows += (
                await self._session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(to_close), claimable)
                    .values(
                        status=_FORBIDDEN,
                        lease_until=None,
                        claimed_by=worker,
                        attempts=OutboxRow.attempts + 1,
                        last_error=REFUSED_BEFORE,
                    )
                    .returning(*OutboxRow.__table__.c)
                )
            ).all()
        return sorted((to_message(r) for r in rows), key=lambda m: (m.available_at, m.id))

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
        result = await self._session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == message_id,
                OutboxRow.claimed_by == worker,
                OutboxRow.status == _PENDING,
            )
            .values(
                status=status.value,
                sent_at=now if status is OutboxStatus.SENT else None,
                lease_until=None,
                last_error=error[:_MAX_ERROR] if error else None,
            )
        )
        return rowcount(result) == 1

    async def release(
        self, message_id: int, worker: str, available_at: datetime, error: str
    ) -> bool:
        result = await self._session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == message_id,
                OutboxRow.claimed_by == worker,
                OutboxRow.status == _PENDING,
            )
            .values(available_at=available_at, lease_until=None, last_error=error[:_MAX_ERROR])
        )
        return rowcount(result) == 1

    async def get(self, message_id: int) -> OutboxMessage | None:
        row = (
            await self._session.execute(select(OutboxRow).where(OutboxRow.id == message_id))
        ).scalar_one_or_none()
        return to_message(row) if row is not None else None

    async def stats(self, now: datetime) -> OutboxStats:
        count, oldest = (
            await self._session.execute(
                select(func.count(), func.min(OutboxRow.created_at)).where(
                    OutboxRow.status == _PENDING
                )
            )
        ).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite: min() skips the column type
            oldest = oldest.replace(tzinfo=UTC)
        age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        return OutboxStats(depth=int(count), oldest_age_seconds=age)
