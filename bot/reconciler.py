"""The background task that settles what notifications did not: every ``interval`` seconds it
queries the gateway about attempts silent for ``RECONCILE_AFTER_MINUTES`` (applying a success
exactly as a notification would) and expires orders unpaid after ``ORDER_EXPIRY_MINUTES``;
what the users are told was written to the outbox by those use cases.

Every replica runs it; with a ``guard`` (``storage.job_lock.JobLock``: a PostgreSQL advisory
lock per round) one replica at a time does a round and the others skip it, so the gateway is
not asked the same thing by each replica. Any replica may die: its lock dies with its
connection and the next round of another replica runs. Correctness does not rest on the guard:
the use cases claim each attempt and lock each order, and a success is applied once whatever
runs it (see ``domain.usecases.payments``). An error in one round is logged and the loop goes
on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from bot.stopping import cancel_requested, stop_task
from domain.usecases.payments import (
    ExpireOrders,
    ExpiryReport,
    ReconcilePayments,
    ReconcileReport,
)

__all__ = [
    "DEFAULT_INTERVAL_SECONDS",
    "PaymentReconciler",
    "ReconcilerRound",
    "RoundGuard",
    "interval_for",
]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ReconcilerRound:
    reconcile: ReconcileReport | None
    expiry: ExpiryReport | None
    errors: int = 0  # steps that raised (logged)
    skipped: bool = False  # another replica held the round


#: one round at a time across replicas: yields True when this process may run it
RoundGuard = Callable[[], AbstractAsyncContextManager[bool]]


def interval_for(reconcile_after_minutes: int) -> float:
    """How often to look: a tenth of the reconciliation delay, between 5 s and 60 s."""
    return min(60.0, max(5.0, reconcile_after_minutes * 60 / 10))


class PaymentReconciler:
    """``await start()`` runs rounds in the background until ``await stop()``;
    :meth:`run_once` runs one round now (tests, and the first round at start)."""

    def __init__(
        self,
        *,
        reconcile: ReconcilePayments | None,
        expire: ExpireOrders,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        guard: RoundGuard | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._reconcile = reconcile
        self._expire = expire
        self.interval = interval
        self._guard = guard
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self.rounds = 0
        self.skipped = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="payment-reconciler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._stopping = True
        await stop_task(task)

    def wake(self) -> None:
        """Run the next round now instead of at the end of the interval."""
        self._wake.set()

    async def _loop(self) -> None:
        # the flag, not only the cancel, ends the loop: a cancel lost inside a call (see
        # bot.stopping) would otherwise leave it running after stop()
        while not self._stopping:
            await self.run_once()
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    async def run_once(self) -> ReconcilerRound:
        if self._guard is None:
            return await self._round()
        try:
            async with self._guard() as mine:
                if cancel_requested():  # lost in the lock's query: no round after stop()
                    raise asyncio.CancelledError
                if not mine:
                    self.skipped += 1
                    return ReconcilerRound(None, None, skipped=True)
                return await self._round()
        except Exception:  # the database is down: the next round tries again
            log.exception("payment reconciliation round could not start")
            return ReconcilerRound(None, None, errors=1)

    async def _round(self) -> ReconcilerRound:
        errors = 0
        report: ReconcileReport | None = None
        expiry: ExpiryReport | None = None
        if self._reconcile is not None:
            try:
                report = await self._reconcile()
            except Exception:
                errors += 1
                log.exception("payment reconciliation failed; trying again next round")
        try:
            expiry = await self._expire()
        except Exception:
            errors += 1
            log.exception("expiring unpaid orders failed; trying again next round")
        self.rounds += 1
        if report is not None and (report.confirmed or report.failed or report.errors):
            log.info(
                "reconciliation: %d checked, %d confirmed, %d failed, %d gateway errors",
                report.checked,
                len(report.confirmed),
                len(report.failed),
                report.errors,
            )
        if expiry is not None and (expiry.expired or expiry.confirmed):
            log.info(
                "expiry: %d expired, %d paid at the last query",
                len(expiry.expired),
                len(expiry.confirmed),
            )
        return ReconcilerRound(report, expiry, errors)
