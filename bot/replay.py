"""Handling an update again without showing the user anything twice.

An update is marked handled only after it was handled, so when a replica dies in the middle
(``kill -9``, a lost node) Telegram delivers it again and another replica handles it. What the
first one already did must not be done twice: a message sent again, an edit Telegram refuses as
"message is not modified", a callback query answered twice ("query is too old").

While an update of a chat is handled, under that chat's lock, every Bot API request it makes
is journaled in Redis (``{prefix}journal:{update_id}``): its method and Telegram's answer, in
order. The journal also keeps a fingerprint of the conversation state the handling started
from. When the update comes again:

- the state no longer has that fingerprint: the first handling saved its new state and died
  before marking the update handled; the update is done, nothing is repeated;
- otherwise the handling runs again from the same state; each request the journal holds at the
  same position with the same method is not sent again, its recorded answer is returned (so
  the new handling knows the message id the user already sees), and the requests past the
  journal's end are sent for real.

A request is journaled with Telegram's answer once it has one. A request whose answer is not
in the journal when the first handling broke off may have been on its way: it is sent again
(logged as a warning when it was the next request after the journal's end): a message may
then show twice, and a repeated edit that had landed is refused by Telegram as "message is not
modified", which the renderer takes as done. A lost screen would be worse than either. The
update's first journaled request is also journaled as "on its way" before it is sent (with
the start: a journal that holds nothing says no handling got as far as a request, so one
dying in its first request is still logged when sent again). An ``answerCallbackQuery`` is
journaled only as it goes out (its answer is always True, so a second write would say
nothing new) and is never repeated, landed or not (Telegram takes one answer; the spinner
ends by itself); the handling replays on past it. So a press by polling (the answer, then an
edit) writes twice and a typed answer (a message) twice: the "on its way" of a later request
would only tell "in flight" from "not sent yet" in the log, for a Redis write each.

By webhook a press's callback query is answered in the webhook's answer (``bot/webhook_reply.py``),
which leaves only once the update is marked handled: it is no request, takes no position,
and a redelivery answers the query again in its own webhook answer (the first answer was lost
with the replica). The edit is then the update's first request: a press by webhook writes
twice too (the edit on its way, then with its answer) and makes one request. The positions
differ between the modes by that answer, so an update handled first by webhook and again by
polling (or the other way round: the bot's mode switched while a replica was dead) replays
nothing past the answer: the edit is sent again (Telegram refuses it as "message is not
modified", taken as done) and a later message may show twice.
Without Redis there is one process, no redelivery to another replica, and no journal.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any, Protocol, cast

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from pydantic import BaseModel

from bot.metrics import Metrics
from domain.model import ConversationRecord

__all__ = ["Replay", "ReplayGuard", "UpdateJournal", "fingerprint", "handling"]

log = logging.getLogger(__name__)

START = "start"


class UpdateJournal(Protocol):
    """Where the requests of an update being handled are written (Redis). It is dropped as
    the update is marked handled, in the same script (``storage.redis_turns.RedisUpdateTurns``)."""

    async def load(self, update_id: int) -> dict[str, str]: ...

    async def start(self, update_id: int, field: str, value: str) -> dict[str, str]:
        """The journal as :meth:`load` reads it; ``field`` written first if it has none."""
        ...

    async def write(self, update_id: int, field: str, value: str) -> None: ...


def fingerprint(record: ConversationRecord | None) -> str:
    if record is None:
        return "none"
    body = json.dumps([record.version, record.data], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


class Replay:
    """The journal of one update's handling (see the module doc)."""

    def __init__(self, journal: UpdateJournal, update_id: int) -> None:
        self.journal = journal
        self.update_id = update_id
        self.recorded: dict[str, str] = {}
        self.started = False
        #: an earlier handling finished the update (its callback query was answered then, by
        #: a request; by webhook the redelivery answers it: bot.app.BotApp.feed_webhook)
        self.done_before = False
        self.replaying = False
        self.replayed = 0
        #: the journal in Redis holds a request of this update: a handling that breaks off
        #: from now on is replayed, and the request after the journal's end logged as sent again
        self.written = False
        self._next = 0

    async def begin(self, state: str) -> bool:
        """Start (or resume) journaling from the conversation state ``state``; False when an
        earlier handling of this update already saved a newer state (the update is done)."""
        try:
            # read, and the start written when the journal has none: one round trip
            self.recorded = await self.journal.start(self.update_id, START, state)
            first = self.recorded.get(START)
            if first is not None and first != state:
                log.info("update %s: its first handling saved its state; done", self.update_id)
                self.done_before = True
                return False
        except Exception as error:  # no journal: handled as before (a repeat stays possible)
            log.warning("update journal unavailable (%s) for %s", error, self.update_id)
            return True
        self.started = True
        self.replaying = len(self.recorded) > 1
        self.written = self.replaying
        return True

    def next_position(self) -> str:
        position = str(self._next)
        self._next += 1
        return position

    async def record(self, position: str, value: str) -> None:
        try:
            await self.journal.write(self.update_id, position, value)
            self.written = True
        except Exception as error:
            log.warning("update %s: request not journaled: %s", self.update_id, error)


#: requests Telegram takes once only, whose answer is True: journaled as they go out, never
#: sent again (a callback query's spinner times out by itself; a second answer is refused)
_ONCE_ONLY = frozenset({"answerCallbackQuery"})

_CURRENT: contextvars.ContextVar[Replay | None] = contextvars.ContextVar(
    "onesme_replay", default=None
)


@contextlib.contextmanager
def handling(replay: Replay | None) -> Iterator[None]:
    """Bot API requests made inside the block belong to ``replay``'s update."""
    token = _CURRENT.set(replay)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _name(method: TelegramMethod[Any]) -> str:
    name = type(method).__name__
    return name[:1].lower() + name[1:]


class ReplayGuard(BaseRequestMiddleware):
    """The Bot session middleware that journals requests and answers repeats from it; the
    outermost one, so a repeat is neither sent nor counted (``onesme_replayed_requests``
    counts it)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        replay = _CURRENT.get()
        if replay is None or not replay.started:
            return await make_request(bot, method)
        name = _name(method)
        once = name in _ONCE_ONLY
        position = replay.next_position()
        if replay.replaying:
            raw = replay.recorded.get(position)
            entry = json.loads(raw) if raw is not None else {}
            if entry.get("method") == name and ("result" in entry or once):
                replay.replayed += 1
                if self.metrics is not None:
                    self.metrics.replayed.inc()
                answer = Response[method.__returning__].model_validate(  # type: ignore[name-defined]
                    {"ok": True, "result": entry.get("result", True)}, context={"bot": bot}
                )
                return cast(Response[TelegramType], answer.result)
            replay.replaying = False  # past what the first handling did: real requests
            # the next request after the journal's end: it was on its way when that handling
            # broke off ("on its way" recorded, or, past the first request, nothing: only
            # answers are) or not sent yet; either way it is sent
            if entry.get("method") == name:
                log.warning(
                    "update %s: %s was in flight when its handling broke off: sent again",
                    replay.update_id,
                    name,
                )
            elif not entry and not once:  # a callback answer is journaled before it goes out
                log.warning(
                    "update %s: %s may have been in flight when its handling broke off: sent again",
                    replay.update_id,
                    name,
                )
        if once or not replay.written:  # on its way: see the module doc
            await replay.record(position, json.dumps({"method": name}))
        # despite its annotation, aiogram's next step returns the result itself
        result: Any = await make_request(bot, method)
        if not once:  # its answer is True: "on its way" says all
            await replay.record(position, json.dumps({"method": name, "result": _plain(result)}))
        return cast(Response[TelegramType], result)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
