"""Conversation state, per-chat locks and update de-duplication in Redis (``REDIS_URL`` set).

Several bot replicas can then serve one bot: a draft saved by one is read by the next, two
updates of one chat never run at once and run in update-id order, and an update Telegram
delivers twice runs once — unless the replica that took it first died before finishing it,
then the redelivery runs it (and ``bot.replay``, with the journal here, keeps it from showing
the user anything twice).
Every key starts with ``prefix`` so several deployments (or test runs) can share a server.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from domain.model import ConversationRecord
from domain.ports import LockTimeout
from storage.redis_scripts import RedisScript

if TYPE_CHECKING:  # redis is imported when a client is made (not in SQLite-only mode)
    from redis.asyncio import Redis

DEFAULT_PREFIX = "onesme:"

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


#: seconds a command waits for Redis' answer before it fails (redis-py's default)
SOCKET_TIMEOUT = 5.0


def connect(url: str, *, socket_timeout: float = SOCKET_TIMEOUT) -> Redis:
    """A client for ``url``; ``await client.aclose()`` at shutdown. A command whose answer
    does not come within ``socket_timeout`` fails (``redis.exceptions.TimeoutError``); its
    write is not timed (see :func:`_read_timeout_connection`)."""
    from redis.asyncio import Redis

    return Redis.from_url(
        url, socket_timeout=socket_timeout, connection_class=_read_timeout_connection()
    )


@functools.cache
def _read_timeout_connection() -> type[Any]:
    """redis-py's connection, its writes without ``asyncio.wait_for``.

    redis-py wraps every write in ``asyncio.wait_for(..., socket_timeout)``, which on Python
    3.11 makes a task per command: about 1.7 more event-loop turns and 70 more Python calls
    per command, a quarter of the client's work for a simple command (measured, issue 12,
    round 6). The timeout guards nothing here: a write only waits when the socket's buffer is
    full, and a connection carries one small command at a time, waiting for its answer,
    which is timed; a Redis that stops answering fails the read after ``socket_timeout`` and
    the connection is dropped."""
    from redis.asyncio import Connection

    class ReadTimeoutConnection(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            if not self.is_connected:  # connecting (and its handshake) keeps its timeouts
                await self.connect_check_health(check_health=False)
            timeout, self.socket_timeout = self.socket_timeout, None
            try:
                await super().send_packed_command(command, check_health)
            finally:
                self.socket_timeout = timeout

    return ReadTimeoutConnection


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def decode_record(key: str, raw: bytes | str) -> ConversationRecord:
    """A draft as :class:`RedisConversationStore` keeps it (a JSON string)."""
    value: dict[str, Any] = json.loads(raw)
    return ConversationRecord(
        key=key,
        state=value["state"],
        data=value["data"],
        version=value["version"],
        updated_at=datetime.fromisoformat(value["updated_at"]),
    )


def encode_record(record: ConversationRecord) -> str:
    return json.dumps(
        {
            "state": record.state,
            "data": record.data,
            "version": record.version,
            "updated_at": record.updated_at.isoformat(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


class TurnDraft(Protocol):
    """The draft of the chat whose update turn is running in this task, read with the turn's
    lock (``storage.redis_turns``): the store answers from it and leaves its writes to the
    turn's end, where they are written with the update's done mark in one script."""

    def owns(self, store: RedisConversationStore, name: str) -> bool: ...

    def read(self) -> bytes | str | None: ...

    def stage(self, raw: str | None) -> None: ...


#: the draft of the update turn running in this task (``storage.redis_turns``), if any
CURRENT_DRAFT: ContextVar[TurnDraft | None] = ContextVar("onesme_turn_draft", default=None)


class RedisConversationStore:
    """A draft is one JSON string under ``{prefix}conv:{key}``, kept ``ttl`` after its last
    save (GET, SET EX and DEL: one round trip each). The expiry is only garbage collection: the
    conversation decides from ``updated_at`` when a draft is too old to continue.

    Inside an update's turn (``storage.redis_turns.RedisUpdateTurns`` made with this store)
    the chat's draft was read by the turn's lock script: :meth:`get` answers from it, and
    :meth:`put` / :meth:`delete` are written by the script that ends the turn, with the
    update's done mark (atomically), not in a round trip of their own."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta = timedelta(days=7),
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}conv:"
        self.ttl = max(1, int(ttl.total_seconds()))

    def name(self, key: str) -> str:
        """The Redis key of the draft ``key``."""
        return self._prefix + key

    async def get(self, key: str) -> ConversationRecord | None:
        name = self._prefix + key
        draft = CURRENT_DRAFT.get()
        if draft is not None and draft.owns(self, name):
            raw = draft.read()
        else:
            raw = await self._redis.get(name)
        return None if raw is None else decode_record(key, raw)

    async def put(self, record: ConversationRecord) -> None:
        name = self._prefix + record.key
        draft = CURRENT_DRAFT.get()
        if draft is not None and draft.owns(self, name):
            draft.stage(encode_record(record))
            return
        await self._redis.set(name, encode_record(record), ex=self.ttl)

    async def delete(self, key: str) -> None:
        name = self._prefix + key
        draft = CURRENT_DRAFT.get()
        if draft is not None and draft.owns(self, name):
            draft.stage(None)
            return
        await self._redis.delete(name)

    async def write(self, name: str, raw: str | None) -> None:
        """Writes a staged draft (``raw``, None: deleted) now, in a round trip of its own."""
        if raw is None:
            await self._redis.delete(name)
        else:
            await self._redis.set(name, raw, ex=self.ttl)


_NOW_MS = """
local t = redis.call("time")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: joins the chat's queue (KEYS[2]) as ARGV[1] (score: the update id) with a member naming the
#: token ARGV[2] and its deadline (now + ARGV[3] ms); ``ttl`` (ARGV[4]) for the lock taken next
_JOIN_QUEUE = """
local member = ARGV[2] .. "|" .. tostring(now + tonumber(ARGV[3]))
local ttl = ARGV[4]
redis.call("zadd", KEYS[2], ARGV[1], member)
redis.call("pexpire", KEYS[2], tonumber(ARGV[3]) * 2)
"""

#: needs ``now``, ``member`` and ``ttl``; sets ``taken``, ``done`` (whether the key
#: ``KEYS[3]``, when given, exists once the lock is taken: an update's done mark), and, once
#: taken for an update not done, ``draft`` (the string ``KEYS[4]``, when given, or false) and
#: ``journal`` (the hash ``KEYS[5]``, when given, as a flat list: an update turn's reads). Drops
#: queue heads whose waiter gave up (their deadline, the number after "|", is past on the
#: server's clock), then takes the lock only for the queue's head (or an empty queue): the
#: waiter with the smallest update id goes first.
_TAKE_IF_HEAD = """
while true do
    local head = redis.call("zrange", KEYS[2], 0, 0)[1]
    if not head then break end
    local deadline = tonumber(string.match(head, "|(%d+)$"))
    if deadline and deadline < now and head ~= member then
        redis.call("zrem", KEYS[2], head)
    else
        break
    end
end
local head = redis.call("zrange", KEYS[2], 0, 0)[1]
local taken = 0
local done = 0
if (not head or head == member) and redis.call("set", KEYS[1], member, "NX", "PX", ttl) then
    redis.call("zrem", KEYS[2], member)
    taken = 1
    if KEYS[3] then
        done = redis.call("exists", KEYS[3])
    end
end
local draft = false
local journal = {}
if taken == 1 and done == 0 then
    if KEYS[4] then
        draft = redis.call("get", KEYS[4])
    end
    if KEYS[5] then
        journal = redis.call("hgetall", KEYS[5])
    end
end
"""

#: KEYS: lock, queue[, done mark[, draft[, journal]]]. ARGV: member, ttl_ms. Returns {1 when
#: the lock was taken else 0, done, draft, journal}.
_ACQUIRE = (
    _NOW_MS
    + """
local member = ARGV[1]
local ttl = ARGV[2]
"""
    + _TAKE_IF_HEAD
    + "return {taken, done, draft, journal}\n"
)

#: KEYS: lock, queue[, done mark[, draft[, journal]]]. ARGV: score, token, wait_ms, ttl_ms.
#: Joins the queue, then tries the lock as :data:`_ACQUIRE` does (one round trip when the chat
#: is free); returns {the member name, 1 when the lock was taken else 0, done, draft, journal}.
_ENQUEUE_ACQUIRE = (
    _NOW_MS + _JOIN_QUEUE + _TAKE_IF_HEAD + "return {member, taken, done, draft, journal}\n"
)

_EXTEND = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""

#: the score of a waiter that has no update id (a background job): after every update
_LAST = 2**53


class RedisChatLock:
    """A per-chat lock shared by every replica, held in turn by update id.

    A waiter joins ``{prefix}queue:{key}`` (a sorted set scored by the update id) and takes
    ``{prefix}lock:{key}`` (``SET NX PX ttl``) only when it heads the queue, so two updates of
    one chat run one after the other in Telegram's order whichever replicas received them; a
    waiter that gives up (``wait_timeout``) or dies is dropped from the queue by the next one.
    While the holder runs, a watchdog extends the lock every ``ttl / 3``: a slow handler keeps
    it, a crashed replica frees it ``ttl`` after its last extension. Release is a
    compare-and-delete on the holder's token."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta | float = 30.0,
        wait_timeout: timedelta | float = 10.0,
        retry_interval: float = 0.02,
    ) -> None:
        self._redis = redis
        self._lock_prefix = f"{prefix}lock:"
        self._queue_prefix = f"{prefix}queue:"
        self._ttl_ms = max(3, int(_seconds(ttl) * 1000))
        self._wait = _seconds(wait_timeout)
        self._retry = retry_interval
        self._release = RedisScript(redis, _RELEASE)
        self._acquire = RedisScript(redis, _ACQUIRE)
        self._enqueue_acquire = RedisScript(redis, _ENQUEUE_ACQUIRE)
        self._extend = RedisScript(redis, _EXTEND)
        self.extensions = 0  # how many times a watchdog extended a lock (for tests, metrics)
        #: seconds between two extensions of a held lock
        self.watch_period = self._ttl_ms / 3000

    def names(self, key: str) -> tuple[str, str]:
        """The lock's and the queue's keys for the chat ``key``."""
        return self._lock_prefix + key, self._queue_prefix + key

    async def take(
        self, name: str, queue: str, score: int, done_key: str | None, reads: Sequence[str] = ()
    ) -> tuple[str, bool, list[Any]]:
        """Waits for the lock ``name`` in ``queue``'s order; its holder's member name, whether
        ``done_key`` (when given) exists once the lock is held, and, when it does not, what
        ``reads`` (with ``done_key``: a draft's key, then a journal's) held then, read in the
        same script: [the draft's string or None, the journal's flat field/value list]."""
        keys = [name, queue] if done_key is None else [name, queue, done_key, *reads]
        deadline = asyncio.get_running_loop().time() + self._wait
        raw, taken, done, *held = await self._enqueue_acquire(
            keys=keys, args=[score, secrets.token_hex(16), self.wait_ms, self._ttl_ms]
        )
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        if taken:
            return member, bool(done), held
        return await self.wait_for(keys, member, deadline)

    @property
    def wait_ms(self) -> int:
        """Milliseconds a waiter waits for the lock before giving up (its queue entry's
        deadline)."""
        return max(1, int(self._wait * 1000))

    @property
    def ttl_ms(self) -> int:
        return self._ttl_ms

    async def wait_for(
        self, keys: Sequence[str], member: str, deadline: float
    ) -> tuple[str, bool, list[Any]]:
        """:meth:`take` for a waiter already queued as ``member`` (``keys``: the lock, the
        queue and what it reads), looking again until it heads the queue and the lock is free,
        or ``deadline`` (the event loop's time) passes: then ``LockTimeout``."""
        loop = asyncio.get_running_loop()
        delay = self._retry
        try:
            while True:
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)
                taken, done, *held = await self._acquire(keys=keys, args=[member, self._ttl_ms])
                if taken:
                    return member, bool(done), held
                if loop.time() >= deadline:
                    chat = keys[0].removeprefix(self._lock_prefix)
                    raise LockTimeout(f"chat {chat} is busy")
        except BaseException:
            await self._redis.zrem(keys[1], member)
            raise

    @asynccontextmanager
    async def lock(self, key: str, order: int | None = None) -> AsyncIterator[None]:
        name, queue = self.names(key)
        member, _, _ = await self.take(name, queue, _LAST if order is None else order, None)
        watchdog = Watchdog(self, name, member)
        try:
            yield
        finally:
            try:
                await watchdog.stop()
            finally:
                await self._release(keys=[name], args=[member])


class Watchdog:
    """Extends a held chat lock every ``ttl / 3`` while its holder runs.

    It is a timer, not a task waiting in a loop, and stopping it never cancels a Redis call:
    in Python 3.11 ``asyncio.wait_for``, which redis-py sends with, returns the answer instead
    of raising ``CancelledError`` when the cancel comes as the answer does. A watchdog task
    cancelled in the middle of an extension then went on extending the lock for ever, and its
    holder, waiting for it to end, never released the chat: every later update of that chat
    waited behind it without a word in the log (issue 12, the lost reply). Stopping cancels the
    timer and waits for an extension already on its way (only a cancel of the holder itself,
    which is kept and raised, cancels that extension too; it cannot loop any more). Cheaper
    too: no task per update, one only when a handler outlives a period."""

    __slots__ = ("_handle", "_lock", "_loop", "_member", "_name", "_running", "_stopped")

    def __init__(self, lock: RedisChatLock, name: str, member: str) -> None:
        self._lock = lock
        self._name = name
        self._member = member
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._running: asyncio.Task[None] | None = None
        self._handle = self._loop.call_later(lock.watch_period, self._fire)

    def _fire(self) -> None:
        if not self._stopped:
            self._running = self._loop.create_task(self._extend())

    async def _extend(self) -> None:
        from redis.exceptions import RedisError

        lock = self._lock
        try:
            if not await lock._extend(keys=[self._name], args=[self._member, lock._ttl_ms]):
                if not self._stopped:
                    log.warning("chat lock %s was lost while held", self._name)
                return
            lock.extensions += 1
        except RedisError as error:  # keep trying: the lock lives ttl after the last one
            log.warning("chat lock %s could not be extended: %s", self._name, error)
        if not self._stopped:
            self._handle = self._loop.call_later(lock.watch_period, self._fire)

    async def stop(self) -> None:
        """No extension after this returns (nor while it waits, if it is cancelled)."""
        self._stopped = True
        self._handle.cancel()
        running = self._running
        if running is not None and not running.done():
            try:
                await asyncio.wait([running])  # does not pass a cancel of the holder on
            except asyncio.CancelledError:
                running.cancel()  # the holder is going away (shutdown): so is its extension
                raise


class RedisUpdateDeduper:
    """``{prefix}update:{id}`` exists once the update was handled to the end (``EX ttl``).

    The ids this process marked (the last ``remember`` of them) are also kept in memory: they
    are known done without asking Redis, and marked once (the chat flow marks an update under
    the chat's lock, then the update gate marks it again: that second write is skipped)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta = timedelta(days=1),
        remember: int = 10_000,
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}update:"
        self._ttl = max(1, int(ttl.total_seconds()))
        self._remember = max(1, remember)
        self._marked: OrderedDict[int, None] = OrderedDict()

    @property
    def ttl(self) -> int:
        """Seconds a done mark is kept."""
        return self._ttl

    def key(self, update_id: int) -> str:
        """The done mark's key."""
        return f"{self._prefix}{update_id}"

    def knows(self, update_id: int) -> bool:
        """This process marked ``update_id`` done (no need to ask Redis)."""
        return update_id in self._marked

    def remember(self, update_id: int) -> None:
        """``update_id`` was marked done by this process (by :meth:`mark_done` or by a script
        of :class:`RedisUpdateTurns`)."""
        self._marked[update_id] = None
        if len(self._marked) > self._remember:
            self._marked.popitem(last=False)

    async def done(self, update_id: int) -> bool:
        if update_id in self._marked:
            return True
        return bool(await self._redis.exists(self.key(update_id)))

    async def mark_done(self, update_id: int) -> None:
        if update_id in self._marked:
            return
        await self._redis.set(self.key(update_id), 1, ex=self._ttl)
        self.remember(update_id)

    async def forget(self, update_id: int) -> None:
        """Let a redelivery of an update whose processing failed run again."""
        self._marked.pop(update_id, None)
        await self._redis.delete(self.key(update_id))
