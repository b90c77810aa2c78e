"""The outbox delivery worker: sends the notices the use cases wrote (``domain.outbox``).

Started by the app like the reconciler. A round claims a batch of due rows with a lease
(:class:`domain.usecases.outbox.ClaimNotices`), renders each notice
(:func:`conversations.notices.notice_screen`) and sends it, then settles it:

- Telegram's OK → SENT (only then: a process killed before it leaves the row leased; when the
  lease expires another round sends it, so a message is sent at least once).
- 403 (blocked, or the user never opened the chat) → FORBIDDEN, the user marked unreachable
  and forgotten by the contact cache; never retried. The chat's other rows written before
  that are closed as FORBIDDEN without a send: those of the same round at once, those claimed
  by a later round by the claim itself (so a refusing chat is asked once, whichever round
  its rows fall in). Rows written after it are tried (one 403 each).
- 400 (the message itself is refused) or a notice that cannot be rendered → FAILED, logged
  with the row id; never retried.
- Anything else (429 after the session's own waits, 5xx, timeouts, network) → back to PENDING
  after a growing delay, at most ``MAX_ATTEMPTS`` times.

A row is never sent by two workers at once: a send starts only while half of its lease is
left, and it is bounded by the lease: the send policy starts no retry and waits for no 429
that would end after ``lease_until`` minus :func:`lease_margin` (its deadline,
:func:`bot.telegram_policy.send_deadline`: the last error is raised and the row rescheduled,
after a 429's ``retry_after``), and whatever is still going on then (waiting for a
flood-control slot, a request Telegram is slow to answer) is cancelled, and the row is given
back for a later round like a timeout (TRANSIENT, counted as an attempt). So no request of
this worker is in flight once another worker may claim the row, however slow Telegram is. As
with any timeout, a request cut while Telegram was receiving it may have arrived: the next
round then sends the message again (at least once, never twice at the same time). The lease
is not renewed during a send: renewing needs the database during the send, and a renewal
that fails would need this bound anyway (see docs/operations.md).
Rows of one chat go in order, one at a time; chats are served concurrently (at most
``concurrency``).

The worker wakes at once when a commit in this process wrote outbox rows (``wake``), looks
again right after a round that sent something, and otherwise sleeps until the next pending
row becomes due (a retry's ``available_at``, the end of a dead process' lease: the look tells
when) but at most ``poll_interval`` seconds (rows written by other processes; the composition
root makes it short on PostgreSQL, where other replicas write, and long on SQLite, where only
this process does). The depth gauges are taken from that look while the worker sleeps (no
round, no wake since), and read from the database otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)

from bot.i18n import LANGUAGES
from bot.metrics import Metrics
from bot.render import Renderer
from bot.stopping import cancel_requested, stop_task
from bot.telegram_policy import send_deadline
from conversations.notices import notice_screen
from conversations.session import Outgoing
from domain.catalog import Catalog
from domain.outbox import OutboxMessage, OutboxStats, OutboxStatus, PendingOutlook
from domain.ports import Clock
from domain.usecases.outbox import (
    ClaimNotices,
    DeliveryResult,
    OutboxDepth,
    SettleDelivery,
)

__all__ = ["LEASE_MARGIN", "OutboxWorker", "lease_margin", "poll_interval", "worker_name"]

log = logging.getLogger(__name__)

#: a 400 whose description says the chat cannot be reached counts as a 403
_UNREACHABLE_400 = ("chat not found", "user not found", "peer_id_invalid")
#: how often the depth gauges are refreshed
STATS_EVERY = 5.0
#: a send ends this long before its lease (clocks of replicas differ a little; cancelling a
#: request and settling the row take a moment)
LEASE_MARGIN = timedelta(seconds=10)
#: a sleep until a row's due time ends this much later (not a hair early, which would look
#: once more for nothing)
DUE_MARGIN = 0.01


#: the worker's longest sleep by default (``OUTBOX_POLL_SECONDS`` unset): on PostgreSQL other
#: replicas write rows it is not woken for; on SQLite only this process writes (it wakes the
#: worker), so the look is a safety net
POLL_SECONDS_POSTGRES = 1.0
POLL_SECONDS_SQLITE = 30.0


def poll_interval(configured: float | None, sqlite: bool) -> float:
    if configured is not None:
        return configured
    return POLL_SECONDS_SQLITE if sqlite else POLL_SECONDS_POSTGRES


def lease_margin(lease: timedelta) -> timedelta:
    """How long before the lease's end a send is cut: :data:`LEASE_MARGIN`, at most a quarter
    of a (short) lease."""
    return min(LEASE_MARGIN, lease / 4)


def worker_name() -> str:
    """Unique per process and start: host, pid and a random suffix."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


def classify(error: BaseException) -> DeliveryResult:
    if isinstance(error, TelegramForbiddenError):
        return DeliveryResult.FORBIDDEN
    if isinstance(error, TelegramBadRequest):
        text = error.message.lower()
        if any(reason in text for reason in _UNREACHABLE_400):
            return DeliveryResult.FORBIDDEN
        return DeliveryResult.FAILED
    if isinstance(error, TelegramUnauthorizedError):
        return DeliveryResult.TRANSIENT  # a bad token: nothing is lost while it is fixed
    if isinstance(error, ValueError):
        return DeliveryResult.FAILED  # an unreadable notice
    return DeliveryResult.TRANSIENT


class OutboxWorker:
    def __init__(
        self,
        *,
        claim: ClaimNotices,
        settle: SettleDelivery,
        depth: OutboxDepth,
        clock: Clock,
        bot: Bot,
        renderer: Renderer,
        catalog: Callable[[], Catalog],
        metrics: Metrics,
        default_locale: str = "vi",
        on_forbidden: Callable[[int], Awaitable[None]] | None = None,
        poll_interval: float = 1.0,
        batch: int = 50,
        concurrency: int = 16,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """``claim`` and ``settle`` are built for one worker name (``claim.worker``) and
        lease (``claim.lease``) by the composition root. ``sleep`` waits until a send's time
        is up (tests pass one on their virtual clock)."""
        self.name = claim.worker
        self._lease = claim.lease
        self._claim = claim
        self._settle = settle
        self._depth = depth
        self._clock = clock
        self._bot = bot
        self._renderer = renderer
        self._catalog = catalog
        self._metrics = metrics
        self._default_locale = default_locale
        self._on_forbidden = on_forbidden
        self.poll_interval = poll_interval
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        #: the last look's outlook and when it was taken (monotonic), while the worker sleeps
        #: after it; None during a round and after a wake
        self._seen: tuple[PendingOutlook, float] | None = None
        self.sent = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Look now (a commit in this process wrote outbox rows)."""
        self._seen = None
        self._wake.set()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="outbox-delivery")
        self._stats_task = asyncio.create_task(self._stats_loop(), name="outbox-depth")

    async def stop(self, wait: float = 10.0) -> None:
        """Let the round in hand finish (its rows are then settled), then stop."""
        # Both loops also end on the flag: a cancel lost inside a call (bot.stopping) must not
        # leave them running, nor this waiting for them without end.
        self._stopping = True
        stats, self._stats_task = self._stats_task, None
        await stop_task(stats)
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._wake.set()
        done, _ = await asyncio.wait([task], timeout=wait)  # a cancel of the caller is raised
        if not done:
            await stop_task(task)
        elif not task.cancelled():
            task.result()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._seen = None
            try:
                claimed = await self._round()
            except Exception:
                log.exception("outbox round failed; trying again shortly")
                claimed = 0
            if claimed or self._stopping:
                continue  # the next look also tells when the retries just scheduled are due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())

    def _idle_wait(self) -> float:
        """Until the next pending row is due, at most ``poll_interval``; the whole interval
        when the round's claim found nothing although the look saw a row due (another worker
        took it) or failed."""
        outlook = self._claim.outlook
        if outlook is None:
            return self.poll_interval
        self._seen = (outlook, time.monotonic())
        if outlook.next_due is None:
            return self.poll_interval
        due_in = (outlook.next_due - self._clock.now()).total_seconds() + DUE_MARGIN
        return min(max(due_in, 0.0), self.poll_interval)

    async def run_once(self) -> bool:
        """One round; True when it had a full batch (more may be waiting)."""
        return await self._round() >= self._batch

    async def _round(self) -> int:
        """One round; how many rows it claimed."""
        claimed = await self._claim(self._batch)
        if not claimed:
            return 0
        by_chat: dict[int, list[OutboxMessage]] = {}
        for message in claimed:
            if message.status is OutboxStatus.FORBIDDEN:  # closed by the claim: not sent
                log.info(
                    "outbox row %s: chat %s refused the bot since it was written; not sent",
                    message.id,
                    message.notice.chat_id,
                )
                self._metrics.outbox_deliveries.labels(DeliveryResult.FORBIDDEN.value).inc()
                continue
            by_chat.setdefault(message.notice.chat_id, []).append(message)
        await asyncio.gather(*(self._chat(rows) for rows in by_chat.values()))
        return len(claimed)

    async def _chat(self, rows: list[OutboxMessage]) -> None:
        async with self._slots:
            for index, message in enumerate(rows):
                if cancel_requested():
                    # a cancel lost inside the previous send or settle (bot.stopping): the
                    # rest keep their lease and go in a later round, as on a cancel
                    raise asyncio.CancelledError
                status = await self._deliver(message)
                if status is OutboxStatus.FORBIDDEN:
                    # the chat refuses the bot: its other rows would fail alike
                    for rest in rows[index + 1 :]:
                        await self._settle_logged(rest, DeliveryResult.FORBIDDEN, "chat forbidden")
                    return

    async def _deliver(self, message: OutboxMessage) -> OutboxStatus:
        lease_until = message.lease_until
        if lease_until is not None and self._clock.now() > lease_until - self._lease / 2:
            log.warning("outbox row %s: lease nearly over, left for the next round", message.id)
            return await self._settle_logged(message, DeliveryResult.TRANSIENT, "lease ran out")
        notice = message.notice
        lang = notice.locale if notice.locale in LANGUAGES else self._default_locale
        try:
            screen = notice_screen(notice, self._catalog())
            outgoing = Outgoing(notice.chat_id, lang, screen)
            if not await self._send_within_lease(message, outgoing):
                log.warning(
                    "outbox row %s: not sent before its lease ends (Telegram slow); "
                    "left for a later round",
                    message.id,
                )
                return await self._settle_logged(
                    message, DeliveryResult.TRANSIENT, "send cut: lease ran out"
                )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            result = classify(error)
            if result is DeliveryResult.FAILED:
                log.error("outbox row %s (%s) cannot be sent: %s", message.id, notice.kind, error)
            elif result is DeliveryResult.FORBIDDEN:
                log.info("outbox row %s: chat %s refuses the bot", message.id, notice.chat_id)
            else:
                log.warning("outbox row %s: %s; will retry", message.id, _describe(error))
            wait = error.retry_after if isinstance(error, TelegramRetryAfter) else 0
            return await self._settle_logged(
                message, result, _describe(error), not_before=timedelta(seconds=wait)
            )
        self.sent += 1
        return await self._settle_logged(message, DeliveryResult.SENT)

    async def _send_within_lease(self, message: OutboxMessage, outgoing: Outgoing) -> bool:
        """Send; False when the send was cancelled because the lease was about to end."""
        send = self._renderer.send_screen(self._bot, outgoing)
        if message.lease_until is None:
            await send
            return True
        left = message.lease_until - lease_margin(self._lease) - self._clock.now()
        if left <= timedelta():
            send.close()
            return False
        with send_deadline(left.total_seconds()):  # the policy's retries end in time
            sending = asyncio.ensure_future(send)
        timer = asyncio.ensure_future(self._sleep(left.total_seconds()))
        try:
            await asyncio.wait((sending, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not sending.done():
                sending.cancel()
                # asyncio.wait neither passes a cancel of this task on nor swallows it
                await asyncio.wait((sending,))
        if sending.cancelled():
            return False
        sending.result()  # its error, if any
        return True

    async def _settle_logged(
        self,
        message: OutboxMessage,
        result: DeliveryResult,
        error: str = "",
        *,
        not_before: timedelta | None = None,
    ) -> OutboxStatus:
        label = "retry" if result is DeliveryResult.TRANSIENT else result.value
        self._metrics.outbox_deliveries.labels(label).inc()
        try:
            status = await self._settle(message, result, error, not_before=not_before)
        except Exception:
            # the lease expires and the row is tried again (a SENT row may then be sent twice:
            # only when the database fails right after Telegram's OK)
            log.exception("outbox row %s could not be settled as %s", message.id, result.value)
            return OutboxStatus.PENDING
        if status is OutboxStatus.FORBIDDEN and self._on_forbidden is not None:
            try:
                await self._on_forbidden(message.notice.chat_id)
            except Exception as exc:
                log.warning("contact cache not told about chat %s: %s", message.id, exc)
        return status

    async def _stats_loop(self) -> None:
        """The depth gauges, refreshed on their own clock (a round may take long when
        Telegram is slow, which is when they matter)."""
        while not self._stopping:
            try:
                stats = self._known_stats() or await self._depth()
            except Exception as error:
                log.warning("outbox depth unavailable: %s", error)
            else:
                self._metrics.outbox_depth.set(stats.depth)
                self._metrics.outbox_oldest_age.set(stats.oldest_age_seconds)
            if not self._stopping:
                await asyncio.sleep(STATS_EVERY)

    def _known_stats(self) -> OutboxStats | None:
        """The depth as the worker's last look saw it, while nothing can have changed it
        since: the worker sleeps after that look (no round), no commit of this process wrote
        rows since (a wake), and the look is recent (other processes' rows: the worker looks
        every ``poll_interval``)."""
        seen = self._seen
        if seen is None:
            return None
        outlook, at = seen
        if time.monotonic() - at > self.poll_interval + STATS_EVERY:
            return None
        return outlook.stats(self._clock.now())


def _describe(error: BaseException) -> str:
    if isinstance(error, TelegramRetryAfter):
        return f"429 retry after {error.retry_after}s"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:500]
