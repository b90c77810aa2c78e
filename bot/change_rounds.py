"""The background rounds of Đổi gói and Dùng thử: scheduled downgrades applied at the period
end, trial reminders (once) and trials ended (``domain.usecases.changes``).

Like the payment reconciler: every replica runs it, a ``guard`` (``storage.job_lock.JobLock``)
lets one replica at a time do a round, and correctness rests on the use cases' own claims
(``unschedule`` and the conditional ``mark_trial_reminded`` / ``mark_trial_ended``), so a
round run twice changes and tells nothing twice. An error is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.reconciler import RoundGuard
from bot.stopping import cancel_requested, stop_task
from domain.usecases.changes.apply import ApplyScheduledChanges, ScheduledReport
from domain.usecases.changes.trials import TrialReport, TrialRound

__all__ = ["ChangeRounds", "ChangeRoundsReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChangeRoundsReport:
    scheduled: ScheduledReport | None = None
    trials: TrialReport | None = None
    errors: int = 0
    skipped: bool = False


class ChangeRounds:
    """``await start()`` runs rounds every ``interval`` seconds until ``await stop()``;
    :meth:`run_once` runs one now (tests)."""

    def __init__(
        self,
        *,
        scheduled: ApplyScheduledChanges,
        trials: TrialRound,
        interval: float = 60.0,
        guard: RoundGuard | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._scheduled = scheduled
        self._trials = trials
        self.interval = interval
        self._guard = guard
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="subscription-change-rounds")

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

    async def run_once(self) -> ChangeRoundsReport:
        if self._guard is None:
            return await self._round()
        try:
            async with self._guard() as mine:
                if cancel_requested():  # lost in the lock's query: no round after stop()
                    raise asyncio.CancelledError
                if not mine:
                    return ChangeRoundsReport(skipped=True)
                return await self._round()
        except Exception:
            log.exception("subscription change round could not start")
            return ChangeRoundsReport(errors=1)

    async def _round(self) -> ChangeRoundsReport:
        errors = 0
        scheduled: ScheduledReport | None = None
        trials: TrialReport | None = None
        try:
            scheduled = await self._scheduled()
        except Exception:
            errors += 1
            log.exception("applying scheduled changes failed; trying again next round")
        try:
            trials = await self._trials()
        except Exception:
            errors += 1
            log.exception("the trial round failed; trying again next round")
        if scheduled is not None and (scheduled.applied or scheduled.dropped):
            log.info(
                "scheduled changes: %d applied, %d dropped", scheduled.applied, scheduled.dropped
            )
        if trials is not None and (trials.reminded or trials.ended):
            log.info("trials: %d reminded, %d ended", trials.reminded, trials.ended)
        return ChangeRoundsReport(scheduled, trials, errors)
