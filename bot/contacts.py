"""Who can be reached: every update from a user records their profile and that their private
chat exists (:class:`domain.usecases.outbox.RecordContact`), without a database write per
update.

The :class:`ContactRecorder` keeps what it last recorded for each user (name, username,
language) in a small cache and writes only when the user is new to the cache, their profile
changed, or they were marked unreachable (a 403 makes the outbox worker :meth:`forget` them).
A user blocking the bot (a ``my_chat_member`` update with ``kicked``) is marked unreachable
at once; unblocking comes with their next message, which records them again.
The cache is in-process, or in Redis when ``REDIS_URL`` is set, so a 403 seen by one replica
makes every replica write again at the user's next update. A cache entry that outlives a
database reset only costs a missed refresh of an unchanged profile.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from aiogram.types import Chat, Update, User

from bot.handlers import chat_key
from domain.usecases.outbox import Contact, MarkUnreachable, RecordContact
from storage.redis_scripts import RedisScript

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from storage.redis_store import RedisUpdateDeduper
    from storage.redis_turns import RedisUpdateTurns

__all__ = [
    "ContactCache",
    "ContactRecorder",
    "MemoryContactCache",
    "RedisContactCache",
    "RedisFirstRead",
    "contact_of",
]

log = logging.getLogger(__name__)

#: Redis entries expire after a week: a user silent that long is written once more
REDIS_TTL_SECONDS = 7 * 24 * 3600


class ContactCache(Protocol):
    async def get(self, user_id: int) -> str | None: ...

    async def put(self, user_id: int, fingerprint: str) -> None: ...

    async def forget(self, user_id: int) -> None: ...


class MemoryContactCache:
    """Bounded (least recently seen users dropped first)."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._entries: OrderedDict[int, str] = OrderedDict()

    async def get(self, user_id: int) -> str | None:
        found = self._entries.get(user_id)
        if found is not None:
            self._entries.move_to_end(user_id)
        return found

    async def put(self, user_id: int, fingerprint: str) -> None:
        self._entries[user_id] = fingerprint
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    async def forget(self, user_id: int) -> None:
        self._entries.pop(user_id, None)


class RedisContactCache:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}contact:"

    def key(self, user_id: int) -> str:
        return f"{self._prefix}{user_id}"

    async def get(self, user_id: int) -> str | None:
        value = await self._redis.get(f"{self._prefix}{user_id}")
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, user_id: int, fingerprint: str) -> None:
        await self._redis.set(f"{self._prefix}{user_id}", fingerprint, ex=REDIS_TTL_SECONDS)

    async def forget(self, user_id: int) -> None:
        await self._redis.delete(f"{self._prefix}{user_id}")


def _fingerprint(contact: Contact) -> str:
    return "\x1f".join((contact.first_name, contact.username or "", contact.language_code or ""))


class ContactRecorder:
    def __init__(
        self, record: RecordContact, cache: ContactCache, *, blocked: MarkUnreachable
    ) -> None:
        self._record = record
        self._blocked = blocked
        self.cache = cache
        self.writes = 0

    async def seen(self, contact: Contact) -> None:
        """Never raises: an update is handled even when its sender could not be recorded."""
        try:
            cached = await self.cache.get(contact.user_id)
        except Exception:
            log.exception("could not record that user %s wrote to the bot", contact.user_id)
            return
        await self.seen_as(contact, cached)

    async def seen_as(self, contact: Contact, cached: str | None) -> None:
        """:meth:`seen`, the cache's entry for the user read already (``cached``)."""
        fingerprint = _fingerprint(contact)
        try:
            if cached == fingerprint:
                return
            await self._record(contact)
            self.writes += 1
            await self.cache.put(contact.user_id, fingerprint)
        except Exception:
            log.exception("could not record that user %s wrote to the bot", contact.user_id)

    async def forget(self, user_id: int) -> None:
        await self.cache.forget(user_id)

    async def blocked(self, user_id: int) -> None:
        """The user blocked the bot: marked unreachable, and written again when they return."""
        try:
            await self.cache.forget(user_id)
            await self._blocked(user_id)
            self.writes += 1
        except Exception:
            log.exception("could not record that user %s blocked the bot", user_id)


def contact_of(update: Update) -> Contact | None:
    """The sender of an update that shows their private chat with the bot exists: a message in
    it, or a press on a button of a message in it."""
    user: User | None = None
    chat: Chat | None = None
    if update.message is not None:
        user, chat = update.message.from_user, update.message.chat
    elif update.edited_message is not None:
        user, chat = update.edited_message.from_user, update.edited_message.chat
    elif update.callback_query is not None:
        query = update.callback_query
        user = query.from_user
        chat = query.message.chat if query.message is not None else None
    if user is None or user.is_bot or chat is None or chat.type != "private":
        return None
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return Contact(user.id, name, user.username, user.language_code)


#: KEYS: an update's done mark, a contact cache entry. Both read in one round trip.
_FIRST_READ = """
return {redis.call("exists", KEYS[1]), redis.call("get", KEYS[2])}
"""


class RedisFirstRead:
    """What the update gate asks first about an update (``bot.middlewares.FirstRead``) when
    both the de-duplicator and the contact cache are in Redis: whether the update was handled
    to the end, and the cache's entry for its sender, in one script call instead of two
    commands. An update this process marked done is known without asking.

    With ``turns`` (and ``bot_id``), the same script also takes the turn's lock of the
    sender's private chat (``storage.redis_turns.RedisUpdateTurns.first_read``): the update's
    turn there starts from it, one round trip fewer; :meth:`leave` releases it when no turn
    took it (the gate calls it once the update is handled or skipped)."""

    def __init__(
        self,
        redis: Redis,
        deduper: RedisUpdateDeduper,
        cache: RedisContactCache,
        turns: RedisUpdateTurns | None = None,
        bot_id: int | None = None,
    ) -> None:
        self._deduper = deduper
        self._cache = cache
        self._read = RedisScript(redis, _FIRST_READ)
        #: the turns and this bot's id, both or neither
        self._turns = (turns, bot_id) if turns is not None and bot_id is not None else None

    async def __call__(self, update_id: int, user_id: int) -> tuple[bool, str | None]:
        if self._deduper.knows(update_id):
            return True, None
        if self._turns is not None:
            turns, bot_id = self._turns
            key = chat_key(bot_id, user_id)  # the sender's private chat
            done, value = await turns.first_read(key, update_id, self._cache.key(user_id))
        else:
            done, value = await self._read(
                keys=[self._deduper.key(update_id), self._cache.key(user_id)]
            )
        if value is None:
            return bool(done), None
        return bool(done), value.decode() if isinstance(value, bytes) else str(value)

    async def leave(self) -> None:
        """The update was handled (or skipped): a chat lock the first read took and no turn
        took over is released."""
        if self._turns is not None:
            await self._turns[0].release_unclaimed()
