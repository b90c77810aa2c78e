"""The conversation engine: one entry point per update, free of any Telegram framework.

It owns the rules every flow shares: the main menu, /cancel, /help, /language, drafts that
expire after an idle time, and buttons from older screens (their ``rev`` no longer matches:
the user is told the menu is out of date and sees the current step, nothing changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from conversations.registration import FLOW as REGISTRATION
from conversations.registration import RegistrationBackend, RegistrationFlow, Step, Turn
from conversations.reply import Reply
from conversations.screens import Button, Delivery, Join, Msg, Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from domain.catalog import Catalog
from domain.errors import DomainError, NotFound

LANGUAGES = ("vi", "en")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    draft_ttl: timedelta = timedelta(hours=24)


def main_menu(notice: Msg | None = None) -> Screen:
    return Screen(
        Msg("menu.welcome"),
        (
            (Button(Msg("btn.services"), action="menu", arg="services"),),
            (Button(Msg("btn.manage"), action="menu", arg="manage"),),
            (Button(Msg("btn.language"), action="menu", arg="language"),),
        ),
        delivery=Delivery.NEW,
        notice=notice,
    )


def manage_menu() -> Screen:
    return Screen(
        Msg("menu.manage"),
        (
            (Button(Msg("btn.manage_subscriptions"), action="subs"),),
            (Button(Msg("btn.back"), action="menu", arg="home"),),
        ),
    )


def language_menu() -> Screen:
    return Screen(
        Msg("language.prompt"),
        (
            (
                Button(Msg("btn.lang_vi"), action="lang", arg="vi"),
                Button(Msg("btn.lang_en"), action="lang", arg="en"),
            ),
        ),
    )


class ConversationEngine:
    def __init__(
        self,
        *,
        catalog: Callable[[], Catalog],
        registration: RegistrationBackend,
        settings: EngineSettings | None = None,
        flow: RegistrationFlow | None = None,
        subscriptions: SubscriptionsView | None = None,
    ) -> None:
        self._catalog = catalog
        self._backend = registration
        self._settings = settings or EngineSettings()
        self._flow = flow or RegistrationFlow()
        self._subscriptions = subscriptions

    async def handle(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        expired = self._expire(session, now)
        if expired and not (
            event.kind is EventKind.COMMAND and event.name in {"start", "services"}
        ):
            session.rev += 1
            return Reply(
                screens=(main_menu(Msg("draft.expired")),),
                answer=Msg("draft.expired") if event.kind is EventKind.BUTTON else None,
            )
        if event.kind is EventKind.COMMAND:
            return await self._command(session, actor, event, now)
        if event.kind is EventKind.BUTTON:
            if event.rev is None or event.rev != session.rev:
                return await self._stale(session, actor, now)
            return await self._button(session, actor, event, now)
        if session.flow != REGISTRATION:
            return Reply(screens=(main_menu(Msg("menu.use_buttons")),), changed=False)
        turn = self._turn(session, actor, now)
        if event.kind is EventKind.CONTACT:
            if not event.own_contact:
                return await self._redraw(session, turn, Msg("contact.not_own"), changed=False)
            await self._flow.contact(turn, event.phone, True)
        else:
            await self._flow.text(turn, event.text)
        return await self._after(session, turn)

    def _expire(self, session: ChatSession, now: datetime) -> bool:
        if (
            session.flow
            and session.updated_at
            and now - session.updated_at > self._settings.draft_ttl
        ):
            session.flow = None
            session.draft = {}
            return True
        return False

    def _turn(self, session: ChatSession, actor: Actor, now: datetime) -> Turn:
        return Turn(
            draft=session.draft,
            user_id=actor.user_id,
            chat_id=actor.chat_id,
            lang=session.lang,
            now=now,
            catalog=self._catalog(),
            backend=self._backend,
        )

    async def _command(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        name = event.name
        if name == "services":
            return await self._start_registration(session, actor, now, event.arg or None)
        if name == "cancel":
            had_flow = session.flow is not None
            self._clear(session)
            return Reply(
                screens=(
                    main_menu(Msg("flow.cancelled" if had_flow else "flow.nothing_to_cancel")),
                )
            )
        if name == "help":
            return await self._help(session, actor, now)
        if name == "language":
            if event.arg in LANGUAGES:
                session.lang = event.arg
                return Reply(screens=(main_menu(Msg("language.changed")),))
            return Reply(screens=(_new(language_menu()),), changed=False)
        if name == "subscriptions":
            return await self._subscriptions_screen(session, actor)
        # /start and anything unknown: the main menu (the current draft is dropped)
        self._clear(session)
        return Reply(screens=(main_menu(),))

    async def _button(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        action, arg = event.name, event.arg
        if action == "cancel":
            self._clear(session)
            return Reply(
                screens=(_edit(main_menu(Msg("flow.cancelled"))),), answer=Msg("flow.cancelled")
            )
        if action == "menu":
            session.rev += 1
            if arg == "services":
                return await self._start_registration(session, actor, now, None, edit=True)
            if arg == "manage":
                return Reply(screens=(manage_menu(),))
            if arg == "language":
                return Reply(screens=(language_menu(),))
            return Reply(screens=(_edit(main_menu()),))
        if action == "lang" and arg in LANGUAGES:
            session.lang = arg
            session.rev += 1
            return Reply(screens=(_edit(main_menu()),), answer=Msg("language.changed"))
        if action == "subs":
            return await self._subscriptions_screen(session, actor)
        if session.flow != REGISTRATION:
            return await self._stale(session, actor, now)
        turn = self._turn(session, actor, now)
        await self._flow.button(turn, action, arg)
        return await self._after(session, turn)

    async def _start_registration(
        self,
        session: ChatSession,
        actor: Actor,
        now: datetime,
        service: str | None,
        *,
        edit: bool = False,
    ) -> Reply:
        session.flow = REGISTRATION
        session.draft = {}
        turn = self._turn(session, actor, now)
        self._flow.start(turn, service)
        session.rev += 1
        screen = await self._flow.screen(turn)
        return Reply(screens=(screen if edit else _new(screen),))

    async def _after(self, session: ChatSession, turn: Turn) -> Reply:
        """Finish a turn of the registration flow: bump the revision and draw."""
        session.rev += 1
        if turn.done:
            self._clear(session)
            first = turn.extra[0] if turn.extra else main_menu()
            return Reply(screens=(first, *turn.extra[1:]), answer=turn.answer, alert=turn.alert)
        screen = await self._flow.screen(turn)
        screen = _with(screen, turn.delivery, turn.notice)
        return Reply(screens=(screen,), answer=turn.answer, alert=turn.alert)

    async def _redraw(
        self, session: ChatSession, turn: Turn, notice: Msg | Join, *, changed: bool
    ) -> Reply:
        screen = await self._flow.screen(turn)
        return Reply(screens=(_with(screen, Delivery.NEW, notice),), changed=changed)

    async def _stale(self, session: ChatSession, actor: Actor, now: datetime) -> Reply:
        """A button from an older screen: say so and show the current step again, as a new
        message (the old one may be far up the chat); the draft is not touched."""
        if session.flow == REGISTRATION:
            turn = self._turn(session, actor, now)
            try:
                screen = await self._flow.screen(turn)
            except DomainError:
                self._clear(session)
                return Reply(
                    screens=(main_menu(Msg("bot.stale_menu")),), answer=Msg("bot.stale_menu")
                )
            return Reply(screens=(_new(screen),), answer=Msg("bot.stale_menu"))
        return Reply(screens=(main_menu(),), answer=Msg("bot.stale_menu"))

    async def _help(self, session: ChatSession, actor: Actor, now: datetime) -> Reply:
        if session.flow == REGISTRATION:
            step = Step(session.draft.get("s", Step.CATALOG))
            turn = self._turn(session, actor, now)
            screen = await self._flow.screen(turn)
            help_text = Join((Msg(f"help.step.{step.value}"), Msg("help.flow_common")))
            return Reply(screens=(_with(screen, Delivery.NEW, help_text),), changed=True)
        return Reply(screens=(Screen(Msg("help.general"), delivery=Delivery.NEW),), changed=False)

    async def _subscriptions_screen(self, session: ChatSession, actor: Actor) -> Reply:
        session.rev += 1
        if self._subscriptions is None:
            return Reply(screens=(Screen(Msg("subs.unavailable"), delivery=Delivery.NEW),))
        screen = await self._subscriptions.list_screen(actor)
        return Reply(screens=(screen,))

    @staticmethod
    def _clear(session: ChatSession) -> None:
        session.flow = None
        session.draft = {}
        session.rev += 1


class SubscriptionsView:
    """The subscription list screen (Quản lý thuê bao); the full management flow is its own
    module. Subclassed by the bot's wiring with a data source."""

    async def list_screen(self, actor: Actor) -> Screen:
        raise NotFound("subscriptions")


def _new(screen: Screen) -> Screen:
    return _with(screen, Delivery.NEW, screen.notice)


def _edit(screen: Screen) -> Screen:
    return _with(screen, Delivery.EDIT, screen.notice)


def _with(screen: Screen, delivery: Delivery, notice: Msg | Join | None) -> Screen:
    return Screen(
        text=screen.text,
        buttons=screen.buttons,
        reply_keyboard=screen.reply_keyboard,
        delivery=delivery,
        qr=screen.qr,
        notice=notice,
        final=screen.final,
    )
