"""The background task of the subscription's life after registration: every ``interval``
seconds it ends the subscriptions whose period is over (``RENEWAL_GRACE_DAYS``) and sends the
renewal reminders that are due (``RENEWAL_REMINDER_DAYS``); what the owners are told was
written to the outbox by those use cases, in their transactions.

Every replica runs it; with a ``guard`` (``storage.job_lock.JobLock``) one replica at a time
does a round and the others skip it. Correctness does not rest on the guard: each subscription
is handled under its row lock and each reminder is a unique row, so two rounds at once (or a
restart in the middle of one) never expire twice nor remind twice. An error in one round is
logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.reconciler import RoundGuard
from bot.stopping import cancel_requested, stop_task
from domain.usecases.renewal import (
    ExpireSubscriptions,
    ExpiryRoundReport,
    ReminderReport,
    SendRenewalReminders,
)

__all__ = ["DEFAULT_INTERVAL_SECONDS", "LifecycleRound", "SubscriptionLifecycle"]

log = logging.getLogger(__name__)

#: reminders are per day and expiry per period end: a few minutes late is fine
DEFAULT_INTERVAL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class LifecycleRound:
    expiry: ExpiryRoundReport | None
    reminders: ReminderReport | None
    errors: int = 0
    skipped: bool = False  # another replica held the round


class SubscriptionLifecycle:
    """``await start()`` runs rounds in the background until ``await stop()``;
    :meth:`run_once` runs one round now (tests, and the first round at start)."""

    def __init__(
        self,
        *,
        expire: ExpireSubscriptions,
        remind: SendRenewalReminders,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        guard: RoundGuard | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._expire = expire
        self._remind = remind
        self.interval = interval
        self._guard = guard
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.rounds = 0
        self.skipped = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="subscription-lifecycle")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._stopping = True
        await stop_task(task)

    async def _loop(self) -> None:
        # the flag, not only the cancel, ends the loop: a cancel lost inside a call (see
        # bot.stopping) would otherwise leave it running after stop()
        while not self._stopping:
            await self.run_once()
            if self._stopping:
                return
            await asyncio.sleep(self.interval)

    async def run_once(self) -> LifecycleRound:
        if self._guard is None:
            return await self._round()
        try:
            async with self._guard() as mine:
                if cancel_requested():  # lost in the lock's query: no round after stop()
                    raise asyncio.CancelledError
                if not mine:
                    self.skipped += 1
                    return LifecycleRound(None, None, skipped=True)
                return await self._round()
        except Exception:  # the database is down: the next round tries again
            log.exception("subscription lifecycle round could not start")
            return LifecycleRound(None, None, errors=1)

    async def _round(self) -> LifecycleRound:
        errors = 0
        expiry: ExpiryRoundReport | None = None
        reminders: ReminderReport | None = None
        try:
            expiry = await self._expire()
        except Exception:
            errors += 1
            log.exception("ending subscriptions failed; trying again next round")
        try:
            reminders = await self._remind()
        except Exception:
            errors += 1
            log.exception("renewal reminders failed; trying again next round")
        self.rounds += 1
        if expiry is not None and expiry.ended:
            log.info("lifecycle: %d subscriptions ended", len(expiry.ended))
        if reminders is not None and reminders.sent:
            log.info(
                "lifecycle: %d renewal reminders (%d notices)",
                len(reminders.sent),
                reminders.notices,
            )
        return LifecycleRound(expiry, reminders, errors)
