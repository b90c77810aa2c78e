"""Messages the bot owes people outside the update it is answering, as data.

A :class:`Notice` is written to the outbox by the use case whose state change causes it, in the
same transaction (``uow.outbox.add``), so it exists exactly when that change does: a payment
applied always has its **Đăng ký thành công** waiting to be sent, a rolled-back one never has.
The bot renders a notice at delivery time (kind + params → a screen → the locale files), so a
notice stores no text, only what the text is made of.

Delivery (the bot's outbox worker) goes through the states below. A row is sent at least once
and never twice: a worker claims it with a lease (``lease_until``, ``claimed_by``), sends it,
and marks it sent only after Telegram's OK, only while it still holds the lease; a worker that
dies leaves a lease that expires, and the row becomes claimable again.

- PENDING: waiting (``available_at`` says from when: retries back off).
- SENT: Telegram accepted it.
- FORBIDDEN: Telegram refused the chat (403: the user blocked the bot or never opened the
  chat); the user is marked unreachable; never retried.
- FAILED: Telegram refused the message itself (400) or every attempt failed; never retried.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

__all__ = [
    "REFUSED_BEFORE",
    "JsonValue",
    "Notice",
    "NoticeKind",
    "OutboxMessage",
    "OutboxRepository",
    "OutboxStats",
    "OutboxStatus",
    "PendingOutlook",
    "retry_delay",
]

JsonValue = str | int | bool | None | list[str] | list[int]


class NoticeKind(enum.StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    ORDER_EXPIRED = "order_expired"
    JOIN_REQUESTED = "join_requested"  # to an owner: Chấp nhận / Từ chối
    JOIN_DECIDED = "join_decided"  # to the requester: accepted or refused
    INVITATION_USED = "invitation_used"  # to the inviter
    #: to the employee an owner picked in Telegram: the invitation, with a button to join
    INVITATION_RECEIVED = "invitation_received"
    PROGRESS_CHANGED = "progress_changed"  # to an owner: an agent moved their OS order
    #: to an owner: staff registered a service for their business (the payment link or the
    #: pending cash order, as the staff member saw it)
    AGENT_REGISTERED = "agent_registered"
    #: to an owner: the period ends in ``days`` days (**Gia hạn**, **Quản lý thuê bao**)
    RENEWAL_REMINDER = "renewal_reminder"
    #: to an owner: the subscription ended (EXPIRED, or CANCELLED at its period end)
    SUBSCRIPTION_ENDED = "subscription_ended"
    #: to an owner: staff cancelled the subscription at once, with a reason
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    #: to an owner: staff started a trial for their business (who, what, until when)
    TRIAL_STARTED = "trial_started"
    TRIAL_ENDING = "trial_ending"  # to an owner: the trial ends in a few days (Thanh toán)
    TRIAL_ENDED = "trial_ended"  # to an owner: the trial ended unpaid
    #: to the order's chat and the owners: a CHANGE order (Đổi gói, a trial's payment) was
    #: paid; old → new plan, cycle, quantity, from when, the amount
    CHANGE_PAID = "change_paid"
    #: to the order's chat, the owners and the staff member who ended the subscription: a
    #: renewal or change was paid for a subscription that could no longer take it (cancelled,
    #: or a change of an ended one); nothing renewed or changed, the amount is due for refund
    PAYMENT_REFUND_DUE = "payment_refund_due"
    #: to the order's chat and the owners (a refund is coming) and the reachable admins (make
    #: it): an order already paid was paid a second time
    PAYMENT_DUPLICATE = "payment_duplicate"
    #: to the business owners: support recorded that an amount due was given back
    PAYMENT_REFUNDED = "payment_refunded"
    #: to the order's chat and the owners (not recorded, support will check) and the reachable
    #: admins (check it with the gateway): a success reported in another amount or currency
    #: than the payment attempt's; nothing was applied
    PAYMENT_AMOUNT_MISMATCH = "payment_amount_mismatch"


@dataclass(frozen=True, slots=True)
class Notice:
    """``chat_id`` is a private chat (= the user's Telegram id); ``params`` are plain JSON
    values (dates as ISO 8601 strings, money as int đồng)."""

    kind: NoticeKind
    chat_id: int
    locale: str
    params: Mapping[str, JsonValue] = field(default_factory=dict)


#: ``last_error`` of a row the claim closed as FORBIDDEN: its chat refused the bot after the row
#: was written (see :meth:`OutboxRepository.claim`)
REFUSED_BEFORE = "chat forbidden: the user was marked unreachable after this row was written"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FORBIDDEN = "forbidden"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    notice: Notice
    status: OutboxStatus
    attempts: int
    created_at: datetime
    available_at: datetime
    lease_until: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    #: rows waiting (PENDING, claimed or not)
    depth: int
    #: the age of the oldest waiting row; 0 when none waits
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class PendingOutlook:
    """The PENDING rows as one look saw them."""

    #: how many (claimed or not)
    depth: int
    #: when the oldest was written; None when none is pending
    oldest: datetime | None
    #: the earliest moment one of them may be claimed (its ``available_at``, or the end of its
    #: lease when that is later); None when none is pending
    next_due: datetime | None

    def stats(self, now: datetime) -> OutboxStats:
        age = max((now - self.oldest).total_seconds(), 0.0) if self.oldest is not None else 0.0
        return OutboxStats(depth=self.depth, oldest_age_seconds=age)


#: retries of a transient failure: 1 s, 2 s, 4 s … capped at 5 min
_BASE_DELAY = timedelta(seconds=1)
_MAX_DELAY = timedelta(minutes=5)


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after its ``attempts``-th failed attempt."""
    delay: timedelta = _BASE_DELAY * (2 ** min(max(attempts - 1, 0), 20))
    return min(delay, _MAX_DELAY)


class OutboxRepository(Protocol):
    async def add(self, notice: Notice, now: datetime) -> None:
        """A PENDING row available at once (one statement; several notices: call it for each)."""
        ...

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxMessage]:
        """Up to ``limit`` PENDING rows available at ``now`` and not under a live lease, oldest
        first, leased to ``worker`` until ``now + lease`` (``attempts`` incremented). Rows
        another transaction is claiming are skipped, not waited for (PostgreSQL ``FOR UPDATE
        SKIP LOCKED``; SQLite serialises writers).

        A row whose chat refused the bot after the row was written (its user's
        ``unreachable_at`` is at or after its ``created_at``: a 403 to another of its rows, or
        the user blocked the bot) is not leased but closed as FORBIDDEN in the same
        transaction (``attempts`` incremented, ``claimed_by`` = ``worker``) and returned with
        that status: the caller does not send it."""
        ...

    async def finish(
        self,
        message_id: int,
        worker: str,
        status: OutboxStatus,
        now: datetime,
        error: str | None = None,
    ) -> bool:
        """Close a row this worker holds (SENT, FORBIDDEN or FAILED). False when the lease was
        lost (expired and taken by another worker): nothing is changed then."""
        ...

    async def release(
        self, message_id: int, worker: str, available_at: datetime, error: str
    ) -> bool:
        """Give a held row back as PENDING from ``available_at`` (a transient failure)."""
        ...

    async def get(self, message_id: int) -> OutboxMessage | None: ...

    async def stats(self, now: datetime) -> OutboxStats: ...


class DueProbe(Protocol):
    async def __call__(self) -> PendingOutlook:
        """The PENDING rows now: a read that locks nothing, for a worker deciding whether to
        claim (``next_due`` at or before now) or how long it may sleep. A claim may still find
        none (another worker took them meanwhile)."""
        ...
