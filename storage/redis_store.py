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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.model import ConversationRecord
from domain.ports import LockTimeout, UpdateTurn

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


class RedisConversationStore:
    """A draft is one JSON string under ``{prefix}conv:{key}``, kept ``ttl`` after its last
    save (GET, SET EX and DEL: one round trip each). The expiry is only garbage collection: the
    conversation decides from ``updated_at`` when a draft is too old to continue."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta = timedelta(days=7),
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}conv:"
        self._ttl = max(1, int(ttl.total_seconds()))

    async def get(self, key: str) -> ConversationRecord | None:
        raw = await self._redis.get(self._prefix + key)
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return ConversationRecord(
            key=key,
            state=value["state"],
            data=value["data"],
            version=value["version"],
            updated_at=datetime.fromisoformat(value["updated_at"]),
        )

    async def put(self, record: ConversationRecord) -> None:
        raw = json.dumps(
            {
                "state": record.state,
                "data": record.data,
                "version": record.version,
                "updated_at": record.updated_at.isoformat(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        await self._redis.set(self._prefix + record.key, raw, ex=self._ttl)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


_NOW_MS = """
local t = redis.call("time")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: needs ``now``, ``member`` and ``ttl``; sets ``taken``, and ``done`` (whether the key
#: ``KEYS[3]``, when given, exists once the lock is taken: an update's done mark). Drops
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
"""

#: KEYS: lock, queue[, done mark]. ARGV: member, ttl_ms. Returns {1 when the lock was taken
#: else 0, done}.
_ACQUIRE = (
    _NOW_MS
    + """
local member = ARGV[1]
local ttl = ARGV[2]
"""
    + _TAKE_IF_HEAD
    + "return {taken, done}\n"
)

#: KEYS: lock, queue[, done mark]. ARGV: score, token, wait_ms, ttl_ms. Joins the queue, then
#: tries the lock as :data:`_ACQUIRE` does (one round trip when the chat is free); returns
#: {the member name, 1 when the lock was taken else 0, done}.
_ENQUEUE_ACQUIRE = (
    _NOW_MS
    + """
local member = ARGV[2] .. "|" .. tostring(now + tonumber(ARGV[3]))
local ttl = ARGV[4]
redis.call("zadd", KEYS[2], ARGV[1], member)
redis.call("pexpire", KEYS[2], tonumber(ARGV[3]) * 2)
"""
    + _TAKE_IF_HEAD
    + "return {member, taken, done}\n"
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
        self._release = redis.register_script(_RELEASE)
        self._acquire = redis.register_script(_ACQUIRE)
        self._enqueue_acquire = redis.register_script(_ENQUEUE_ACQUIRE)
        self._extend = redis.register_script(_EXTEND)
        self.extensions = 0  # how many times a watchdog extended a lock (for tests, metrics)
        #: seconds between two extensions of a held lock
        self.watch_period = self._ttl_ms / 3000

    def names(self, key: str) -> tuple[str, str]:
        """The lock's and the queue's keys for the chat ``key``."""
        return self._lock_prefix + key, self._queue_prefix + key

    async def take(
        self, name: str, queue: str, score: int, done_key: str | None
    ) -> tuple[str, bool]:
        """Waits for the lock ``name`` in ``queue``'s order; its holder's member name, and
        whether ``done_key`` (when given) exists once the lock is held."""
        keys = [name, queue] if done_key is None else [name, queue, done_key]
        wait_ms = max(1, int(self._wait * 1000))
        raw, taken, done = await self._enqueue_acquire(
            keys=keys, args=[score, secrets.token_hex(16), wait_ms, self._ttl_ms]
        )
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        delay = self._retry
        try:
            while not taken:
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)
                taken, done = await self._acquire(keys=keys, args=[member, self._ttl_ms])
                if not taken and loop.time() >= deadline:
                    raise LockTimeout(f"chat {name.removeprefix(self._lock_prefix)} is busy")
        except BaseException:
            await self._redis.zrem(queue, member)
            raise
        return member, bool(done)

    @asynccontextmanager
    async def lock(self, key: str, order: int | None = None) -> AsyncIterator[None]:
        name, queue = self.names(key)
        member, _ = await self.take(name, queue, _LAST if order is None else order, None)
        watchdog = _Watchdog(self, name, member)
        try:
            yield
        finally:
            try:
                await watchdog.stop()
            finally:
                await self._release(keys=[name], args=[member])


class _Watchdog:
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


#: KEYS: lock, done mark[, journal]. ARGV: member, mark's ttl (s). The end of an update's turn:
#: the update marked done, its journal dropped, the chat's lock released if still held by
#: ``member``. Atomic: a redelivery finds either all three done or none.
_END_TURN = """
redis.call("set", KEYS[2], 1, "EX", ARGV[2])
if KEYS[3] then
    redis.call("del", KEYS[3])
end
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class RedisUpdateTurns:
    """:class:`domain.ports.UpdateTurns` on Redis: an update's turn at its chat costs two
    round trips when the chat is free, against five for the lock, the de-duplicator and the
    journal called one by one. The done check rides on the lock's acquire script (read once
    the lock is taken, in the same script); the done mark, the journal's deletion and the
    release are one script (:data:`_END_TURN`). A turn left without ``finished`` (the handler
    raised) only releases the lock: the update is not marked, its journal is kept, and a
    redelivery runs it again as before."""

    def __init__(
        self,
        lock: RedisChatLock,
        deduper: RedisUpdateDeduper,
        journal: RedisUpdateJournal | None = None,
    ) -> None:
        self.chat_lock = lock
        self.deduper = deduper
        self.journal = journal
        self._end = lock._redis.register_script(_END_TURN)

    @asynccontextmanager
    async def turn(self, key: str, update_id: int) -> AsyncIterator[UpdateTurn]:
        lock, deduper = self.chat_lock, self.deduper
        name, queue = lock.names(key)
        done_key = deduper.key(update_id)
        member, done = await lock.take(name, queue, update_id, done_key)
        turn = UpdateTurn(done or deduper.knows(update_id))
        watchdog = _Watchdog(lock, name, member)
        try:
            yield turn
        finally:
            try:
                await watchdog.stop()
            finally:
                if turn.finished:
                    await self.end(name, member, update_id)
                else:
                    await lock._release(keys=[name], args=[member])

    async def end(self, name: str, member: str, update_id: int) -> None:
        """Marks ``update_id`` done, drops its journal and releases the lock ``name`` held by
        ``member``: one script call."""
        keys = [name, self.deduper.key(update_id)]
        if self.journal is not None:
            keys.append(self.journal.key(update_id))
        await self._end(keys=keys, args=[member, self.deduper.ttl])
        self.deduper.remember(update_id)


#: KEYS: journal. ARGV: field, value, ttl (s).
_JOURNAL_WRITE = """
redis.call("hset", KEYS[1], ARGV[1], ARGV[2])
return redis.call("expire", KEYS[1], ARGV[3])
"""

#: KEYS: journal. ARGV: start field, its value, ttl (s). The journal as it was (a flat
#: field/value list), its start field written when it had none.
_JOURNAL_START = """
local journal = redis.call("hgetall", KEYS[1])
if redis.call("hexists", KEYS[1], ARGV[1]) == 0 then
  redis.call("hset", KEYS[1], ARGV[1], ARGV[2])
  redis.call("expire", KEYS[1], ARGV[3])
end
return journal
"""


class RedisUpdateJournal:
    """``{prefix}journal:{id}``: a hash of the Bot API requests made while handling one update
    (see ``bot.replay``); deleted once the update is marked handled, else expires after
    ``ttl``."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta = timedelta(days=1),
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}journal:"
        self._ttl = max(1, int(ttl.total_seconds()))
        self._write = redis.register_script(_JOURNAL_WRITE)
        self._start = redis.register_script(_JOURNAL_START)

    def key(self, update_id: int) -> str:
        return f"{self._prefix}{update_id}"

    async def load(self, update_id: int) -> dict[str, str]:
        raw = await self._redis.hgetall(f"{self._prefix}{update_id}")
        return {_text(k): _text(v) for k, v in raw.items()}

    async def start(self, update_id: int, field: str, value: str) -> dict[str, str]:
        """The journal as :meth:`load` reads it, and ``field`` written (as :meth:`write`
        does) when it has none: one round trip instead of two, atomically."""
        flat = await self._start(
            keys=[f"{self._prefix}{update_id}"], args=[field, value, self._ttl]
        )
        return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def write(self, update_id: int, field: str, value: str) -> None:
        # one script call (atomic, as the MULTI/EXEC pipeline it replaces): about 3.5 writes
        # per update, and a pipeline cost the client several times a single command
        await self._write(keys=[f"{self._prefix}{update_id}"], args=[field, value, self._ttl])

    async def delete(self, update_id: int) -> None:
        await self._redis.delete(f"{self._prefix}{update_id}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
