"""The one route: every update becomes exactly one engine :class:`Event`.

:class:`UpdateRoute` takes an update past the gate (``bot.middlewares.UpdateGate``) to its
handler, reading who sent what (:class:`Actor`, :class:`Event`, :class:`Origin`), and hands it
to :class:`ChatFlow`, which runs the per-update pipeline:

    per-chat lock → load the session once → engine.handle → render → save once

Messages all go to the flow; callback queries whose data is one of our buttons
(:class:`FlowCallback`, read as aiogram's ``FlowCallback.filter()`` read it) too, and whatever
else — forged, garbage or foreign callback data — only gets the "menu out of date" notice.
The route does what aiogram's ``Dispatcher`` did with one router and these three handlers,
without its per-update machinery (docs/performance.md, round 7).

Errors never drop an update silently: a :class:`DomainError` escaping the engine becomes a reply
from its key (``error.*``) with a way forward; anything else is logged with its traceback and
answered with a generic apology. Every callback query is answered exactly once. After an error
the session is not saved (the engine may have half-changed it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, cast

from aiogram import Bot
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    Message,
    TelegramObject,
    Update,
    User,
)

from bot.callbacks import FlowCallback
from bot.i18n import normalize_language, placeholders
from bot.metrics import Metrics
from bot.render import Origin, Renderer, error_params
from bot.replay import Replay, UpdateJournal, fingerprint, handling
from conversations.reply import Reply
from conversations.screens import Delivery, Join, Msg, Screen
from conversations.session import Actor, ChatSession, Event, EventKind, SharedUser
from domain.errors import DomainError
from domain.model import ConversationRecord
from domain.ports import ChatLock, Clock, ConversationStore, LockTimeout, UpdateTurns

__all__ = [
    "BOT_COMMANDS",
    "ChatFlow",
    "ConversationEngine",
    "Gate",
    "UpdateRoute",
    "actor_of",
    "button_event",
    "chat_key",
    "flow_callback",
    "parse_command",
    "record_of",
    "session_of",
]

log = logging.getLogger(__name__)

#: the commands shown in Telegram's menu (setMyCommands), in this order
BOT_COMMANDS = ("start", "services", "subscriptions", "cancel", "help", "language")

GENERIC_ERROR = "error.generic"
DOMAIN_ERROR = "error.domain"
WAY_FORWARD = "error.way_forward"
STALE_MENU = "bot.stale_menu"


class ConversationEngine(Protocol):
    """The engine's interface (``conversations.engine``), as the bot calls it."""

    async def handle(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply: ...


def parse_command(text: str) -> tuple[str, str] | None:
    """``"/start@MyBot ref_123"`` → ``("start", "ref_123")``; None when not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, rest = text[1:].partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = f"{more} {rest}".strip()
    name = head.split("@", 1)[0].lower()
    if not name or not name.replace("_", "").isalnum():
        return None
    return name, rest.strip()


def actor_of(user: User, chat_id: int) -> Actor:
    return Actor(
        user_id=user.id,
        chat_id=chat_id,
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        username=user.username,
        language_code=user.language_code,
    )


def session_of(record: ConversationRecord) -> ChatSession:
    return ChatSession.from_dict(record.key, record.data, record.updated_at)


def record_of(session: ChatSession) -> ConversationRecord:
    if session.updated_at is None:
        raise ValueError("a session is saved with its update time")
    return ConversationRecord(
        key=session.key,
        state=session.flow or "",
        data=session.to_dict(),
        version=session.rev,
        updated_at=session.updated_at,
    )


class ChatFlow:
    """Runs one update of one chat through the conversation engine (see the module doc)."""

    def __init__(
        self,
        *,
        bot_id: int,
        engine: ConversationEngine,
        store: ConversationStore,
        chat_lock: ChatLock,
        renderer: Renderer,
        metrics: Metrics,
        clock: Clock,
        turns: UpdateTurns | None = None,
        default_locale: str = "vi",
        retry_when_busy: bool = False,
        journal: UpdateJournal | None = None,
    ) -> None:
        self.bot_id = bot_id
        #: Redis: an update handled again after a replica died repeats nothing (bot.replay)
        self.journal = journal
        #: raise LockTimeout (webhook: answered 429, delivered again) instead of apologising
        self.retry_when_busy = retry_when_busy
        #: the chat's lock for an update, with its de-duplication (else the bare lock)
        self.turns = turns
        self.engine = engine
        self.store = store
        self.chat_lock = chat_lock
        self.renderer = renderer
        self.metrics = metrics
        self.clock = clock
        self.default_locale = default_locale

    def key(self, chat_id: int) -> str:
        return chat_key(self.bot_id, chat_id)

    def language_of(self, actor: Actor) -> str:
        return normalize_language(actor.language_code) or self.default_locale

    async def run(
        self, bot: Bot, actor: Actor, event: Event, origin: Origin, order: int | None = None
    ) -> None:
        """``order`` is the update id: across replicas a chat's updates run in that order."""
        self.metrics.updates.labels(event.kind.value).inc()
        key = self.key(actor.chat_id)
        replay = (
            Replay(self.journal, order) if self.journal is not None and order is not None else None
        )
        with handling(replay):
            await self._run(bot, key, actor, event, origin, order, replay)

    async def _run(
        self,
        bot: Bot,
        key: str,
        actor: Actor,
        event: Event,
        origin: Origin,
        order: int | None,
        replay: Replay | None,
    ) -> None:
        answer = True
        try:
            if self.turns is None or order is None:
                async with self.chat_lock.lock(key, order):
                    await self._run_locked(bot, key, actor, event, origin, replay)
            else:
                async with self.turns.turn(key, order) as turn:
                    if turn.done_before:
                        # a redelivery that waited for this chat while the first delivery ran
                        self.metrics.duplicates.inc()
                        log.info("update %s of chat %s handled meanwhile: skipped", order, key)
                    else:
                        await self._run_locked(bot, key, actor, event, origin, replay)
                        turn.finished = True  # marked (and its journal dropped) on release
        except LockTimeout:
            if self.retry_when_busy:
                # webhook: the update is refused (429) and Telegram delivers it again later,
                # e.g. once the lock of a replica that died holding it has expired
                log.warning("chat %s is busy: update %s refused for a redelivery", key, order)
                answer = False  # the delivery that is handled answers (the 429 carries nothing)
                raise
            log.warning("chat %s is busy: update dropped with an apology", key)
            await self._apologise(bot, self.language_of(actor), origin, stage="lock")
        finally:
            if answer and not (replay is not None and replay.done_before):
                await self.renderer.answer_callback(bot, origin)

    async def _run_locked(
        self,
        bot: Bot,
        key: str,
        actor: Actor,
        event: Event,
        origin: Origin,
        replay: Replay | None = None,
    ) -> None:
        now = self.clock.now()
        record = await self.store.get(key)
        if replay is not None and not await replay.begin(fingerprint(record)):
            self.metrics.duplicates.inc()  # handled by a replica that died before saying so
            return
        session = (
            session_of(record)
            if record is not None
            else ChatSession(key=key, lang=self.language_of(actor), updated_at=now)
        )
        if event.kind is EventKind.TEXT:
            mapped = self.renderer.reply_button(session.lang, event.text)
            if mapped is not None:
                event = replace(
                    event, kind=EventKind.BUTTON, name=mapped[0], arg=mapped[1], rev=session.rev
                )
        previous_message = session.message_id
        try:
            reply = await self.engine.handle(session, actor, event, now)
        except DomainError as error:
            log.info("domain error %s on %s in chat %s", error.key, event.kind.value, key)
            self.metrics.errors.labels("domain").inc()
            await self._deliver_error(bot, session, origin, error)
            return
        except Exception:
            log.exception(
                "the engine failed on %s %r in chat %s", event.kind.value, event.name, key
            )
            await self._apologise(bot, session.lang, origin, stage="engine")
            return
        try:
            message_id = await self.renderer.deliver(bot, session, reply, origin)
        except Exception:
            log.exception("showing the reply failed in chat %s", key)
            await self._apologise(bot, session.lang, origin, stage="render")
            return
        session.message_id = message_id or previous_message
        if reply.changed or session.message_id != previous_message:
            session.updated_at = now
            await self.store.put(record_of(session))

    def error_reply(self, lang: str, error: DomainError | None, origin: Origin) -> Reply:
        """The reply for an error: its ``error.*`` text (or the generic one) and a way forward;
        for a button press an alert on the current screen, which stays usable."""
        i18n = self.renderer.i18n
        if error is None:
            message = Msg(GENERIC_ERROR)
        else:
            key = error.key if i18n.has(error.key) else DOMAIN_ERROR
            names = placeholders(i18n.template(lang, key))
            message = Msg(key, error_params(names, error.params))
        if origin.is_callback:
            return Reply(answer=message, alert=True, changed=False)
        text = Join((message, Msg(WAY_FORWARD)), sep="\n\n")
        return Reply(screens=(Screen(text, delivery=Delivery.NEW),), changed=False)

    async def _deliver_error(
        self, bot: Bot, session: ChatSession, origin: Origin, error: DomainError | None
    ) -> None:
        reply = self.error_reply(session.lang, error, origin)
        try:
            await self.renderer.deliver(bot, session, reply, origin)
        except Exception:
            log.exception("could not show an error reply in chat %s", session.key)

    async def _apologise(self, bot: Bot, lang: str, origin: Origin, *, stage: str) -> None:
        self.metrics.errors.labels(stage).inc()
        session = ChatSession(key=self.key(origin.chat_id), lang=lang)
        await self._deliver_error(bot, session, origin, None)

    async def stale(self, bot: Bot, query: CallbackQuery) -> None:
        """A callback query whose data is not ours (forged, garbage, an old bot's): answered
        with the "menu out of date" notice and nothing else."""
        self.metrics.updates.labels("stale").inc()
        log.warning(
            "unparseable callback data %r from user %s", (query.data or "")[:64], query.from_user.id
        )
        lang = normalize_language(query.from_user.language_code) or self.default_locale
        origin = Origin(chat_id=query.from_user.id, kind=EventKind.BUTTON, callback_id=query.id)
        text = self.renderer.plain(lang, Msg(STALE_MENU))
        await self.renderer.answer_callback(bot, origin, text)


def _message_event(message: Message) -> Event:
    if message.users_shared is not None:
        shared = message.users_shared
        users = tuple(
            SharedUser(u.user_id, first_name=u.first_name or "", username=u.username)
            for u in shared.users
        )
        return Event(EventKind.USERS, request_id=shared.request_id, users=users)
    if message.contact is not None:
        contact = message.contact
        own = message.from_user is not None and contact.user_id == message.from_user.id
        return Event(EventKind.CONTACT, phone=contact.phone_number, own_contact=own)
    text = message.text or message.caption or ""
    command = parse_command(text) if message.text else None
    if command is not None:
        return Event(EventKind.COMMAND, name=command[0], arg=command[1], text=text)
    return Event(EventKind.TEXT, text=text)


def button_event(query: CallbackQuery, data: FlowCallback) -> tuple[int, Event, Origin]:
    """The chat, engine event and origin of a press on one of our buttons."""
    message = query.message
    if message is None:
        chat_id, message_id = query.from_user.id, None
    elif isinstance(message, InaccessibleMessage):
        chat_id, message_id = message.chat.id, None
    else:
        chat_id, message_id = message.chat.id, message.message_id
    event = Event(
        EventKind.BUTTON, name=data.action, arg=data.arg, rev=data.rev, message_id=message_id
    )
    origin = Origin(
        chat_id=chat_id,
        kind=EventKind.BUTTON,
        callback_id=query.id,
        callback_message_id=message_id,
    )
    return chat_id, event, origin


def flow_callback(data: str | None) -> FlowCallback | None:
    """Our button's data, or None when it is not ours (forged, garbage, foreign): what aiogram's
    ``FlowCallback.filter()`` accepted and rejected, the same way."""
    if not data:
        return None
    try:
        return FlowCallback.unpack(data)
    except (TypeError, ValueError):
        return None


class Gate(Protocol):
    """The update gate (:class:`bot.middlewares.UpdateGate`): runs ``handler(update, data)``
    unless the update was handled before."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any: ...


def chat_key(bot_id: int, chat_id: int) -> str:
    """The key of a chat's turns (its lock, queue and draft) for this bot; a private chat's id
    is its user's id."""
    return f"{bot_id}:{chat_id}"


class UpdateRoute:
    """From an update to its handler: the gate, then a message to :meth:`ChatFlow.run`, a press
    on one of our buttons to :meth:`ChatFlow.run`, any other press to :meth:`ChatFlow.stale`;
    other updates (``my_chat_member``: the gate records it) go no further.

    This is what aiogram's ``Dispatcher`` did with one router and three handlers, without its
    per-update machinery (its error and user-context middlewares, the middleware chains wrapped
    anew for every update, two levels of routers, filters resolved by signature): an exception
    reaches :meth:`bot.app.BotApp.process_update` as it did (no error handler was registered).
    """

    __slots__ = ("flow", "gate")

    def __init__(self, flow: ChatFlow, gate: Gate | None = None) -> None:
        self.flow = flow
        self.gate = gate

    async def feed(self, bot: Bot, update: Update) -> None:
        if update.bot is not bot and update.bot != bot:
            # as aiogram's Dispatcher.feed_update: the update's objects are bound to this bot
            update = Update.model_validate(update.model_dump(), context={"bot": bot})
        data = {"bot": bot}
        if self.gate is None:
            await self.handle(update, data)
        else:
            await self.gate(self.handle, update, data)

    async def handle(self, received: TelegramObject, data: dict[str, Any]) -> None:
        """Hand ``received`` (an :class:`Update`; ``data["bot"]`` its bot) to its handler."""
        update = cast(Update, received)
        bot: Bot = data["bot"]
        flow = self.flow
        message = update.message
        if message is not None:
            user = message.from_user
            if user is None:
                return
            event = _message_event(message)
            chat_id = message.chat.id
            origin = Origin(chat_id=chat_id, kind=event.kind)
            await flow.run(bot, actor_of(user, chat_id), event, origin, update.update_id)
            return
        query = update.callback_query
        if query is not None:
            callback_data = flow_callback(query.data)
            if callback_data is None:
                await flow.stale(bot, query)
                return
            chat_id, event, origin = button_event(query, callback_data)
            await flow.run(bot, actor_of(query.from_user, chat_id), event, origin, update.update_id)
