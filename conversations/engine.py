"""The conversation engine: one entry point per update, free of any Telegram framework.

It owns the rules every flow shares: the main menu, /cancel, /help, /language, drafts that
expire after an idle time, and buttons from older screens (their ``rev`` no longer matches:
the user is told the menu is out of date and sees the current step, nothing changes).

Flows plug in by name. A command (``/services``) or an *entry* button (``Quản lý thuê bao`` on a
success message, ``Thanh toán lại`` on a payment notice) starts a flow afresh; entry buttons do
not depend on the draft, so they work on any message, and the flow re-checks who is pressing.
Every other button belongs to the current flow and must carry the current ``rev``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from conversations.flow import Flow, PicksUsers
from conversations.registration import FLOW as REGISTRATION
from conversations.registration import RegistrationFlow, RegistrationServices, Turn
from conversations.reply import Reply
from conversations.screens import Button, Delivery, Join, Msg, Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from domain.catalog import Catalog
from domain.errors import DomainError

LANGUAGES = ("vi", "en")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    draft_ttl: timedelta = timedelta(hours=24)


def main_menu(notice: Msg | Join | None = None) -> Screen:
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


#: buttons that work whatever the draft: they only navigate or start a flow afresh
GLOBAL_ACTIONS = frozenset({"menu", "lang", "cancel"})


class ConversationEngine:
    def __init__(
        self,
        *,
        catalog: Callable[[], Catalog],
        registration: RegistrationServices,
        settings: EngineSettings | None = None,
        flow: RegistrationFlow | None = None,
        flows: Mapping[str, Flow] | None = None,
        commands: Mapping[str, str] | None = None,
        entries: Mapping[str, str] | None = None,
    ) -> None:
        """``flows`` adds flows by name; ``commands`` maps a command to the flow it starts;
        ``entries`` maps an entry-button action to the flow it starts (with the button's arg)."""
        self._catalog = catalog
        self._registration = registration
        self._settings = settings or EngineSettings()
        self._flows: dict[str, Flow] = {REGISTRATION: flow or RegistrationFlow()}
        self._flows.update(flows or {})
        self._commands: dict[str, str] = {"services": REGISTRATION, **(commands or {})}
        self._entries: dict[str, str] = {"subs": "manage", **(entries or {})}

    async def handle(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        expired = self._expire(session, now)
        if expired and not (event.kind is EventKind.COMMAND and event.name in self._commands):
            session.rev += 1
            return Reply(
                screens=(main_menu(Msg("draft.expired")),),
                answer=Msg("draft.expired") if event.kind is EventKind.BUTTON else None,
            )
        if event.kind is EventKind.COMMAND:
            return await self._command(session, actor, event, now)
        if event.kind is EventKind.BUTTON:
            if event.name in GLOBAL_ACTIONS or event.name in self._entries:
                return await self._global(session, actor, event, now)
            if event.rev is None or event.rev != session.rev:
                return await self._stale(session, actor, now)
            return await self._button(session, actor, event, now)
        flow = self._flows.get(session.flow or "")
        if flow is None:
            return Reply(screens=(main_menu(Msg("menu.use_buttons")),), changed=False)
        turn = self._turn(session, actor, now)
        if event.kind is EventKind.USERS:
            if not isinstance(flow, PicksUsers) or event.request_id is None:
                screen = await flow.screen(turn)
                return Reply(
                    screens=(_with(screen, Delivery.NEW, Msg("reg.use_buttons")),), changed=False
                )
            await flow.users(turn, event.request_id, event.users)
        elif event.kind is EventKind.CONTACT:
            if not event.own_contact:
                screen = await flow.screen(turn)
                return Reply(
                    screens=(_with(screen, Delivery.NEW, Msg("contact.not_own")),), changed=False
                )
            await flow.contact(turn, event.phone, True)
        else:
            await flow.text(turn, event.text)
        return await self._after(session, turn, flow)

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
            services=self._registration,
            actor=actor,
        )

    async def _command(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        name = event.name
        if name in self._commands:
            return await self._start(session, actor, now, self._commands[name], event.arg)
        if name == "cancel":
            had_flow = session.flow is not None
            self._clear(session)
            key = "flow.cancelled" if had_flow else "flow.nothing_to_cancel"
            return Reply(screens=(main_menu(Msg(key)),))
        if name == "help":
            return await self._help(session, actor, now)
        if name == "language":
            if event.arg in LANGUAGES:
                session.lang = event.arg
                return Reply(screens=(main_menu(Msg("language.changed")),))
            return Reply(screens=(_new(language_menu()),), changed=False)
        # /start and anything unknown: the main menu (the current draft is dropped)
        self._clear(session)
        return Reply(screens=(main_menu(),))

    async def _global(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        action, arg = event.name, event.arg
        if action in self._entries:
            return await self._start(session, actor, now, self._entries[action], arg, edit=True)
        if action == "cancel":
            self._clear(session)
            return Reply(
                screens=(_edit(main_menu(Msg("flow.cancelled"))),), answer=Msg("flow.cancelled")
            )
        if action == "lang" and arg in LANGUAGES:
            session.lang = arg
            session.rev += 1
            return Reply(screens=(_edit(main_menu()),), answer=Msg("language.changed"))
        session.rev += 1
        if arg == "services":
            return await self._start(session, actor, now, REGISTRATION, "", edit=True)
        if arg == "manage":
            return Reply(screens=(manage_menu(),))
        if arg == "language":
            return Reply(screens=(language_menu(),))
        return Reply(screens=(_edit(main_menu()),))

    async def _button(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        flow = self._flows.get(session.flow or "")
        if flow is None:
            return await self._stale(session, actor, now)
        turn = self._turn(session, actor, now)
        await flow.button(turn, event.name, event.arg)
        return await self._after(session, turn, flow)

    async def _start(
        self,
        session: ChatSession,
        actor: Actor,
        now: datetime,
        name: str,
        arg: str,
        *,
        edit: bool = False,
    ) -> Reply:
        flow = self._flows.get(name)
        if flow is None:
            session.rev += 1
            return Reply(screens=(Screen(Msg("subs.unavailable"), delivery=Delivery.NEW),))
        session.flow = name
        session.draft = {}
        turn = self._turn(session, actor, now)
        await flow.start(turn, arg)
        reply = await self._after(session, turn, flow)
        if edit or not reply.screens:
            return reply
        first, *rest = reply.screens
        return Reply(
            screens=(_new(first), *rest),
            answer=reply.answer,
            alert=reply.alert,
            outgoing=reply.outgoing,
        )

    async def _after(self, session: ChatSession, turn: Turn, flow: Flow) -> Reply:
        """Finish a turn of a flow: bump the revision and draw."""
        session.rev += 1
        outgoing = tuple(turn.outgoing)
        if turn.done:
            self._clear(session)
            first = turn.extra[0] if turn.extra else main_menu(turn.notice)
            return Reply(
                screens=(first, *turn.extra[1:]),
                answer=turn.answer,
                alert=turn.alert,
                outgoing=outgoing,
            )
        screen = await flow.screen(turn)
        screen = _with(screen, turn.delivery, turn.notice or screen.notice)
        return Reply(
            screens=(screen, *turn.extra),
            answer=turn.answer,
            alert=turn.alert,
            outgoing=outgoing,
        )

    async def _stale(self, session: ChatSession, actor: Actor, now: datetime) -> Reply:
        """A button from an older screen: say so and show the current step again, as a new
        message (the old one may be far up the chat); the draft is not touched."""
        flow = self._flows.get(session.flow or "")
        if flow is not None:
            turn = self._turn(session, actor, now)
            try:
                screen = await flow.screen(turn)
            except DomainError:
                self._clear(session)
                return Reply(
                    screens=(main_menu(Msg("bot.stale_menu")),), answer=Msg("bot.stale_menu")
                )
            return Reply(screens=(_new(screen),), answer=Msg("bot.stale_menu"))
        return Reply(screens=(main_menu(),), answer=Msg("bot.stale_menu"))

    async def _help(self, session: ChatSession, actor: Actor, now: datetime) -> Reply:
        flow = self._flows.get(session.flow or "")
        if flow is not None:
            step = str(session.draft.get("s", "cat"))
            turn = self._turn(session, actor, now)
            screen = await flow.screen(turn)
            help_text = Join((Msg(f"help.step.{step}"), Msg("help.flow_common")))
            return Reply(screens=(_with(screen, Delivery.NEW, help_text),))
        return Reply(screens=(Screen(Msg("help.general"), delivery=Delivery.NEW),), changed=False)

    @staticmethod
    def _clear(session: ChatSession) -> None:
        session.flow = None
        session.draft = {}
        session.rev += 1


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
        document=screen.document,
    )
