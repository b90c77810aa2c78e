"""Delivering the outbox (``domain.outbox``) and knowing who can be reached.

- :class:`ClaimNotices` leases a batch of due rows to one worker (its own transaction); rows
  whose chat refused the bot since they were written come back closed as FORBIDDEN (not to be
  sent: Telegram would refuse them too).
- :class:`SettleDelivery` records what Telegram said about one row: SENT after its OK;
  FORBIDDEN after a 403 (the user marked unreachable, in the same transaction); FAILED after a
  400 or when the attempts are spent; otherwise back to PENDING after a growing delay.
- :class:`RecordContact` stores that a user wrote to the bot (their profile and that their
  private chat exists), which makes them reachable again after a 403.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import timedelta

from domain.model import User, UserId
from domain.outbox import (
    DueProbe,
    OutboxMessage,
    OutboxStats,
    OutboxStatus,
    PendingOutlook,
    retry_delay,
)
from domain.ports import Clock, ContactWrites, UowFactory

__all__ = [
    "MAX_ATTEMPTS",
    "ClaimNotices",
    "Contact",
    "DeliveryResult",
    "MarkUnreachable",
    "OutboxDepth",
    "RecordContact",
    "SettleDelivery",
]

log = logging.getLogger(__name__)

#: a row that failed this many times transiently is closed as FAILED
MAX_ATTEMPTS = 8


class ClaimNotices:
    """With a ``due`` probe, a round that finds nothing due ends after that read: no write
    transaction (on SQLite the process' write turn and ``BEGIN IMMEDIATE``) for the idle
    polling of every worker. Such a round leaves what the probe saw in ``outlook`` (when the
    next row becomes due, how deep the outbox is); any other round leaves None there."""

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        worker: str,
        lease: timedelta,
        *,
        due: DueProbe | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._due = due
        self.worker = worker
        self.lease = lease
        self.outlook: PendingOutlook | None = None

    async def __call__(self, limit: int) -> list[OutboxMessage]:
        self.outlook = None
        if self._due is not None:
            outlook = await self._due()
            if outlook.next_due is None or outlook.next_due > self._clock.now():
                self.outlook = outlook
                return []
        async with self._uow() as uow:
            claimed = await uow.outbox.claim(self.worker, self._clock.now(), self.lease, limit)
            await uow.commit()
        return claimed


class DeliveryResult(enum.StrEnum):
    SENT = "sent"
    FORBIDDEN = "forbidden"  # 403: the chat refuses the bot
    FAILED = "failed"  # 400: this message can never be sent
    TRANSIENT = "transient"  # 429/5xx/timeout/network: try again later


class SettleDelivery:
    def __init__(self, uow: UowFactory, clock: Clock, worker: str) -> None:
        self._uow = uow
        self._clock = clock
        self._worker = worker

    async def __call__(
        self,
        message: OutboxMessage,
        result: DeliveryResult,
        error: str = "",
        *,
        not_before: timedelta | None = None,
    ) -> OutboxStatus:
        """The row's status afterwards (PENDING when it will be tried again, after its backoff
        and no sooner than ``not_before``, e.g. Telegram's ``retry_after``). A row whose lease
        was lost meanwhile is left to its new holder."""
        now = self._clock.now()
        async with self._uow() as uow:
            repo = uow.outbox
            if result is DeliveryResult.SENT:
                status = OutboxStatus.SENT
            elif result is DeliveryResult.FORBIDDEN:
                status = OutboxStatus.FORBIDDEN
                await uow.users.mark_unreachable(UserId(message.notice.chat_id), now)
            elif result is DeliveryResult.FAILED or message.attempts >= MAX_ATTEMPTS:
                status = OutboxStatus.FAILED
            else:
                status = OutboxStatus.PENDING
            if status is OutboxStatus.PENDING:
                delay = max(retry_delay(message.attempts), not_before or timedelta())
                held = await repo.release(message.id, self._worker, now + delay, error)
            else:
                held = await repo.finish(message.id, self._worker, status, now, error or None)
            if not held:
                log.warning("outbox row %s: lease lost before it was settled", message.id)
                return OutboxStatus.PENDING
            await uow.commit()
        return status


class OutboxDepth:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self) -> OutboxStats:
        async with self._uow() as uow:
            return await uow.outbox.stats(self._clock.now())


@dataclass(frozen=True, slots=True)
class Contact:
    """Who wrote to the bot, as Telegram tells it."""

    user_id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None


class RecordContact:
    """One statement and a commit. Callers skip it when nothing changed since they last
    recorded the same contact (the bot keeps that cache), so a known user costs nothing.

    With ``writes`` the statement runs outside a unit of work, committed on its own (on
    PostgreSQL one round trip instead of ``BEGIN``, the statement and ``COMMIT``)."""

    def __init__(self, uow: UowFactory, clock: Clock, writes: ContactWrites | None = None) -> None:
        self._uow = uow
        self._clock = clock
        self._writes = writes

    async def __call__(self, contact: Contact) -> None:
        now = self._clock.now()
        user = User(
            id=UserId(contact.user_id),
            first_name=contact.first_name.strip()[:255] or str(contact.user_id),
            username=contact.username,
            language_code=(contact.language_code or None),
            created_at=now,
        )
        if self._writes is not None:
            await self._writes.record_contact(user, now)
            return
        async with self._uow() as uow:
            await uow.users.record_contact(user, now)
            await uow.commit()


class MarkUnreachable:
    """Telegram told us the user blocked the bot (a ``my_chat_member`` update): nothing is
    sent to them until they write again."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, user_id: int) -> None:
        async with self._uow() as uow:
            await uow.users.mark_unreachable(UserId(user_id), self._clock.now())
            await uow.commit()
