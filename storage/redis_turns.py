"""An update's turn at its chat on Redis, and the journal of the Bot API requests it makes.

A turn of a free chat costs two round trips: the lock's script takes the chat's lock and, in
the same script, reads whether the update was handled already, the chat's draft and the
update's journal; the script that ends the turn saves the draft, marks the update done, drops
its journal and releases the lock, atomically. Between the two, the draft is read from what
the first script returned (``RedisConversationStore`` answers from the turn) and the
journal's start is written with its first request (``RedisUpdateJournal``).

The update gate's first read (``bot.contacts.RedisFirstRead``: the done check and the sender's
contact cache entry) can take the turn's lock in its own script
(:meth:`RedisUpdateTurns.first_read`): the turn of that update at that chat, in the same task,
then starts from it instead of a round trip of its own; the gate releases a lock no turn took
(:meth:`RedisUpdateTurns.release_unclaimed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from domain.ports import UpdateTurn
from storage.redis_scripts import RedisScript
from storage.redis_store import (
    _JOIN_QUEUE,
    _NOW_MS,
    _TAKE_IF_HEAD,
    CURRENT_DRAFT,
    DEFAULT_PREFIX,
    RedisChatLock,
    RedisConversationStore,
    RedisUpdateDeduper,
    Watchdog,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisUpdateJournal", "RedisUpdateTurns"]

log = logging.getLogger(__name__)

#: KEYS: lock, done mark[, journal][, draft]. ARGV: member, mark's ttl (s), "1" when the
#: journal's key is given, the draft's fate ("-" kept, "s" set to ARGV[6] for ARGV[7]
#: seconds, "d" deleted). The end of an update's turn: its draft saved, the update marked
#: done, its journal dropped, the chat's lock released if still held by ``member``. Atomic: a
#: redelivery finds either all of it done or none.
_END_TURN = """
local n = 3
if ARGV[3] == "1" then
    redis.call("del", KEYS[n])
    n = n + 1
end
if ARGV[4] == "s" then
    redis.call("set", KEYS[n], ARGV[5], "EX", ARGV[6])
elseif ARGV[4] == "d" then
    redis.call("del", KEYS[n])
end
redis.call("set", KEYS[2], 1, "EX", ARGV[2])
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class _TurnReads:
    """What a turn's lock script read (the draft, the journal) and what the turn writes at its
    end (the draft) or with its first journal write (the journal's start); the store and the
    journal find it in ``CURRENT_DRAFT`` while the turn runs in this task."""

    __slots__ = (
        "dirty",
        "draft_name",
        "journal",
        "open",
        "pending",
        "raw",
        "recorded",
        "staged",
        "store",
        "update_id",
    )

    def __init__(
        self,
        store: RedisConversationStore,
        draft_name: str,
        raw: bytes | str | None,
        journal: RedisUpdateJournal | None,
        update_id: int,
        recorded: list[Any] | None,
    ) -> None:
        self.store = store
        self.draft_name = draft_name
        self.raw = raw
        self.staged: str | None = None
        self.dirty = False
        self.journal = journal
        self.update_id = update_id
        #: the journal as the lock script read it (a flat list), until ``start`` takes it
        self.recorded = recorded
        #: the journal's start (field, value), written with the journal's next write
        self.pending: tuple[str, str] | None = None
        self.open = True

    def owns(self, store: RedisConversationStore, name: str) -> bool:
        return self.open and store is self.store and name == self.draft_name

    def read(self) -> bytes | str | None:
        return self.staged if self.dirty else self.raw

    def stage(self, raw: str | None) -> None:
        self.staged = raw
        self.dirty = True

    def journals(self, journal: RedisUpdateJournal, update_id: int) -> bool:
        return self.open and journal is self.journal and update_id == self.update_id


def _current(journal: RedisUpdateJournal, update_id: int) -> _TurnReads | None:
    turn = CURRENT_DRAFT.get()
    if isinstance(turn, _TurnReads) and turn.journals(journal, update_id):
        return turn
    return None


#: KEYS: lock, queue, done mark, draft, journal, contact cache entry. ARGV: score (update id),
#: token, wait_ms, ttl_ms. The gate's first read: the contact entry and, for an update not
#: done, the chat's queue joined and its lock tried as the turn's lock script does. Returns
#: {1, contact} for an update done, else {0, contact, member, taken, done, draft, journal}.
_FIRST_READ_TAKE = (
    _NOW_MS
    + """
local contact = redis.call("get", KEYS[6])
if redis.call("exists", KEYS[3]) == 1 then
    return {1, contact}
end
"""
    + _JOIN_QUEUE
    + _TAKE_IF_HEAD
    + "return {0, contact, member, taken, done, draft, journal}\n"
)


class _Pretaken:
    """A turn's lock taken (or its queue joined) by the gate's first read, until the turn of
    that update at that chat claims it or the gate releases it."""

    __slots__ = (
        "claimed",
        "deadline",
        "done",
        "held",
        "key",
        "keys",
        "member",
        "taken",
        "update_id",
        "watchdog",
    )

    def __init__(
        self,
        key: str,
        update_id: int,
        keys: list[str],
        member: str,
        taken: bool,
        done: bool,
        held: list[Any],
        deadline: float,
        watchdog: Watchdog | None,
    ) -> None:
        self.key = key
        self.update_id = update_id
        self.keys = keys
        self.member = member
        self.taken = taken
        self.done = done
        self.held = held
        self.deadline = deadline
        self.watchdog = watchdog
        self.claimed = False


#: the lock the gate's first read took in this task (:meth:`RedisUpdateTurns.first_read`)
_PRETAKEN: ContextVar[_Pretaken | None] = ContextVar("onesme_pretaken_turn", default=None)


class RedisUpdateTurns:
    """:class:`domain.ports.UpdateTurns` on Redis (see the module doc): two round trips for a
    free chat's turn, against seven for the lock, the de-duplicator, the draft and the journal
    called one by one. A turn left without ``finished`` (the handler raised) releases the lock
    and writes what the handler saved (the journal's start first): the update is not marked,
    its journal is kept, and a redelivery runs it again as before. Without ``store`` the draft
    and the journal are not read by the lock script (each is asked in its own round trip)."""

    def __init__(
        self,
        lock: RedisChatLock,
        deduper: RedisUpdateDeduper,
        journal: RedisUpdateJournal | None = None,
        store: RedisConversationStore | None = None,
    ) -> None:
        self.chat_lock = lock
        self.deduper = deduper
        self.journal = journal
        self.store = store
        self._end = RedisScript(lock._redis, _END_TURN)
        self._first_read = RedisScript(lock._redis, _FIRST_READ_TAKE)

    async def first_read(
        self, key: str, update_id: int, extra: str
    ) -> tuple[bool, bytes | str | None]:
        """Whether ``update_id`` was handled to the end, and the string at ``extra`` (the
        sender's contact cache entry), in one script that also joins the chat ``key``'s queue
        and takes its lock when free, with the turn's reads, for the turn of ``update_id`` at
        ``key`` in this task to start from (:meth:`turn`). The caller must call
        :meth:`release_unclaimed` once the update is handled (or skipped). Needs the store and
        the journal (else one of them is read apart: plain reads, nothing taken)."""
        lock, deduper, store, journal = self.chat_lock, self.deduper, self.store, self.journal
        if store is None or journal is None:
            raise ValueError("first_read needs the turns' store and journal")
        name, queue = lock.names(key)
        keys = [name, queue, deduper.key(update_id), store.name(key), journal.key(update_id)]
        deadline = asyncio.get_running_loop().time() + lock.wait_ms / 1000
        found = await self._first_read(
            keys=[*keys, extra],
            args=[update_id, secrets.token_hex(16), lock.wait_ms, lock.ttl_ms],
        )
        if int(found[0]) == 1:
            return True, found[1]
        _, contact, raw, taken, done, *held = found
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        watchdog = Watchdog(lock, name, member) if taken else None
        _PRETAKEN.set(
            _Pretaken(
                key, update_id, keys, member, bool(taken), bool(done), held, deadline, watchdog
            )
        )
        return False, contact

    async def release_unclaimed(self) -> None:
        """Releases the lock (or leaves the queue) the first read took in this task, unless
        the update's turn took it over. Never raises: the lock expires by itself."""
        pretaken = _PRETAKEN.get()
        if pretaken is None:
            return
        _PRETAKEN.set(None)
        if pretaken.claimed:
            return
        pretaken.claimed = True  # nor taken over later (a task started meanwhile sees it)
        lock = self.chat_lock
        try:
            if pretaken.watchdog is not None:
                await pretaken.watchdog.stop()
            if pretaken.taken:
                await lock._release(keys=[pretaken.keys[0]], args=[pretaken.member])
            else:
                await lock._redis.zrem(pretaken.keys[1], pretaken.member)
        except Exception as error:
            log.warning("chat lock %s not released: %s", pretaken.keys[0], error)

    def _claim(self, key: str, update_id: int) -> _Pretaken | None:
        pretaken = _PRETAKEN.get()
        if (
            pretaken is None
            or pretaken.claimed
            or pretaken.key != key
            or pretaken.update_id != update_id
        ):
            return None
        pretaken.claimed = True
        return pretaken

    @asynccontextmanager
    async def turn(self, key: str, update_id: int) -> AsyncIterator[UpdateTurn]:
        lock, deduper, store, journal = self.chat_lock, self.deduper, self.store, self.journal
        name, queue = lock.names(key)
        reads: list[str] = []
        if store is not None:
            reads.append(store.name(key))
            if journal is not None:
                reads.append(journal.key(update_id))
        pretaken = self._claim(key, update_id)
        watchdog: Watchdog | None = None
        if pretaken is None:
            member, done, held = await lock.take(
                name, queue, update_id, deduper.key(update_id), reads
            )
        elif pretaken.taken:
            member, done, held = pretaken.member, pretaken.done, pretaken.held
            watchdog = pretaken.watchdog
        else:
            member, done, held = await lock.wait_for(
                pretaken.keys, pretaken.member, pretaken.deadline
            )
        turn = UpdateTurn(done or deduper.knows(update_id))
        state: _TurnReads | None = None
        if store is not None and not done:
            state = _TurnReads(
                store,
                reads[0],
                held[0],
                journal if len(reads) > 1 else None,
                update_id,
                held[1] if len(reads) > 1 else None,
            )
            token = CURRENT_DRAFT.set(state)
        if watchdog is None:
            watchdog = Watchdog(lock, name, member)
        try:
            yield turn
        finally:
            if state is not None:
                state.open = False
                with contextlib.suppress(ValueError):  # left in another context
                    CURRENT_DRAFT.reset(token)
            try:
                await watchdog.stop()
            finally:
                if turn.finished:
                    await self.end(name, member, update_id, state)
                else:
                    await self._leave(name, member, state)

    async def end(
        self, name: str, member: str, update_id: int, state: _TurnReads | None = None
    ) -> None:
        """Saves the draft the turn staged, marks ``update_id`` done, drops its journal and
        releases the lock ``name`` held by ``member``: one script call."""
        keys = [name, self.deduper.key(update_id)]
        args: list[Any] = [member, self.deduper.ttl, "0", "-"]
        if self.journal is not None:
            keys.append(self.journal.key(update_id))
            args[2] = "1"
        if state is not None and state.dirty:
            keys.append(state.draft_name)
            if state.staged is None:
                args[3] = "d"
            else:
                args[3] = "s"
                args += [state.staged, state.store.ttl]
        try:
            await self._end(keys=keys, args=args)
        except Exception:
            # written as before the end had its own script (the update left unmarked)
            with contextlib.suppress(Exception):
                await self._save(state)
            raise
        self.deduper.remember(update_id)

    async def _leave(self, name: str, member: str, state: _TurnReads | None) -> None:
        """An unfinished turn: what the handler saved is written, then the lock released."""
        try:
            await self._save(state)
        finally:
            await self.chat_lock._release(keys=[name], args=[member])

    @staticmethod
    async def _save(state: _TurnReads | None) -> None:
        """The draft the turn staged, in round trips of their own: the journal's start first,
        so that a redelivery finds the draft saved since and takes the update as done."""
        if state is None or not state.dirty:
            return
        if state.pending is not None and state.journal is not None:
            await state.journal.write(state.update_id, *state.pending)
            state.pending = None
        await state.store.write(state.draft_name, state.staged)


#: KEYS: journal. ARGV: ttl (s), then field, value pairs.
_JOURNAL_WRITE = """
redis.call("hset", KEYS[1], unpack(ARGV, 2))
return redis.call("expire", KEYS[1], ARGV[1])
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
    ``ttl``. Inside the update's turn (:class:`RedisUpdateTurns` made with a store) the turn's
    lock script read it already: :meth:`start` answers from that read, and writes its start
    field with the next :meth:`write` (nothing the start guards happens before: the draft is
    saved by the script that ends the turn, which drops the journal)."""

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
        self._write = RedisScript(redis, _JOURNAL_WRITE)
        self._start = RedisScript(redis, _JOURNAL_START)

    def key(self, update_id: int) -> str:
        return f"{self._prefix}{update_id}"

    async def load(self, update_id: int) -> dict[str, str]:
        raw = await self._redis.hgetall(f"{self._prefix}{update_id}")
        return {_text(k): _text(v) for k, v in raw.items()}

    async def start(self, update_id: int, field: str, value: str) -> dict[str, str]:
        """The journal as :meth:`load` reads it, and ``field`` written (as :meth:`write`
        does) when it has none: one round trip instead of two, atomically; none in a turn
        whose lock script read the journal (the field is then written with the next write)."""
        turn = _current(self, update_id)
        if turn is not None and turn.recorded is not None:
            journal = _pairs(turn.recorded)
            turn.recorded = None
            if field not in journal:
                turn.pending = (field, value)
            return journal
        flat = await self._start(
            keys=[f"{self._prefix}{update_id}"], args=[field, value, self._ttl]
        )
        return _pairs(flat)

    async def write(self, update_id: int, field: str, value: str) -> None:
        # one script call (atomic, as the MULTI/EXEC pipeline it replaces): about 2 writes
        # per update, and a pipeline cost the client several times a single command
        turn = _current(self, update_id)
        pending = turn.pending if turn is not None else None
        args: list[Any] = [self._ttl, field, value] if pending is None else [self._ttl, *pending]
        if pending is not None:
            args += [field, value]
        await self._write(keys=[f"{self._prefix}{update_id}"], args=args)
        if turn is not None and pending is not None:
            turn.pending = None

    async def delete(self, update_id: int) -> None:
        await self._redis.delete(f"{self._prefix}{update_id}")


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
