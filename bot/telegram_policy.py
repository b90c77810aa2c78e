"""Telegram's limits for every Bot API call of the bot: retries and flood control.

:class:`TelegramSendPolicy` is an aiogram request middleware, installed on the ``Bot``'s
session by the composition root (:attr:`bot.container.Container.bot`), so replies,
notifications and the outbox all go through it. For each call (``getUpdates`` excepted: the
poll loop has its own backoff, and a long poll must not be held up):

- a message (see :func:`bot.flood_control.limited_chat`) first waits for its flood-control
  slots, for every attempt (when they cannot be had, e.g. Redis is down, it goes unpaced:
  a message sent too fast risks a 429, which is waited out; one not sent is lost);
- 429 (``TelegramRetryAfter``): wait ``retry_after`` (never less), then retry; the chat stays
  taken that long for the bot's other messages too;
- 5xx (``TelegramServerError``), timeouts and network errors (``TelegramNetworkError``), and an
  answer that is not JSON (``ClientDecodeError``, e.g. a proxy's HTML 502): retry after an
  exponential backoff with jitter (tenacity), at most ``max_attempts`` attempts;
- no attempt starts more than ``max_seconds`` after the first one: a 429 whose ``retry_after``
  reaches beyond that is raised at once (an outbox then reschedules the message);
- nor after the caller's deadline, when it set one (:func:`send_deadline`: the outbox worker's
  lease): a wait that would end past it is not begun, the last error is raised;
- everything else (400 ``TelegramBadRequest``, 403 ``TelegramForbiddenError``, 401, 404,
  409, 413 …) cannot succeed by repeating it: raised at once, never retried.

When the budget runs out the last error is raised unchanged. :func:`is_transient` tells the
caller whether that error could succeed later (retry the message later) or never will.

A timeout is retried although Telegram may have received the first request: a message may
then arrive twice. That is the price of "at least once"; the other faults cannot duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from bot.flood_control import (
    FloodLimiter,
    FloodLimits,
    LocalFloodLimiter,
    RedisFloodLimiter,
    limited_chat,
)
from bot.metrics import Metrics
from bot.settings import Settings

__all__ = [
    "EXEMPT_METHODS",
    "RetrySettings",
    "TelegramSendPolicy",
    "is_transient",
    "send_deadline",
    "send_policy_for",
]

log = logging.getLogger(__name__)

#: Calls that go straight through (no retry, no flood control, not counted as sends).
EXEMPT_METHODS = frozenset({"getUpdates"})


@dataclass(frozen=True)
class RetrySettings:
    """Bounds of the retries (TELEGRAM_RETRY_ATTEMPTS, TELEGRAM_RETRY_MAX_SECONDS)."""

    #: attempts in all when 5xx, timeouts or network errors repeat (429s count only in time)
    max_attempts: int = 5
    #: no attempt starts later than this after the first one (waiting for flood slots included)
    max_seconds: float = 60.0
    #: exponential backoff: initial * 2**n, at most ``backoff_max``, plus up to ``jitter``
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_seconds < 0 or self.backoff_initial < 0 or self.jitter < 0:
            raise ValueError("retry times must not be negative")


#: the caller's deadline for its calls, in ``time.monotonic()`` seconds (None: none)
_DEADLINE: ContextVar[float | None] = ContextVar("telegram_send_deadline", default=None)


@contextlib.contextmanager
def send_deadline(seconds: float) -> Iterator[None]:
    """The calls made inside start no retry, and wait for no 429, that would end more than
    ``seconds`` from now (tasks created inside inherit it)."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def is_transient(error: BaseException) -> bool:
    """True for an error that may go away by itself (429, 5xx, timeout, network, garbled
    answer); False for one that repeating the same call cannot fix (400, 403, 401, …)."""
    return isinstance(
        error,
        TelegramRetryAfter | TelegramServerError | TelegramNetworkError | ClientDecodeError,
    )


def _api_name(method: TelegramMethod[Any]) -> str:
    return str(method.__api_method__)


class _Attempts:
    """Per call: counts the failures that are not 429s, for the attempts bound."""

    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings
        self.failures = 0
        #: the first attempt's start (tenacity's own start comes after it: see __call__)
        self.started = time.monotonic()
        #: no attempt starts after this (``max_seconds``, or the caller's deadline if sooner)
        self.stop_at = min(self.started + settings.max_seconds, _DEADLINE.get() or math.inf)

    def _backoff(self, state: RetryCallState) -> float:
        settings = self.settings
        backoff = wait_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        ) + wait_random(0, settings.jitter)
        return float(backoff(state))

    def _deadline(self, state: RetryCallState) -> bool:
        # tenacity's stop_before_delay, counted from the first attempt
        ended = state.outcome_timestamp
        at = ended if ended is not None else time.monotonic()
        return at + state.upcoming_sleep >= self.stop_at

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, TelegramRetryAfter):
            return float(error.retry_after)
        return float(self._backoff(state))

    def stop(self, state: RetryCallState) -> bool:
        """Stop when the next attempt would start after ``max_seconds`` or the caller's
        deadline, or when 5xx and network failures reached ``max_attempts`` (429s are bounded
        by time only)."""
        if self._deadline(state):
            return True
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, TelegramRetryAfter):
            return False
        return self.failures >= self.settings.max_attempts


class TelegramSendPolicy(BaseRequestMiddleware):
    """The request middleware described in the module doc.

    ``limiter`` is None for no flood control; ``metrics`` None for no metrics; ``sleep`` is
    the pause used between attempts (tests may pass a recording one).
    """

    def __init__(
        self,
        *,
        limiter: FloodLimiter | None,
        retry: RetrySettings = RetrySettings(),
        metrics: Metrics | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.limiter = limiter
        self.retry = retry
        self.metrics = metrics
        self._sleep = sleep
        #: ``bot_api_sends``' children by result (``labels()`` looked up once each)
        self._results: dict[str, Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = _api_name(method)
        if name in EXEMPT_METHODS:
            return await make_request(bot, method)
        attempts = _Attempts(self.retry)
        try:
            # the first attempt without tenacity (its loop costs ~50 µs a call); a transient
            # failure is handed to the retry loop as the outcome of its first attempt
            try:
                return await self._attempt(make_request, bot, method, name, attempts)
            except BaseException as error:
                if not is_transient(error):
                    raise
                first_failure: BaseException | None = error
            retrying = AsyncRetrying(
                retry=retry_if_exception(is_transient),
                wait=attempts.wait,
                stop=attempts.stop,
                sleep=self._sleep,
                reraise=True,
                before_sleep=lambda state: self._before_retry(name, state),
            )
            async for attempt in retrying:
                with attempt:
                    if first_failure is not None:
                        failure, first_failure = first_failure, None
                        raise failure
                    response = await self._attempt(make_request, bot, method, name, attempts)
        except BaseException as error:
            if not isinstance(error, TelegramForbiddenError | asyncio.CancelledError):
                self._count("failed")
            raise
        return response

    async def _attempt(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        name: str,
        attempts: _Attempts,
    ) -> Response[TelegramType]:
        limited = limited_chat(name, method) if self.limiter is not None else None
        permit = None
        if limited is not None and self.limiter is not None:
            started = time.monotonic()
            try:
                permit = await self.limiter.acquire(*limited)
            except Exception as error:  # fail open: a message unpaced beats one never sent
                log.warning("flood control unavailable (%s): %s sent unpaced", error, name)
            if self.metrics is not None:
                self.metrics.flood_wait.observe(time.monotonic() - started)
        hold = 0.0
        try:
            response = await make_request(bot, method)
        except TelegramRetryAfter as error:
            hold = float(error.retry_after)
            self._count("429")
            raise
        except TelegramForbiddenError:
            self._count("forbidden")
            raise
        except BaseException as error:
            if is_transient(error):
                attempts.failures += 1
            raise
        finally:
            if permit is not None and self.limiter is not None:
                await asyncio.shield(self._release(permit, hold))
        self._count("ok")
        return response

    async def _release(self, permit: Any, hold: float) -> None:
        assert self.limiter is not None
        try:
            await self.limiter.release(permit, hold=hold)
        except Exception as error:  # the lease frees the slot anyway
            log.warning("flood-control slot of chat %s not released: %s", permit.chat, error)

    def _before_retry(self, name: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if not isinstance(error, TelegramRetryAfter):
            self._count("retry")
        log.info(
            "Bot API %s failed (%s: %s); attempt %d in %.2f s",
            name,
            type(error).__name__,
            error,
            state.attempt_number + 1,
            state.upcoming_sleep,
        )

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            child = self._results.get(result)
            if child is None:
                child = self._results[result] = self.metrics.bot_api_sends.labels(result)
            child.inc()


def send_policy_for(
    settings: Settings,
    *,
    bot_id: int,
    metrics: Metrics | None = None,
    redis: Any | None = None,
    redis_prefix: str = "onesme:",
    request_timeout: float = 60.0,
) -> TelegramSendPolicy:
    """The policy the composition root installs: flood limits and retry bounds from
    ``settings``; the flood slots in Redis (under ``redis_prefix``) when a client is given,
    else in this process. ``request_timeout`` is the session's: a slot whose holder died is
    freed a while after it (the lease)."""
    limits = FloodLimits(
        chat_interval=settings.flood_chat_interval,
        global_rate=settings.flood_global_rate,
        lease=request_timeout + 30.0,
    )
    limiter: FloodLimiter = (
        RedisFloodLimiter(redis, limits, prefix=redis_prefix, bot_id=bot_id)
        if redis is not None
        else LocalFloodLimiter(limits)
    )
    retry = RetrySettings(
        max_attempts=settings.telegram_retry_attempts,
        max_seconds=settings.telegram_retry_max_seconds,
    )
    return TelegramSendPolicy(limiter=limiter, retry=retry, metrics=metrics)
