"""What the accounts flows share: their names and entry points, the use cases they call, the
helpers that draw the same pieces, and :class:`StepsFlow`, the dispatcher of a flow whose
steps are declared in a table."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from conversations.engine import main_menu
from conversations.kit import retry_notice, unexpected
from conversations.screens import Delivery, Join, Msg, Param, Plain, Screen
from conversations.turn import Turn
from domain.errors import InvalidInput
from domain.model import Role
from domain.usecases.accounts import (
    AcceptInvitationRequest,
    BusinessView,
    CreateBusinessRequest,
    CreatedBusiness,
    CreateInvitationRequest,
    DecideJoinRequestRequest,
    Greeting,
    InvitationCreated,
    InvitationOutcome,
    JoinDecision,
    JoinRequested,
    Person,
    Recipients,
    RequestToJoinRequest,
    SignUpRequest,
    SignUpResult,
)
from domain.usecases.admin import GrantRoleResult

START_FLOW: Final = "start"
JOIN_FLOW: Final = "join"
INVITE_FLOW: Final = "invite"
GRANT_FLOW: Final = "grant"
#: the entry button of a join request (``a<id>`` accept, ``r<id>`` refuse)
JOIN_ACTION: Final = "jr"
#: ``/start inv_<token>``: an invitation's deep link
INVITE_PREFIX: Final = "inv_"
#: the entry button of an invitation sent to the invitee's chat (arg ``inv_<token>``: the
#: same as the deep link's, so ``start`` takes both)
INVITED_ACTION: Final = "ivj"

COMMANDS: Final = {"start": START_FLOW, "invite": INVITE_FLOW, "grant": GRANT_FLOW}
ENTRIES: Final = {JOIN_ACTION: JOIN_FLOW, INVITED_ACTION: START_FLOW}

MAX_QUERY: Final = 100
#: a business name longer than this is cut where it is kept in a draft
NAME_SHOWN: Final = 120
DEFAULT_LANG: Final = "vi"


class AccountAction(enum.StrEnum):
    """The actions of the accounts flows' own buttons."""

    BACK = "back"
    JOIN = "join"
    CREATE = "create"
    ENTERPRISE = "ent"
    ROLE = "role"
    PICK_BUSINESS = "bz"
    NEW_BUSINESS = "bnew"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class InvitationLink:
    """A created invitation and its deep link ``https://t.me/<bot>?start=inv_<token>``."""

    invitation: InvitationCreated
    url: str


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={INVITE_PREFIX}{token}"


Req = TypeVar("Req", contravariant=True)
Res = TypeVar("Res", covariant=True)


class Ask(Protocol[Req, Res]):
    """One use case of ``domain.usecases.accounts``: a request in, an answer out. Every
    permission is checked there (``PermissionDenied``, ``NotFound``)."""

    async def __call__(self, req: Req, /) -> Res: ...


class Search(Protocol):
    """Businesses by tax code or name; staff only (``SearchBusinesses``)."""

    async def __call__(self, actor_id: int, query: str, /) -> list[BusinessView]: ...


class Open(Protocol):
    """One business, for staff (``OpenBusiness``; ``NotFound`` otherwise)."""

    async def __call__(self, actor_id: int, enterprise_id: int, /) -> BusinessView: ...


class Owners(Protocol):
    """A business's owners who use the bot (``BusinessRecipients``)."""

    async def __call__(self, enterprise_id: int, exclude: Iterable[int] = (), /) -> Recipients: ...


class Grant(Protocol):
    """``/grant`` for admins (``GrantRoleByAdmin``; ``PermissionDenied``, ``NotFound``)."""

    async def __call__(
        self, actor_id: int, user_id: int, role: str, tax_code: str | None = None, /
    ) -> GrantRoleResult: ...


@dataclass(frozen=True, slots=True)
class AccountsServices:
    """The use cases the accounts flows call, each through its role, built once by the
    composition root; ``bot_username`` names the bot in invitation links."""

    greet: Ask[Person, Greeting]
    find_by_tax_code: Ask[str, BusinessView | None]
    sign_up: Ask[SignUpRequest, SignUpResult]
    request_join: Ask[RequestToJoinRequest, JoinRequested]
    decide_join: Ask[DecideJoinRequestRequest, JoinDecision]
    invite: Ask[CreateInvitationRequest, InvitationCreated]
    accept_invitation: Ask[AcceptInvitationRequest, InvitationOutcome]
    search: Search
    open_business: Open
    create_business: Ask[CreateBusinessRequest, CreatedBusiness]
    owners: Owners
    grant: Grant
    bot_username: Callable[[], Awaitable[str]]


def person(t: Turn) -> Person:
    actor = t.actor
    if actor is None:
        return Person(user_id=t.user_id, first_name=str(t.user_id), locale=t.lang)
    return Person(
        user_id=t.user_id,
        first_name=actor.full_name or str(t.user_id),
        username=actor.username,
        locale=t.lang,
    )


def business_params(b: BusinessView) -> dict[str, Param]:
    return {"business": Plain(b.name), "tax_code": Plain(b.tax_code)}


def role_msg(role: Role | str) -> Msg:
    return Msg(f"acc.role.{Role(role).value}")


def finish(t: Turn, message: Msg | None = None) -> None:
    """End the flow on the main menu, with ``message`` above it (in the message itself, not
    as a toast: it is the outcome the user must see)."""
    t.done = True
    if message is None:
        return
    menu = main_menu()
    t.extra.append(
        Screen(Join((message, menu.text), sep="\n\n"), menu.buttons, delivery=Delivery.NEW)
    )


def go(t: Turn, step: str) -> None:
    t.draft["s"] = step
    t.draft.pop("fx", None)


def refuse_text(t: Turn, exc: InvalidInput) -> None:
    """The rejection of a typed value, with an example; after a few, a way out."""
    failures = int(t.draft.get("fx", 0)) + 1
    t.draft["fx"] = failures
    t.notice = retry_notice(exc, failures)


Handler = Callable[[Turn, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AccountStep:
    """One step as data: its screen, a handler per action (called with the button's arg),
    a handler of typed text (stripped), and where **Quay lại** goes (a step, or a handler)."""

    draw: Callable[[Turn], Awaitable[Screen]]
    on: Mapping[AccountAction, Handler] = field(default_factory=dict)
    text: Handler | None = None
    back: str | Callable[[Turn], Awaitable[None]] | None = None


class StepsFlow:
    """A flow whose steps are the table :attr:`steps` (built by the subclass). A step not in
    the table (the flow's own name while it ends) has no buttons and takes no text."""

    steps: Mapping[str, AccountStep]

    def _step(self, t: Turn) -> AccountStep | None:
        return self.steps.get(str(t.draft.get("s", "")))

    async def screen(self, t: Turn) -> Screen:
        spec = self._step(t)
        if spec is None:
            return Screen(Msg("menu.use_buttons"), delivery=Delivery.NEW)
        return await spec.draw(t)

    async def button(self, t: Turn, action: str, arg: str) -> None:
        spec = self._step(t)
        if action == AccountAction.BACK:
            if spec is None or spec.back is None:
                return
            if isinstance(spec.back, str):
                go(t, spec.back)
            else:
                await spec.back(t)
            return
        known = action in _ACTIONS and spec is not None
        handler = spec.on.get(AccountAction(action)) if known and spec is not None else None
        if handler is None:
            raise unexpected()
        await handler(t, arg)

    async def text(self, t: Turn, text: str) -> None:
        t.delivery = Delivery.NEW
        spec = self._step(t)
        if spec is None or spec.text is None:
            t.notice = Msg("reg.use_buttons")
            return
        try:
            await spec.text(t, text.strip())
        except InvalidInput as exc:
            refuse_text(t, exc)

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        t.notice = Msg("reg.use_buttons")


_ACTIONS: Final = frozenset(a.value for a in AccountAction)
