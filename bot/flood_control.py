"""Outgoing flood control: Telegram's "1 message a second to a chat, ~30 a second in all".

The model is a sliding window with leases, the same in-process and in Redis. A message takes
one slot of its chat (1 slot) and one slot of the bot (``global_rate`` slots) before its request
starts, and gives them back when Telegram has answered; a returned slot stays taken for one
more window (``chat_interval`` for a chat, ``global_window`` for the bot). So:

- the next message to a chat starts at least ``chat_interval`` after the previous one was
  *answered*, hence is received by Telegram at least ``chat_interval`` after the previous one
  was received (a request is received before it is answered), whatever the network's jitter;
- at most ``global_rate`` messages are in flight or answered less than ``global_window`` ago,
  hence at most ``global_rate`` are received in any window of ``global_window``.

A slot whose holder died (process killed mid-request) is freed ``lease`` seconds after it was
taken; the lease must exceed the Bot API request timeout.

Waiters are served in arrival order (no one starves near a limit): a waiter gets a ticket when
it first asks (the clock of the limiter: Redis' ``TIME`` for Redis) and queues for its chat;
only the chat's oldest waiter may take the chat, and once its chat is free it queues for the
bot, where the ``k``-th oldest ready waiter may take a slot only when ``k`` are free. A waiter
that gives up (cancelled, failed) leaves both queues; one whose process died is dropped from
them ``poll`` + ``_STALE_GRACE`` seconds after its last look.

Which calls count (:func:`limited_chat`): a call that leaves a new message in a chat, i.e. the
``send*`` methods (``sendMessage``, ``sendPhoto``, ``sendDocument``, ``sendMediaGroup``, …) but
not ``sendChatAction``, and ``copyMessage(s)`` / ``forwardMessage(s)``. Edits, deletions,
``answerCallbackQuery`` and the bot's own settings are exempt: Telegram's limits are about
messages, and an answer to a button press must stay snappy. A media group holds its chat for
one interval per item.

:class:`LocalFloodLimiter` works inside one process (``time.monotonic``);
:class:`RedisFloodLimiter` shares the slots among processes through Redis (atomic Lua scripts,
Redis' own clock, keys ``<prefix>flood:<bot id>:chat:<chat id>`` and
``<prefix>flood:<bot id>:all`` that expire by themselves).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.stopping import cancel_requested
from storage.redis_scripts import RedisScript

__all__ = [
    "FloodLimiter",
    "FloodLimits",
    "LocalFloodLimiter",
    "Permit",
    "RedisFloodLimiter",
    "SlotWindow",
    "limited_chat",
]

#: Methods that leave a new message in a chat without starting with ``send``.
_COPY_METHODS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})
_NOT_MESSAGES = frozenset({"sendChatAction"})


def limited_chat(api_method: str, params: Any) -> tuple[str, int] | None:
    """``(chat key, weight)`` when the call counts as messages to a chat, else None.

    ``api_method`` is the Bot API name (``sendMessage``); ``params`` the method object (its
    ``chat_id`` and, for a media group, ``media``). The weight is the number of messages.
    """
    counted = (
        api_method.startswith("send") and api_method not in _NOT_MESSAGES
    ) or api_method in _COPY_METHODS
    if not counted:
        return None
    chat_id = getattr(params, "chat_id", None)
    if chat_id is None:
        return None
    weight = 1
    if api_method == "sendMediaGroup":
        weight = max(1, len(getattr(params, "media", None) or ()))
    elif api_method in ("copyMessages", "forwardMessages"):
        weight = max(1, len(getattr(params, "message_ids", None) or ()))
    return str(chat_id), weight


@dataclass(frozen=True)
class FloodLimits:
    """The limits; defaults are Telegram's (FLOOD_CHAT_INTERVAL, FLOOD_GLOBAL_RATE)."""

    #: seconds between two messages to one chat (answered → next sent)
    chat_interval: float = 1.0
    #: messages in flight or answered within the last ``global_window``, over all chats
    global_rate: int = 30
    global_window: float = 1.0
    #: a slot never released (its holder died) is free again this long after it was taken
    lease: float = 90.0
    #: longest pause between two looks at a busy slot (a slot in flight has no known end)
    poll: float = 0.2

    def __post_init__(self) -> None:
        if self.chat_interval < 0 or self.global_window < 0:
            raise ValueError("flood intervals must not be negative")
        if self.global_rate < 1:
            raise ValueError("the global rate must be at least 1 message")
        if self.lease <= 0 or self.poll <= 0:
            raise ValueError("lease and poll must be positive")


@dataclass(frozen=True)
class Permit:
    """A message's slots, from :meth:`FloodLimiter.acquire` to :meth:`FloodLimiter.release`."""

    chat: str
    token: str
    weight: int
    waited: float


class SlotWindow:
    """``slots`` holders at most: a holder counts from ``take`` until ``expires`` (its lease,
    then ``hold`` after its release). Pure arithmetic on a given ``now``; the Redis script does
    the same with sorted sets."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._expiry: dict[str, float] = {}

    def _prune(self, now: float) -> None:
        for token in [t for t, expires in self._expiry.items() if expires <= now]:
            del self._expiry[token]

    def wait(self, now: float) -> float:
        """Seconds until a slot is free (0.0 when one is free now)."""
        self._prune(now)
        if len(self._expiry) < self.slots:
            return 0.0
        ordered = sorted(self._expiry.values())
        return ordered[len(ordered) - self.slots] - now

    def wait_for(self, now: float, count: int, *, unknown: float) -> float:
        """Seconds until ``count`` slots are free (0.0 if they are now); ``unknown`` when
        that needs more holders to leave than hold a slot now (waiters ahead must go first)."""
        self._prune(now)
        index = len(self._expiry) + count - 1 - self.slots
        if index < 0:
            return 0.0
        if index >= len(self._expiry):
            return unknown
        return sorted(self._expiry.values())[index] - now

    def take(self, now: float, token: str, lease: float) -> None:
        self._expiry[token] = now + lease

    def release(self, now: float, token: str, hold: float) -> None:
        """Count the holder for ``hold`` more seconds; a holder whose lease ran out is gone."""
        if token in self._expiry and self._expiry[token] > now:
            self._expiry[token] = now + hold

    def __len__(self) -> int:
        return len(self._expiry)

    def empty(self, now: float) -> bool:
        self._prune(now)
        return not self._expiry


class FloodLimiter:
    """Waits for a message's slots (:meth:`acquire`) and gives them back (:meth:`release`).

    Subclasses implement ``_try`` (take both slots or say how long to wait) and ``_release``.
    """

    def __init__(
        self,
        limits: FloodLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep

    async def acquire(self, chat: str, weight: int = 1) -> Permit:
        """Wait, in arrival order, until ``chat`` and the bot both have a free slot; take them."""
        token = secrets.token_hex(8)
        started = self._clock()
        ticket = 0
        try:
            while True:
                wait, ticket, exact = await self._try(chat, token, ticket)
                if wait <= 0:
                    return Permit(chat, token, weight, self._clock() - started)
                if cancel_requested():
                    # the cancel was lost inside the Redis call (bot.stopping): a waiter given
                    # up on must not wait on for a slot and send
                    raise asyncio.CancelledError
                # a wait known to the end is slept in one go (one look fewer per poll on Redis)
                await self._sleep(wait if exact else min(wait, self.limits.poll))
        except BaseException:
            with contextlib.suppress(Exception):  # the queues drop a silent waiter anyway
                await self._leave(chat, token)
            raise

    async def release(self, permit: Permit, *, hold: float = 0.0) -> None:
        """The message was answered (or failed): its chat stays taken for ``chat_interval``
        per message (or ``hold`` seconds if longer, e.g. a 429's ``retry_after``), the
        global slot for ``global_window``."""
        chat_hold = max(self.limits.chat_interval * permit.weight, hold)
        await self._release(permit.chat, permit.token, chat_hold)

    async def _try(self, chat: str, token: str, ticket: int) -> tuple[float, int, bool]:
        """Take both slots (``(0.0, ticket, True)``) or say how long to wait before looking
        again, and whether that wait is exact: nothing can free the slots sooner (the chat's
        slot was released and is held for at most ``chat_interval``: a release holds a slot at
        least that long, so neither its holder nor anyone else can end it earlier); else the
        waiter looks again within ``poll``.

        ``ticket`` is 0 on the first look; the answer's ticket is passed on the next ones."""
        raise NotImplementedError

    async def _leave(self, chat: str, token: str) -> None:
        raise NotImplementedError

    async def _release(self, chat: str, token: str, chat_hold: float) -> None:
        raise NotImplementedError


class WaitQueue:
    """Waiters in ticket order (the in-process twin of the Redis queue sorted sets)."""

    def __init__(self) -> None:
        self._order: list[tuple[int, str]] = []
        self._tickets: dict[str, int] = {}

    def join(self, token: str, ticket: int) -> int:
        """Queue ``token`` (once) and return how many waiters are ahead of it."""
        if token not in self._tickets:
            self._tickets[token] = ticket
            bisect.insort(self._order, (ticket, token))
        return bisect.bisect_left(self._order, (self._tickets[token], token))

    def leave(self, token: str) -> None:
        ticket = self._tickets.pop(token, None)
        if ticket is not None:
            self._order.remove((ticket, token))

    def __len__(self) -> int:
        return len(self._order)


class LocalFloodLimiter(FloodLimiter):
    """The slots of this process only (no REDIS_URL)."""

    def __init__(
        self,
        limits: FloodLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        super().__init__(limits, clock=clock, sleep=sleep)
        self._all = SlotWindow(limits.global_rate)
        self._chats: dict[str, SlotWindow] = {}
        self._all_queue = WaitQueue()
        self._chat_queues: dict[str, WaitQueue] = {}
        self._tickets = itertools.count(1)

    async def _try(self, chat: str, token: str, ticket: int) -> tuple[float, int, bool]:
        now = self._clock()
        ticket = ticket or next(self._tickets)
        window = self._chats.get(chat)
        if window is None:
            window = self._chats[chat] = SlotWindow(1)
        queue = self._chat_queues.get(chat)
        if queue is None:
            queue = self._chat_queues[chat] = WaitQueue()
        if queue.join(token, ticket) > 0:
            return self.limits.poll, ticket, False  # an older waiter of this chat goes first
        wait = window.wait(now)
        if wait > 0:
            return wait, ticket, wait <= self.limits.chat_interval
        ahead = self._all_queue.join(token, ticket)
        wait = self._all.wait_for(now, ahead + 1, unknown=self.limits.poll)
        if wait > 0:
            return wait, ticket, False
        window.take(now, token, self.limits.lease)
        self._all.take(now, token, self.limits.lease)
        self._dequeue(chat, token)
        return 0.0, ticket, True

    async def _leave(self, chat: str, token: str) -> None:
        self._dequeue(chat, token)

    def _dequeue(self, chat: str, token: str) -> None:
        self._all_queue.leave(token)
        queue = self._chat_queues.get(chat)
        if queue is not None:
            queue.leave(token)
            if not queue:
                del self._chat_queues[chat]

    async def _release(self, chat: str, token: str, chat_hold: float) -> None:
        now = self._clock()
        self._all.release(now, token, self.limits.global_window)
        window = self._chats.get(chat)
        if window is not None:
            window.release(now, token, chat_hold)
        self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        if len(self._chats) > 1024:
            for key in [k for k, w in self._chats.items() if w.empty(now)]:
                del self._chats[key]


# KEYS: chat slots, global slots (member = permit token, score = expiry in µs), chat queue,
# global queue (score = ticket), chat seen, global seen (score = when a silent waiter is dropped)
# ARGV: token, ticket (0: first look), global slots, lease µs, poll µs, stale µs
# → {1, 0, ticket} taken, or {0, µs to wait, ticket, 1 when it waits for the chat's slot}
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for q = 3, 4 do
  local gone = redis.call('ZRANGEBYSCORE', KEYS[q + 2], '-inf', now)
  for _, member in ipairs(gone) do
    redis.call('ZREM', KEYS[q], member)
    redis.call('ZREM', KEYS[q + 2], member)
  end
end
local token = ARGV[1]
-- the ticket as digits: a Lua number would be written with 14 significant digits only
local ticket = ARGV[2]
if ticket == '0' then ticket = t[1] .. string.format('%06d', tonumber(t[2])) end
local poll = tonumber(ARGV[5])
local stale = tonumber(ARGV[6])
local function join(q)
  redis.call('ZADD', KEYS[q], ticket, token)
  redis.call('ZADD', KEYS[q + 2], now + stale, token)
  local ttl = math.floor(stale / 1000) + 1000
  redis.call('PEXPIRE', KEYS[q], ttl)
  redis.call('PEXPIRE', KEYS[q + 2], ttl)
  return redis.call('ZRANK', KEYS[q], token)
end
if join(3) > 0 then return {0, poll, ticket} end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first > 0 then return {0, tonumber(first[2]) - now, ticket, 1} end
local ahead = join(4)
local slots = tonumber(ARGV[3])
local taken = redis.call('ZCARD', KEYS[2])
local index = taken + ahead - slots
if index >= 0 then
  if index >= taken then return {0, poll, ticket} end
  local nth = redis.call('ZRANGE', KEYS[2], index, index, 'WITHSCORES')
  return {0, tonumber(nth[2]) - now, ticket}
end
local expires = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], expires, token)
redis.call('ZADD', KEYS[2], expires, token)
local ttl = math.floor(tonumber(ARGV[4]) / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
for q = 3, 6 do redis.call('ZREM', KEYS[q], token) end
return {1, 0, ticket}
"""

# KEYS: as _ACQUIRE; ARGV: token
_LEAVE = """
for q = 3, 6 do redis.call('ZREM', KEYS[q], ARGV[1]) end
return 1
"""

#: a queued waiter that has not looked for ``poll`` + this many seconds is dropped (its
#: process died): it held the queue up to then
_STALE_GRACE = 5.0

# KEYS: chat, global; ARGV: token, chat hold µs, global window µs, lease µs
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local holds = {tonumber(ARGV[2]), tonumber(ARGV[3])}
for i = 1, 2 do
  local expires = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if expires and tonumber(expires) > now then
    redis.call('ZADD', KEYS[i], 'XX', now + holds[i], ARGV[1])
    local ttl = math.floor(math.max(holds[i], tonumber(ARGV[4])) / 1000) + 1000
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1
"""


#: seconds added to an exact wait on Redis' clock (the next look must come after it)
_LATER = 0.002


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


class RedisFloodLimiter(FloodLimiter):
    """The slots shared by every process using the same Redis and ``prefix`` (and bot)."""

    def __init__(
        self,
        redis: Any,
        limits: FloodLimits,
        *,
        prefix: str,
        bot_id: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        super().__init__(limits, clock=clock, sleep=sleep)
        self._redis = redis
        self._base = f"{prefix}flood:{bot_id}:"
        self._acquire = RedisScript(redis, _ACQUIRE)
        self._release_script = RedisScript(redis, _RELEASE)
        self._leave_script = RedisScript(redis, _LEAVE)

    def _keys(self, chat: str) -> list[str]:
        base = self._base
        return [
            f"{base}chat:{chat}",
            f"{base}all",
            f"{base}queue:chat:{chat}",
            f"{base}queue:all",
            f"{base}seen:chat:{chat}",
            f"{base}seen:all",
        ]

    async def _try(self, chat: str, token: str, ticket: int) -> tuple[float, int, bool]:
        limits = self.limits
        taken, wait, ticket, *chat_slot = await self._acquire(
            keys=self._keys(chat),
            args=[
                token,
                ticket,
                limits.global_rate,
                _micros(limits.lease),
                _micros(limits.poll),
                _micros(limits.poll + _STALE_GRACE),
            ],
        )
        if int(taken) == 1:
            return 0.0, int(ticket), True
        seconds = max(int(wait), 1) / 1_000_000
        if chat_slot and seconds <= limits.chat_interval:
            # Redis' clock, not this one: a little later, so the next look finds it free
            return seconds + _LATER, int(ticket), True
        return seconds, int(ticket), False

    async def _leave(self, chat: str, token: str) -> None:
        await self._leave_script(keys=self._keys(chat), args=[token])

    async def _release(self, chat: str, token: str, chat_hold: float) -> None:
        limits = self.limits
        await self._release_script(
            keys=self._keys(chat),
            args=[
                token,
                _micros(chat_hold),
                _micros(limits.global_window),
                _micros(limits.lease),
            ],
        )
