"""Accounts in the chat: sign-up at ``/start``, joining a business, invitations, grants, and
the business a staff member acts for.

Flows (the engine starts them by name; see :data:`COMMANDS` and :data:`ENTRIES`):

- ``start`` (``/start`` and ``/start inv_<token>``): a known user gets the main menu; a deep
  link with an invitation joins its business; a new user signs up — their own phone through
  Telegram's contact button, the tax code (validated), then either the company name, address
  and invoice e-mail (→ the business is created, the user owns it) or, when the tax code is
  taken, a request to join that its owners answer.
- ``join`` (entry button ``jr``, arg ``a<id>``/``r<id>``): an owner's **Chấp nhận** /
  **Từ chối** on a join request. Entry buttons can be forged, so the use case decides who may.
- ``invite`` (``/invite``): an owner invites an employee; a staff member picks or creates a
  business and invites its first owner (or an employee). The result is a one-time deep link.
- ``grant`` (``/grant TELEGRAM_ID ROLE [TAX_CODE]``): an admin grants a role.

:class:`StaffBusinessPicker` is the business step of a staff member's registration (and of
their invitations): search by tax code or name, or create the business. :class:`AgentOrderNotice`
tells a business's owners when a staff member registered for it (the payment link for ON
services, the pending cash order for OS) and offers the staff member to confirm the cash.

Permissions are never decided here: every backend call runs a use case that checks them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

from conversations.engine import main_menu
from conversations.flow import Flow
from conversations.payment import CASH_ACTION
from conversations.registration import PICKED_BY_STAFF
from conversations.screens import (
    Button,
    Day,
    Delivery,
    Join,
    Msg,
    Param,
    Plain,
    ReplyKeyboard,
    Screen,
)
from conversations.turn import Turn
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import Role
from domain.registration import OrderOutcome, OrderOutcomeKind
from domain.usecases.accounts import (
    BusinessView,
    CreateBusinessRequest,
    CreatedBusiness,
    Greeting,
    InvitationCreated,
    InvitationOutcome,
    InvitationStatus,
    JoinDecision,
    JoinDecisionStatus,
    JoinRequested,
    JoinStatus,
    Person,
    Recipients,
    RequestToJoinRequest,
    SignUpRequest,
    SignUpResult,
    SignUpStatus,
)
from domain.usecases.admin import GrantRoleResult
from domain.validation import (
    display_phone,
    is_valid_tax_code,
    normalize_tax_code,
    validate_address,
    validate_company_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

__all__ = [
    "COMMANDS",
    "ENTRIES",
    "GRANT_FLOW",
    "INVITE_FLOW",
    "INVITE_PREFIX",
    "JOIN_ACTION",
    "JOIN_FLOW",
    "START_FLOW",
    "AccountsBackend",
    "AgentOrderNotice",
    "GrantFlow",
    "InvitationLink",
    "InviteFlow",
    "InviteStep",
    "JoinDecisionFlow",
    "PickStep",
    "SignUpStep",
    "StaffBusinessPicker",
    "StartFlow",
    "account_flows",
    "invitation_screen",
    "invite_link",
]

START_FLOW = "start"
JOIN_FLOW = "join"
INVITE_FLOW = "invite"
GRANT_FLOW = "grant"
#: the entry action of **Chấp nhận** / **Từ chối** (arg ``a<request id>`` / ``r<request id>``)
JOIN_ACTION = "jr"
#: ``/start`` parameters that carry an invitation token
INVITE_PREFIX = "inv_"
#: the commands and entry buttons these flows answer (for the engine's mappings)
COMMANDS = {"start": START_FLOW, "invite": INVITE_FLOW, "grant": GRANT_FLOW}
ENTRIES = {JOIN_ACTION: JOIN_FLOW}

MAX_FAILURES = 3
MAX_QUERY = 100
#: a business name kept in the draft only to be shown again, cut so the draft stays small
NAME_SHOWN = 120
DEFAULT_LANG = "vi"


@dataclass(frozen=True, slots=True)
class InvitationLink:
    """A created invitation and its deep link ``https://t.me/<bot>?start=inv_<token>``."""

    invitation: InvitationCreated
    url: str


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={INVITE_PREFIX}{token}"


class AccountsBackend(Protocol):
    """The accounts use cases as the conversations call them (``bot.accounts_backend``).
    Recipients come back with their language filled in (the default when unknown)."""

    async def greet(self, person: Person) -> Greeting: ...

    async def find_by_tax_code(self, tax_code: str) -> BusinessView | None: ...

    async def sign_up(self, request: SignUpRequest) -> SignUpResult: ...

    async def request_join(self, request: RequestToJoinRequest) -> JoinRequested: ...

    async def decide_join(self, actor_id: int, request_id: int, accept: bool) -> JoinDecision:
        """Raises ``NotFound`` for an unknown request and for one the actor may not decide."""
        ...

    async def invite(self, actor_id: int, enterprise_id: int, role: Role) -> InvitationLink:
        """Raises ``PermissionDenied`` and ``NotFound``."""
        ...

    async def accept_invitation(self, person: Person, token: str) -> InvitationOutcome: ...

    async def search(self, actor_id: int, query: str) -> list[BusinessView]:
        """Staff only (``PermissionDenied``)."""
        ...

    async def open_business(self, actor_id: int, enterprise_id: int) -> BusinessView:
        """Staff only; ``NotFound`` for an unknown business or a non-staff actor."""
        ...

    async def create_business(self, request: CreateBusinessRequest) -> CreatedBusiness: ...

    async def owners(self, enterprise_id: int, exclude: tuple[int, ...] = ()) -> Recipients: ...

    async def grant(self, actor_id: int, arg: str) -> GrantRoleResult:
        """``arg`` as typed after ``/grant``; raises ``InvalidInput``, ``PermissionDenied``,
        ``NotFound``."""
        ...


# --- helpers ---------------------------------------------------------------------------------


def _person(t: Turn) -> Person:
    actor = t.actor
    if actor is None:
        return Person(user_id=t.user_id, first_name=str(t.user_id), locale=t.lang)
    return Person(
        user_id=t.user_id,
        first_name=actor.full_name or str(t.user_id),
        username=actor.username,
        locale=t.lang,
    )


def _nav(*, back: bool = True) -> tuple[Button, ...]:
    row = [Button(Msg("btn.back"), action="back")] if back else []
    row.append(Button(Msg("btn.cancel"), action="cancel"))
    return tuple(row)


def _notice(text: Msg | Join, *rows: tuple[Button, ...]) -> Screen:
    return Screen(text, tuple(rows), delivery=Delivery.NEW, final=True)


def _business(b: BusinessView) -> dict[str, Param]:
    return {"business": Plain(b.name), "tax_code": Plain(b.tax_code)}


def _role(role: Role | str) -> Msg:
    return Msg(f"acc.role.{Role(role).value}")


def _unexpected() -> InvalidInput:
    return InvalidInput("unexpected", field="button", reason="button.unexpected")


def _retry_notice(t: Turn, exc: InvalidInput) -> None:
    """The rejection of a typed value, with an example; after 3 a way out."""
    failures = int(t.draft.get("fx", 0)) + 1
    t.draft["fx"] = failures
    t.notice = Msg(
        "invalid.retry",
        {
            "reason": Msg(
                f"invalid.{exc.params.get('reason', 'generic')}",
                {"max_len": int(exc.params.get("max_len", 0))},
            ),
            "example": Plain(str(exc.params.get("example", ""))),
        },
    )
    if failures >= MAX_FAILURES:
        t.notice = Msg("invalid.too_many", {"first": t.notice})


def _finish(t: Turn, message: Msg | None = None) -> None:
    """End the flow on the main menu, with ``message`` above it (in the message itself, not
    as a toast: it is the outcome the user must see)."""
    t.done = True
    if message is None:
        return
    menu = main_menu()
    t.extra.append(
        Screen(Join((message, menu.text), sep="\n\n"), menu.buttons, delivery=Delivery.NEW)
    )


def _go(t: Turn, step: str) -> None:
    t.draft["s"] = step
    t.draft.pop("fx", None)


class _Steps:
    """Dispatch by step name: ``_draw_<step>`` / ``_on_<step>`` / ``_text_<step>``."""

    async def screen(self, t: Turn) -> Screen:
        draw = getattr(self, f"_draw_{t.draft.get('s', '')}", None)
        if draw is None:
            return Screen(Msg("menu.use_buttons"), delivery=Delivery.NEW)
        result: Screen = await draw(t)
        return result

    async def button(self, t: Turn, action: str, arg: str) -> None:
        if action == "back":
            await self._back(t)
            return
        handler = getattr(self, f"_on_{t.draft.get('s', '')}", None)
        if handler is None:
            raise _unexpected()
        await handler(t, action, arg)

    async def text(self, t: Turn, text: str) -> None:
        t.delivery = Delivery.NEW
        handler = getattr(self, f"_text_{t.draft.get('s', '')}", None)
        if handler is None:
            t.notice = Msg("reg.use_buttons")
            return
        try:
            await handler(t, text.strip())
        except InvalidInput as exc:
            _retry_notice(t, exc)

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        t.notice = Msg("reg.use_buttons")

    async def _back(self, t: Turn) -> None:
        previous = self.PREVIOUS.get(str(t.draft.get("s", "")))
        if previous is not None:
            _go(t, previous)

    PREVIOUS: ClassVar[Mapping[str, str]] = {}


# --- the business a staff member acts for ----------------------------------------------------


class PickStep(enum.StrEnum):
    QUERY = "q"
    TAX = "nt"
    NAME = "nn"
    ADDRESS = "na"
    EMAIL = "ne"


_PICK_BACK = {
    PickStep.TAX: PickStep.QUERY,
    PickStep.NAME: PickStep.TAX,
    PickStep.ADDRESS: PickStep.NAME,
    PickStep.EMAIL: PickStep.ADDRESS,
}


class StaffBusinessPicker:
    """Find a business by tax code or name, or create it (then ``draft["e"]`` names it).

    Draft: ``bz`` the sub-step, ``bq`` the last search, ``bn`` the new business's fields.
    Used as the registration's :attr:`~conversations.registration.Step.BUSINESS` step and as
    the first step of a staff member's invitation; ``title`` says which."""

    def __init__(self, backend: AccountsBackend, *, title: str = "acc.pick.title_register"):
        self._backend = backend
        self._title = title

    @staticmethod
    def _sub(t: Turn) -> PickStep:
        return PickStep(t.draft.get("bz", PickStep.QUERY))

    def begin(self, t: Turn) -> None:
        for key in ("bz", "bq", "bn"):
            t.draft.pop(key, None)
        t.draft["bz"] = PickStep.QUERY.value

    async def screen(self, t: Turn) -> Screen:
        sub = self._sub(t)
        if sub is PickStep.QUERY:
            return await self._search_screen(t)
        new: dict[str, str] = t.draft.get("bn", {})
        field = {"nt": "tax", "nn": "name", "na": "addr", "ne": "email"}[sub.value]
        text = Join(
            (
                Msg(self._title),
                Msg(
                    "acc.pick.ask_new",
                    {
                        "field": Msg(f"acc.pick.field.{field}"),
                        "example": Msg(f"acc.pick.example.{field}"),
                        "tax_code": Plain(new.get("tax", "—")),
                    },
                ),
            )
        )
        return Screen(text, (_nav(),))

    async def _search_screen(self, t: Turn) -> Screen:
        query = str(t.draft.get("bq", ""))
        lines: list[Param] = [Msg(self._title), Msg("acc.pick.ask_query")]
        rows: list[tuple[Button, ...]] = []
        if query:
            found = await self._backend.search(t.user_id, query)
            if found:
                lines.append(Msg("acc.pick.results", {"query": Plain(query)}))
                rows = [
                    (Button(Plain(f"{b.name} ({b.tax_code})"), action="bz", arg=str(b.id)),)
                    for b in found
                ]
            else:
                lines.append(Msg("acc.pick.no_results", {"query": Plain(query)}))
        rows.append((Button(Msg("acc.btn.new_business"), action="bnew"),))
        return Screen(Join(tuple(lines)), (*rows, _nav()))

    async def button(self, t: Turn, action: str, arg: str) -> bool:
        if action == "bz" and arg.isdigit():
            business = await self._backend.open_business(t.user_id, int(arg))
            self._chosen(t, business, "acc.pick.chosen")
            return True
        if action == "bnew":
            query = normalize_tax_code(str(t.draft.get("bq", "")))
            if is_valid_tax_code(query):
                t.draft["bn"] = {"tax": validate_tax_code(query)}
                t.draft["bz"] = PickStep.NAME.value
            else:
                t.draft["bn"] = {}
                t.draft["bz"] = PickStep.TAX.value
            return False
        raise _unexpected()

    async def text(self, t: Turn, text: str) -> bool:
        sub = self._sub(t)
        value = text.strip()
        new: dict[str, str] = dict(t.draft.get("bn", {}))
        if sub is PickStep.QUERY:
            if len(value) < 2:
                raise InvalidInput("query", field="query", reason="search.short", example="0100")
            t.draft["bq"] = value[:MAX_QUERY]
            return False
        if sub is PickStep.TAX:
            code = validate_tax_code(value)
            existing = await self._backend.find_by_tax_code(code)
            if existing is not None:
                self._chosen(t, existing, "acc.pick.exists_chosen")
                return True
            new["tax"] = code
            t.draft["bz"] = PickStep.NAME.value
        elif sub is PickStep.NAME:
            new["name"] = validate_company_name(value)
            t.draft["bz"] = PickStep.ADDRESS.value
        elif sub is PickStep.ADDRESS:
            new["addr"] = validate_address(value)
            t.draft["bz"] = PickStep.EMAIL.value
        else:
            created = await self._backend.create_business(
                CreateBusinessRequest(
                    actor_id=t.user_id,
                    tax_code=new.get("tax", ""),
                    name=new.get("name", ""),
                    address=new.get("addr", ""),
                    email=validate_email(value),
                )
            )
            key = "acc.pick.created" if created.created else "acc.pick.exists_chosen"
            self._chosen(t, created.business, key)
            return True
        t.draft["bn"] = new
        return False

    @staticmethod
    def _chosen(t: Turn, business: BusinessView, key: str) -> None:
        for k in ("bz", "bq", "bn"):
            t.draft.pop(k, None)
        t.draft["e"] = business.id
        t.notice = Msg(key, _business(business))

    def back(self, t: Turn) -> bool:
        previous = _PICK_BACK.get(self._sub(t))
        if previous is None:
            return False
        t.draft["bz"] = previous.value
        return True


# --- /start: known users, invitations, sign-up -----------------------------------------------


class SignUpStep(enum.StrEnum):
    PHONE = "su_phone"
    TAX = "su_tax"
    JOIN = "su_join"
    NAME = "su_name"
    ADDRESS = "su_addr"
    EMAIL = "su_email"
    SUMMARY = "su_sum"


class StartFlow(_Steps):
    """``/start`` (see the module doc). Draft: ``ph`` phone (E.164, from the user's own
    contact), ``tx`` tax code, ``nm`` name, ``ad`` address, ``em`` e-mail; for a taken tax code
    ``jb``/``jn``: the business's id and name."""

    PREVIOUS: ClassVar[Mapping[str, str]] = {
        SignUpStep.TAX: SignUpStep.PHONE,
        SignUpStep.JOIN: SignUpStep.TAX,
        SignUpStep.NAME: SignUpStep.TAX,
        SignUpStep.ADDRESS: SignUpStep.NAME,
        SignUpStep.EMAIL: SignUpStep.ADDRESS,
        SignUpStep.SUMMARY: SignUpStep.EMAIL,
    }

    def __init__(self, backend: AccountsBackend) -> None:
        self._backend = backend

    async def start(self, t: Turn, arg: str) -> None:
        t.draft.clear()
        _go(t, START_FLOW)
        arg = arg.strip()
        if arg.startswith(INVITE_PREFIX):
            await self._invitation(t, arg[len(INVITE_PREFIX) :])
            return
        greeting = await self._backend.greet(_person(t))
        if greeting.known:
            t.done = True
            return
        if greeting.pending:
            names = ", ".join(b.name for b in greeting.pending)
            _finish(t, Msg("acc.join_waiting", {"business": Plain(names)}))
            return
        _go(t, SignUpStep.PHONE)

    async def _invitation(self, t: Turn, token: str) -> None:
        outcome = await self._backend.accept_invitation(_person(t), token)
        _finish(t, _invitation_notice(outcome))

    # phone: the user's own, through the contact button

    async def _draw_su_phone(self, t: Turn) -> Screen:
        return Screen(
            Msg("acc.signup_phone"),
            (_nav(back=False),),
            reply_keyboard=ReplyKeyboard(share_contact=True),
            delivery=Delivery.NEW,
        )

    async def _text_su_phone(self, t: Turn, text: str) -> None:
        t.notice = Msg("acc.phone_use_button")

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        if t.draft.get("s") != SignUpStep.PHONE:
            t.notice = Msg("reg.use_buttons")
            return
        if not own:
            t.notice = Msg("contact.not_own")
            return
        try:
            t.draft["ph"] = validate_phone(phone)
        except InvalidInput as exc:
            _retry_notice(t, exc)
            return
        _go(t, SignUpStep.TAX)

    # tax code: a new business, or one to ask to join

    async def _draw_su_tax(self, t: Turn) -> Screen:
        return Screen(
            Msg("acc.signup_tax", {"phone": Plain(display_phone(str(t.draft.get("ph", ""))))}),
            (_nav(),),
        )

    async def _text_su_tax(self, t: Turn, text: str) -> None:
        code = validate_tax_code(text)
        existing = await self._backend.find_by_tax_code(code)
        t.draft["tx"] = code
        if existing is not None:
            t.draft["jb"], t.draft["jn"] = existing.id, existing.name[:NAME_SHOWN]
            _go(t, SignUpStep.JOIN)
        else:
            t.draft.pop("jb", None)
            t.draft.pop("jn", None)
            _go(t, SignUpStep.NAME)

    async def _draw_su_join(self, t: Turn) -> Screen:
        return Screen(
            Msg(
                "acc.signup_exists",
                {"business": Plain(str(t.draft.get("jn", ""))), "tax_code": Plain(t.draft["tx"])},
            ),
            ((Button(Msg("acc.btn.ask_to_join"), action="join"),), _nav()),
        )

    async def _on_su_join(self, t: Turn, action: str, arg: str) -> None:
        if action != "join":
            raise _unexpected()
        result = await self._backend.request_join(
            RequestToJoinRequest(
                person=_person(t),
                phone=str(t.draft.get("ph", "")),
                enterprise_id=int(t.draft["jb"]),
            )
        )
        params = _business(result.business)
        if result.status is JoinStatus.MEMBER:
            _finish(t, Msg("acc.already_member", params))
            return
        if result.status is JoinStatus.PENDING:
            _finish(t, Msg("acc.join_already_pending", params))
            return
        key = "acc.join_sent" if result.owners else "acc.join_sent_no_owner"
        _finish(t, Msg(key, params))

    # the new business

    async def _draw_su_name(self, t: Turn) -> Screen:
        return Screen(Msg("acc.signup_name", {"tax_code": Plain(t.draft["tx"])}), (_nav(),))

    async def _text_su_name(self, t: Turn, text: str) -> None:
        t.draft["nm"] = validate_company_name(text)
        _go(t, SignUpStep.ADDRESS)

    async def _draw_su_addr(self, t: Turn) -> Screen:
        return Screen(Msg("acc.signup_address"), (_nav(),))

    async def _text_su_addr(self, t: Turn, text: str) -> None:
        t.draft["ad"] = validate_address(text)
        _go(t, SignUpStep.EMAIL)

    async def _draw_su_email(self, t: Turn) -> Screen:
        return Screen(Msg("acc.signup_email"), (_nav(),))

    async def _text_su_email(self, t: Turn, text: str) -> None:
        t.draft["em"] = validate_email(text)
        _go(t, SignUpStep.SUMMARY)

    async def _draw_su_sum(self, t: Turn) -> Screen:
        d = t.draft
        return Screen(
            Msg(
                "acc.signup_summary",
                {
                    "business": Plain(d["nm"]),
                    "tax_code": Plain(d["tx"]),
                    "address": Plain(d["ad"]),
                    "email": Plain(d["em"]),
                    "phone": Plain(display_phone(d["ph"])),
                },
            ),
            ((Button(Msg("acc.btn.create_business"), action="create"),), _nav()),
        )

    async def _on_su_sum(self, t: Turn, action: str, arg: str) -> None:
        if action != "create":
            raise _unexpected()
        d = t.draft
        result = await self._backend.sign_up(
            SignUpRequest(
                person=_person(t),
                phone=d["ph"],
                tax_code=d["tx"],
                name=d["nm"],
                address=d["ad"],
                email=d["em"],
            )
        )
        if result.status is SignUpStatus.EXISTS:
            d["jb"], d["jn"] = result.business.id, result.business.name[:NAME_SHOWN]
            t.notice = Msg("acc.taken_meanwhile", _business(result.business))
            _go(t, SignUpStep.JOIN)
            return
        _finish(t, Msg("acc.signed_up", _business(result.business)))


def _invitation_notice(outcome: InvitationOutcome) -> Msg:
    if outcome.status is InvitationStatus.JOINED or (
        outcome.status is InvitationStatus.ALREADY_MEMBER
    ):
        assert outcome.business is not None and outcome.role is not None
        return Msg(
            f"acc.invitation_{outcome.status.value}",
            {"role": _role(outcome.role), **_business(outcome.business)},
        )
    return Msg(f"acc.invitation_{outcome.status.value}")


def join_request_screen(result: JoinRequested) -> Screen:
    """What a business's owners get: who asks, and **Chấp nhận** / **Từ chối** (entry
    buttons: they work on this message whatever the owner's conversation is doing)."""
    request = str(result.request_id)
    return Screen(
        Msg(
            "acc.join_ask",
            {
                "name": Plain(result.requester_name),
                "phone": Plain(display_phone(result.requester_phone)),
                **_business(result.business),
            },
        ),
        (
            (
                Button(Msg("acc.btn.accept"), action=JOIN_ACTION, arg=f"a{request}"),
                Button(Msg("acc.btn.refuse"), action=JOIN_ACTION, arg=f"r{request}"),
            ),
        ),
        delivery=Delivery.NEW,
    )


# --- Chấp nhận / Từ chối ----------------------------------------------------------------------


class _OneTurn:
    """A flow that ends in ``start``; its other entry points only answer stray events."""

    async def screen(self, t: Turn) -> Screen:
        return Screen(Msg("menu.use_buttons"), delivery=Delivery.NEW)

    async def button(self, t: Turn, action: str, arg: str) -> None:
        raise _unexpected()

    async def text(self, t: Turn, text: str) -> None:
        t.done = True

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.done = True


class JoinDecisionFlow(_OneTurn):
    """An owner's answer to a join request. A forged, unknown or foreign request id gets the
    same reply as any other that cannot be answered: nothing about it is shown."""

    def __init__(self, backend: AccountsBackend) -> None:
        self._backend = backend

    async def start(self, t: Turn, arg: str) -> None:
        _go(t, JOIN_FLOW)
        t.done = True
        verb, number = arg[:1], arg[1:]
        try:
            if verb not in ("a", "r") or not number.isdigit() or len(number) > 18:
                raise NotFound("bad join request id", field="join_request")
            decision = await self._backend.decide_join(t.user_id, int(number), verb == "a")
        except (NotFound, PermissionDenied):
            t.extra.append(_notice(Msg("acc.join_unavailable")))
            return
        params = {"name": Plain(decision.requester_name), **_business(decision.business)}
        if decision.status is JoinDecisionStatus.ALREADY_DECIDED:
            status = Msg(f"acc.join_status.{decision.decided.value.lower()}")
            t.extra.append(_notice(Msg("acc.join_already_decided", {**params, "status": status})))
            return
        accepted = decision.status is JoinDecisionStatus.ACCEPTED
        t.extra.append(
            _notice(Msg("acc.join_accepted" if accepted else "acc.join_refused", params))
        )


# --- /invite ---------------------------------------------------------------------------------


class InviteStep(enum.StrEnum):
    PICK = "iv_pick"  # an owner of several businesses chooses one
    BUSINESS = "iv_biz"  # staff find or create the business
    ROLE = "iv_role"  # staff choose owner or member


class InviteFlow(_Steps):
    """``/invite`` (see the module doc). Draft: ``e`` the business; staff: the picker's keys."""

    PREVIOUS: ClassVar[Mapping[str, str]] = {InviteStep.ROLE: InviteStep.BUSINESS}

    def __init__(self, backend: AccountsBackend) -> None:
        self._backend = backend
        self._picker = StaffBusinessPicker(backend, title="acc.pick.title_invite")

    async def start(self, t: Turn, arg: str) -> None:
        t.draft.clear()
        access = await t.backend.access(t.user_id)
        if access.is_staff:
            _go(t, InviteStep.BUSINESS)
            self._picker.begin(t)
            return
        owned = access.owned
        if len(owned) == 1:
            await self._create(t, owned[0].id, Role.MEMBER)
        elif owned:
            _go(t, InviteStep.PICK)
        else:
            _go(t, INVITE_FLOW)
            _finish(t, Msg("acc.invite_not_allowed"))

    async def _create(self, t: Turn, enterprise_id: int, role: Role) -> None:
        try:
            link = await self._backend.invite(t.user_id, enterprise_id, role)
        except (PermissionDenied, NotFound):
            _finish(t, Msg("acc.invite_refused"))
            return
        t.done = True
        t.extra.append(invitation_screen(link))

    async def _draw_iv_pick(self, t: Turn) -> Screen:
        access = await t.backend.access(t.user_id)
        rows = tuple(
            (Button(Plain(f"{e.name} ({e.tax_code})"), action="ent", arg=str(e.id)),)
            for e in access.owned
        )
        return Screen(Msg("acc.invite_pick"), (*rows, _nav(back=False)))

    async def _on_iv_pick(self, t: Turn, action: str, arg: str) -> None:
        if action != "ent" or not arg.isdigit():
            raise _unexpected()
        await self._create(t, int(arg), Role.MEMBER)

    async def _draw_iv_biz(self, t: Turn) -> Screen:
        return await self._picker.screen(t)

    async def _on_iv_biz(self, t: Turn, action: str, arg: str) -> None:
        if await self._picker.button(t, action, arg):
            _go(t, InviteStep.ROLE)

    async def _text_iv_biz(self, t: Turn, text: str) -> None:
        if await self._picker.text(t, text):
            _go(t, InviteStep.ROLE)

    async def _back(self, t: Turn) -> None:
        if t.draft.get("s") == InviteStep.BUSINESS:
            self._picker.back(t)
            return
        if t.draft.get("s") == InviteStep.ROLE:
            self._picker.begin(t)
        await super()._back(t)

    async def _draw_iv_role(self, t: Turn) -> Screen:
        return Screen(
            Msg("acc.invite_role"),
            (
                (
                    Button(_role(Role.OWNER), action="role", arg=Role.OWNER.value),
                    Button(_role(Role.MEMBER), action="role", arg=Role.MEMBER.value),
                ),
                _nav(),
            ),
        )

    async def _on_iv_role(self, t: Turn, action: str, arg: str) -> None:
        if action != "role" or arg not in (Role.OWNER.value, Role.MEMBER.value):
            raise _unexpected()
        await self._create(t, int(t.draft["e"]), Role(arg))


def invitation_screen(link: InvitationLink) -> Screen:
    """The deep link to send, with its role, business and expiry, and a share button."""
    inv = link.invitation
    share = f"https://t.me/share/url?url={quote(link.url, safe='')}"
    return _notice(
        Msg(
            "acc.invite_link",
            {
                "link": Plain(link.url),
                "role": _role(inv.role),
                "expires": Day(inv.expires_at, with_time=True),
                **_business(inv.business),
            },
        ),
        (Button(Msg("acc.btn.share_link"), url=share),),
    )


# --- /grant ----------------------------------------------------------------------------------


class GrantFlow(_OneTurn):
    """``/grant TELEGRAM_ID ROLE [TAX_CODE]`` for admins."""

    def __init__(self, backend: AccountsBackend) -> None:
        self._backend = backend

    async def start(self, t: Turn, arg: str) -> None:
        _go(t, GRANT_FLOW)
        try:
            result = await self._backend.grant(t.user_id, arg)
        except PermissionDenied:
            _finish(t, Msg("acc.grant_admin_only"))
            return
        except NotFound:
            _finish(t, Msg("acc.grant_no_business"))
            return
        except InvalidInput:
            _finish(t, Msg("acc.grant_usage"))
            return
        where: Param = (
            Msg("acc.grant_in", _business(BusinessView.of(result.enterprise)))
            if result.enterprise is not None
            else ""
        )
        key = "acc.granted" if result.changed else "acc.grant_unchanged"
        params: dict[str, Param] = {
            "user": int(result.user.id),
            "role": Msg(f"acc.role.{result.role.value}"),
            "where": where,
        }
        _finish(t, Msg(key, params))


# --- a staff member registered for a business -------------------------------------------------


class AgentOrderNotice:
    """The registration flow's ``order_placed`` hook: when a staff member placed the order
    for a business (through the business step), its owners who use the bot get the same
    result the staff member got — the payment link and QR code (ON) or the pending cash order
    (OS) — and the staff member is told who was told; for OS they may confirm the cash now."""

    def __init__(self, backend: AccountsBackend) -> None:
        self._backend = backend

    async def __call__(self, t: Turn, outcome: OrderOutcome) -> None:
        if outcome.kind is not OrderOutcomeKind.CREATED:
            return
        if t.draft.get("pick") != PICKED_BY_STAFF or not t.draft.get("e"):
            return
        recipients = await self._backend.owners(int(t.draft["e"]), exclude=(t.user_id,))
        service = t.catalog.service(str(t.draft.get("sv", "")))
        params: dict[str, Any] = {
            "agent": Plain(_person(t).first_name),
            "service": Plain(service.name if service is not None else ""),
            **_business(recipients.business),
        }
        # the owners' copy was written to the outbox by the use case that placed the order
        # (or, for a payment link, by the one that obtained it)
        told = len(recipients.owners)
        parts: list[Param] = [
            Msg("acc.agent_told", {"count": told, **params})
            if told
            else Msg("acc.agent_no_owner", params)
        ]
        rows: list[tuple[Button, ...]] = []
        if outcome.kind_of_service == "OS" and outcome.subscription_code:
            parts.append(Msg("acc.agent_cash", {"subscription": Plain(outcome.subscription_code)}))
            rows.append(
                (
                    Button(
                        Msg("acc.btn.confirm_cash"),
                        action=CASH_ACTION,
                        arg=outcome.subscription_code,
                    ),
                )
            )
        t.extra.append(_notice(Join(tuple(parts)), *rows))


def account_flows(backend: AccountsBackend) -> dict[str, Flow]:
    """The flows of this module by name, for the engine's ``flows``."""
    return {
        START_FLOW: StartFlow(backend),
        JOIN_FLOW: JoinDecisionFlow(backend),
        INVITE_FLOW: InviteFlow(backend),
        GRANT_FLOW: GrantFlow(backend),
    }
