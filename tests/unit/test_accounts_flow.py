"""The accounts conversations without Telegram or a database: the real engine and flows, an
in-memory accounts backend, and assertions on screens (message keys, buttons), on what the
flows ask the backend, and on the messages they send to other chats."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.i18n import I18n
from conversations.accounts import (
    COMMANDS,
    ENTRIES,
    AccountsServices,
    AgentOrderNotice,
    InviteStep,
    SignUpStep,
    StaffBusinessPicker,
    account_flows,
)
from conversations.engine import ConversationEngine, EngineSettings
from conversations.notices import notice_screen
from conversations.payment import CASH_ACTION
from conversations.registration import RegistrationFlow, Step
from conversations.reply import Reply
from conversations.screens import Button, Join, Msg, Param, Plain, Screen
from conversations.session import Actor, ChatSession, Event, EventKind, SharedUser
from conversations.turn import RegistrationServices
from domain.catalog import Catalog
from domain.errors import NotFound, PermissionDenied
from domain.model import JoinRequestStatus, Role, User, UserId
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.registration import Access, EnterpriseRef
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
    InvitationStatus,
    JoinDecision,
    JoinDecisionStatus,
    JoinRequested,
    JoinStatus,
    Person,
    Recipient,
    Recipients,
    RequestToJoinRequest,
    SignUpRequest,
    SignUpResult,
    SignUpStatus,
)
from domain.usecases.admin import GrantRoleResult
from tests.unit.test_registration_flow import FakeBackend, catalog

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
A = BusinessView(7, "Công ty An Bình", "0100233488")
B = BusinessView(8, "Công ty Bình Minh", "0103326250")
NEW_TAX = "3500748818"


@dataclass
class FakeAccounts:
    """In-memory answers; every call is recorded as (method, arguments)."""

    known: bool = False
    staff: bool = False
    pending: tuple[BusinessView, ...] = ()
    businesses: dict[str, BusinessView] = field(default_factory=lambda: {A.tax_code: A})
    owners_of: tuple[Recipient, ...] = (Recipient(500, "en"),)
    decision: JoinDecision | Exception | None = None
    invitation: InvitationOutcome = field(
        default_factory=lambda: InvitationOutcome(InvitationStatus.INVALID)
    )
    invite_error: Exception | None = None
    #: the users the bot may message (an invitation to them is delivered)
    reachable: frozenset[int] = frozenset({77})
    calls: list[tuple[str, Any]] = field(default_factory=list)
    invitees: list[int | None] = field(default_factory=list)

    async def greet(self, person: Person) -> Greeting:
        self.calls.append(("greet", person))
        return Greeting(known=self.known, is_staff=self.staff, pending=self.pending)

    async def find_by_tax_code(self, tax_code: str) -> BusinessView | None:
        self.calls.append(("find", tax_code))
        return self.businesses.get(tax_code)

    async def sign_up(self, request: SignUpRequest) -> SignUpResult:
        self.calls.append(("sign_up", request))
        if request.tax_code in self.businesses:
            return SignUpResult(SignUpStatus.EXISTS, self.businesses[request.tax_code])
        made = BusinessView(9, request.name, request.tax_code)
        return SignUpResult(SignUpStatus.CREATED, made)

    async def request_join(self, request: RequestToJoinRequest) -> JoinRequested:
        self.calls.append(("request_join", request))
        return JoinRequested(
            JoinStatus.CREATED,
            A,
            request_id=41,
            owners=self.owners_of,
            requester_name=request.person.first_name,
            requester_phone=request.phone,
        )

    async def decide_join(self, req: DecideJoinRequestRequest) -> JoinDecision:
        actor_id, request_id, accept = req.actor_id, req.request_id, req.accept
        self.calls.append(("decide_join", (actor_id, request_id, accept)))
        if isinstance(self.decision, Exception):
            raise self.decision
        if self.decision is not None:
            return self.decision
        status = JoinDecisionStatus.ACCEPTED if accept else JoinDecisionStatus.REFUSED
        decided = JoinRequestStatus.ACCEPTED if accept else JoinRequestStatus.REFUSED
        return JoinDecision(status, A, Recipient(300, "vi"), "Khách", decided)

    async def invite(self, req: CreateInvitationRequest) -> InvitationCreated:
        self.calls.append(("invite", (req.actor_id, req.enterprise_id, req.role)))
        self.invitees.append(req.invitee_id)
        if self.invite_error is not None:
            raise self.invite_error
        business = next(b for b in (A, B) if b.id == req.enterprise_id)
        delivered = req.invitee_id in self.reachable
        expires = NOW + timedelta(days=7)
        return InvitationCreated("tok-123_ABC", business, req.role, expires, delivered=delivered)

    async def bot_username(self) -> str:
        return "onesme_bot"

    async def accept_invitation(self, req: AcceptInvitationRequest) -> InvitationOutcome:
        self.calls.append(("accept", (req.person.user_id, req.token)))
        return self.invitation

    async def search(self, actor_id: int, query: str) -> list[BusinessView]:
        self.calls.append(("search", (actor_id, query)))
        return [b for b in (A, B) if query.lower() in b.name.lower() or b.tax_code == query]

    async def open_business(self, actor_id: int, enterprise_id: int) -> BusinessView:
        self.calls.append(("open", (actor_id, enterprise_id)))
        found = next((b for b in (A, B) if b.id == enterprise_id), None)
        if found is None or not self.staff:
            raise NotFound("no")
        return found

    async def create_business(self, request: CreateBusinessRequest) -> CreatedBusiness:
        self.calls.append(("create", request))
        return CreatedBusiness(BusinessView(10, request.name, request.tax_code), created=True)

    async def owners(self, enterprise_id: int, exclude: Iterable[int] = ()) -> Recipients:
        exclude = tuple(exclude)
        self.calls.append(("owners", (enterprise_id, exclude)))
        business = next(b for b in (A, B) if b.id == enterprise_id)
        return Recipients(business, tuple(o for o in self.owners_of if o.chat_id not in exclude))

    async def grant(
        self, actor_id: int, user_id: int, role: str, tax_code: str | None = None
    ) -> GrantRoleResult:
        self.calls.append(("grant", (actor_id, user_id, role, tax_code)))
        if not self.staff:
            raise PermissionDenied("admins only")
        user = User(id=UserId(user_id), first_name="", created_at=NOW)
        return GrantRoleResult(user=user, role=Role.AGENT, enterprise=None, changed=True)

    def called(self, method: str) -> list[Any]:
        return [args for name, args in self.calls if name == method]

    def services(self) -> AccountsServices:
        """These answers in the roles the flows call."""
        return AccountsServices(
            greet=self.greet,
            find_by_tax_code=self.find_by_tax_code,
            sign_up=self.sign_up,
            request_join=self.request_join,
            decide_join=self.decide_join,
            invite=self.invite,
            accept_invitation=self.accept_invitation,
            search=self.search,
            open_business=self.open_business,
            create_business=self.create_business,
            owners=self.owners,
            grant=self.grant,
            bot_username=self.bot_username,
        )


@dataclass
class Registration(FakeBackend):
    """The registration backend, with the global roles the accounts flows read."""

    is_agent: bool = False

    async def access(self, user_id: int) -> Access:
        return Access(user_id=user_id, enterprises=self.owned, is_agent=self.is_agent)


class Chat:
    def __init__(self, accounts: FakeAccounts | None = None, reg: Registration | None = None):
        self.accounts = accounts or FakeAccounts()
        self.reg = reg or Registration()
        services = self.accounts.services()
        cat = catalog()
        self.engine = ConversationEngine(
            catalog=lambda: cat,
            registration=RegistrationServices.of(self.reg),
            settings=EngineSettings(),
            flow=RegistrationFlow(
                business=StaffBusinessPicker(services),
                order_placed=AgentOrderNotice(services),
            ),
            flows=account_flows(services),
            commands=COMMANDS,
            entries=ENTRIES,
        )
        self.session = ChatSession(key="b:1", lang="vi", updated_at=NOW)
        self.actor = Actor(user_id=1, chat_id=1, first_name="An", last_name="Nguyễn")
        self.last: Reply | None = None

    async def send(self, event: Event) -> Reply:
        reply = await self.engine.handle(self.session, self.actor, event, NOW)
        self.session.updated_at = NOW
        self.last = reply
        raw = json.dumps(self.session.to_dict(), ensure_ascii=False)
        assert len(raw.encode()) <= 1024, raw
        return reply

    async def command(self, name: str, arg: str = "") -> Reply:
        return await self.send(Event(EventKind.COMMAND, name=name, arg=arg))

    async def text(self, text: str) -> Reply:
        return await self.send(Event(EventKind.TEXT, text=text))

    async def contact(self, phone: str, *, own: bool = True) -> Reply:
        return await self.send(Event(EventKind.CONTACT, phone=phone, own_contact=own))

    async def entry(self, action: str, arg: str) -> Reply:
        return await self.send(Event(EventKind.BUTTON, name=action, arg=arg, rev=None))

    def buttons(self) -> list[Button]:
        assert self.last is not None and self.last.screens
        return [b for row in self.last.screens[-1].buttons for b in row]

    async def press(self, label: str) -> Reply:
        found = [b for b in self.buttons() if label_of(b) == label]
        assert found, f"no button {label!r} in {[label_of(b) for b in self.buttons()]}"
        b = found[0]
        return await self.send(
            Event(EventKind.BUTTON, name=b.action or "", arg=b.arg, rev=self.session.rev)
        )

    @property
    def step(self) -> str:
        return str(self.session.draft.get("s"))

    def msgs(self, reply: Reply | None = None) -> set[str]:
        reply = reply or self.last
        assert reply is not None
        out: set[str] = set()
        for s in reply.screens:
            collect(s.text, out)
            if s.notice is not None:
                collect(s.notice, out)
        if reply.answer is not None:
            collect(reply.answer, out)
        return out


def label_of(b: Button) -> str:
    return b.label.text if isinstance(b.label, Plain) else b.label.key


def collect(p: Param, out: set[str]) -> None:
    if isinstance(p, Msg):
        out.add(p.key)
        for v in p.params.values():
            collect(v, out)
    elif isinstance(p, Join):
        for v in p.parts:
            collect(v, out)


def texts(p: Param) -> list[str]:
    """Every user-visible plain value in a fragment (catalog names, typed text)."""
    if isinstance(p, Plain):
        return [p.text]
    if isinstance(p, Msg):
        return [t for v in p.params.values() for t in texts(v)]
    if isinstance(p, Join):
        return [t for v in p.parts for t in texts(v)]
    return [str(p)] if isinstance(p, int | str) else []


def screen_keys(screen: Screen) -> set[str]:
    out: set[str] = set()
    collect(screen.text, out)
    if screen.notice is not None:
        collect(screen.notice, out)
    return out


# --- /start -----------------------------------------------------------------------------------


async def test_a_known_user_gets_the_main_menu_and_the_profile_is_stored() -> None:
    chat = Chat(FakeAccounts(known=True))
    reply = await chat.command("start")
    assert "menu.welcome" in chat.msgs()
    assert chat.session.flow is None
    [person] = chat.accounts.called("greet")
    assert (person.user_id, person.first_name, person.locale) == (1, "An Nguyễn", "vi")
    assert reply.screens[0].buttons[0][0].label == Msg("btn.services")


async def test_a_user_waiting_for_an_answer_is_told() -> None:
    chat = Chat(FakeAccounts(pending=(A,)))
    await chat.command("start")
    assert {"acc.join_waiting", "menu.welcome"} <= chat.msgs()
    assert chat.session.flow is None


async def test_sign_up_asks_each_field_and_creates_the_business() -> None:
    chat = Chat()
    reply = await chat.command("start")
    assert chat.step == "su_phone"
    keyboard = reply.screens[0].reply_keyboard
    assert keyboard is not None and keyboard.share_contact
    await chat.text("0912345678")  # typed: not a verified phone
    assert "acc.phone_use_button" in chat.msgs() and chat.step == "su_phone"
    await chat.contact("+84987000111", own=False)  # someone else's card
    assert "contact.not_own" in chat.msgs() and chat.step == "su_phone"
    await chat.contact("84912345678")
    assert chat.step == "su_tax" and chat.session.draft["ph"] == "+84912345678"

    for _ in range(3):
        await chat.text("0100233489")
    assert "invalid.tax_code.checksum" in chat.msgs()
    assert "invalid.too_many" in chat.msgs() and chat.step == "su_tax"
    await chat.text(NEW_TAX)
    assert chat.step == "su_name"
    await chat.press("btn.back")
    assert chat.step == "su_tax"
    await chat.text(f" {NEW_TAX[:4]}.{NEW_TAX[4:]} ")
    await chat.text("  Công ty   CP Sáng ")
    await chat.text("12 Lê Lợi, Quận 1")
    await chat.text("bad-email")
    assert "invalid.email.format" in chat.msgs() and chat.step == "su_email"
    await chat.text("KeToan@Sang.vn")
    assert chat.step == "su_sum" and "acc.signup_summary" in chat.msgs()
    reply = await chat.press("acc.btn.create_business")
    [request] = chat.accounts.called("sign_up")
    assert (request.tax_code, request.name, request.address, request.email, request.phone) == (
        NEW_TAX,
        "Công ty CP Sáng",
        "12 Lê Lợi, Quận 1",
        "KeToan@sang.vn",  # the domain is case-insensitive, the local part is kept
        "+84912345678",
    )
    assert chat.session.flow is None
    [shown] = reply.screens
    assert {"acc.signed_up", "menu.welcome"} <= screen_keys(shown)
    assert next(label_of(b) for row in shown.buttons for b in row) == "btn.services"


async def test_a_taken_tax_code_becomes_a_request_to_join_that_the_owners_get() -> None:
    chat = Chat()
    await chat.command("start")
    await chat.contact("0912345678")
    await chat.text(A.tax_code)
    assert chat.step == "su_join"
    assert A.name in texts(chat.last.screens[0].text)  # type: ignore[union-attr]
    reply = await chat.press("acc.btn.ask_to_join")
    [request] = chat.accounts.called("request_join")
    assert (request.enterprise_id, request.phone) == (A.id, "+84912345678")
    assert "acc.join_sent" in chat.msgs() and chat.session.flow is None
    assert reply.outgoing == ()  # the use case wrote the owners' requests to the outbox
    asked = notice_screen(
        Notice(
            NoticeKind.JOIN_REQUESTED,
            500,
            "en",
            {
                "business": A.name,
                "tax_code": A.tax_code,
                "request": 41,
                "name": "Khách",
                "phone": "+84912345678",
            },
        ),
        Catalog(),
    )
    assert [[(b.action, b.arg) for b in row] for row in asked.buttons] == [
        [("jr", "a41"), ("jr", "r41")]
    ]
    assert "091 234 5678" in texts(asked.text) and A.name in texts(asked.text)


async def test_a_request_nobody_can_answer_says_so() -> None:
    chat = Chat(FakeAccounts(owners_of=()))
    await chat.command("start")
    await chat.contact("0912345678")
    await chat.text(A.tax_code)
    reply = await chat.press("acc.btn.ask_to_join")
    assert "acc.join_sent_no_owner" in chat.msgs() and reply.outgoing == ()


async def test_a_business_created_meanwhile_turns_the_summary_into_a_join() -> None:
    accounts = FakeAccounts(businesses={})
    chat = Chat(accounts)
    await chat.command("start")
    await chat.contact("0912345678")
    await chat.text(NEW_TAX)
    await chat.text("Công ty Sáng")
    await chat.text("12 Lê Lợi")
    await chat.text("a@sang.vn")
    accounts.businesses[NEW_TAX] = BusinessView(11, "Sáng Sớm", NEW_TAX)  # someone was faster
    await chat.press("acc.btn.create_business")
    assert chat.step == "su_join" and chat.session.draft["jb"] == 11


# --- Chấp nhận / Từ chối ----------------------------------------------------------------------


async def test_an_owner_accepts_and_the_requester_is_told() -> None:
    chat = Chat()
    chat.session.rev = 17  # entry buttons work whatever the owner is doing
    reply = await chat.entry("jr", "a41")
    assert chat.accounts.called("decide_join") == [(1, 41, True)]
    assert "acc.join_accepted" in chat.msgs()
    assert reply.outgoing == ()  # the use case wrote the requester's answer to the outbox
    reply = await chat.entry("jr", "r41")
    assert chat.accounts.called("decide_join")[-1] == (1, 41, False)
    assert "acc.join_refused" in chat.msgs() and reply.outgoing == ()


@pytest.mark.parametrize(
    ("accepted", "key"), [(True, "acc.join_accepted_you"), (False, "acc.join_refused_you")]
)
def test_the_requester_s_answer_renders_from_its_notice(accepted: bool, key: str) -> None:
    params: dict[str, JsonValue] = {
        "business": A.name,
        "tax_code": A.tax_code,
        "name": "Khách",
        "accepted": accepted,
    }
    shown = notice_screen(Notice(NoticeKind.JOIN_DECIDED, 300, "vi", params), Catalog())
    assert key in screen_keys(shown)
    assert bool(shown.buttons) is accepted  # Quản lý thuê bao once a member


@pytest.mark.parametrize("arg", ["x41", "a", "a-1", "a1e3", "r" + "9" * 19, ""])
async def test_garbage_join_arguments_never_reach_the_backend(arg: str) -> None:
    chat = Chat()
    reply = await chat.entry("jr", arg)
    assert chat.accounts.called("decide_join") == []
    assert "acc.join_unavailable" in chat.msgs() and reply.outgoing == ()


@pytest.mark.parametrize("error", [NotFound("x"), PermissionDenied("x")])
async def test_a_refused_decision_reveals_nothing(error: Exception) -> None:
    chat = Chat(FakeAccounts(decision=error))
    reply = await chat.entry("jr", "a41")
    assert chat.msgs() == {"acc.join_unavailable"} and reply.outgoing == ()


async def test_a_second_answer_says_what_the_first_was() -> None:
    decided = JoinDecision(
        JoinDecisionStatus.ALREADY_DECIDED, A, Recipient(300), "Khách", JoinRequestStatus.REFUSED
    )
    chat = Chat(FakeAccounts(decision=decided))
    reply = await chat.entry("jr", "a41")
    assert {"acc.join_already_decided", "acc.join_status.refused"} <= chat.msgs()
    assert reply.outgoing == ()


# --- invitations -----------------------------------------------------------------------------


async def test_an_invitation_link_joins_and_tells_the_inviter() -> None:
    joined = InvitationOutcome(
        InvitationStatus.JOINED, A, Role.MEMBER, inviter=Recipient(500, "en"), joined_name="An"
    )
    chat = Chat(FakeAccounts(invitation=joined))
    reply = await chat.command("start", "inv_tok-123_ABC")
    assert chat.accounts.called("accept") == [(1, "tok-123_ABC")]
    assert chat.accounts.called("greet") == []
    assert {"acc.invitation_joined", "acc.role.member", "menu.welcome"} <= chat.msgs()
    assert reply.outgoing == ()  # the use case wrote the inviter's notice to the outbox
    params = {"business": A.name, "tax_code": A.tax_code, "name": "An", "role": "member"}
    told = notice_screen(Notice(NoticeKind.INVITATION_USED, 500, "en", params), Catalog())
    assert {"acc.invitation_used_by", "acc.role.member"} <= screen_keys(told)


async def test_an_invitation_sent_to_the_invitee_joins_with_its_button() -> None:
    params = {
        "token": "tok-123_ABC",
        "role": "member",
        "name": "Lan",
        "expires": (NOW + timedelta(days=7)).isoformat(),
        "business": A.name,
        "tax_code": A.tax_code,
    }
    shown = notice_screen(Notice(NoticeKind.INVITATION_RECEIVED, 1, "vi", params), Catalog())
    assert {"acc.invitation_received", "acc.role.member"} <= screen_keys(shown)
    [join] = [b for row in shown.buttons for b in row]
    assert (join.action, join.arg) == ("ivj", "inv_tok-123_ABC")
    joined = InvitationOutcome(InvitationStatus.JOINED, A, Role.MEMBER)
    chat = Chat(FakeAccounts(invitation=joined))
    await chat.entry(join.action or "", join.arg)  # an entry button: whatever the chat is doing
    assert chat.accounts.called("accept") == [(1, "tok-123_ABC")]
    assert "acc.invitation_joined" in chat.msgs()
    with pytest.raises(ValueError, match="token"):
        notice_screen(
            Notice(NoticeKind.INVITATION_RECEIVED, 1, "vi", {**params, "token": ""}), Catalog()
        )


@pytest.mark.parametrize(
    "status", [InvitationStatus.USED, InvitationStatus.EXPIRED, InvitationStatus.INVALID]
)
async def test_a_refused_invitation_says_why_and_nothing_else(status: InvitationStatus) -> None:
    chat = Chat(FakeAccounts(invitation=InvitationOutcome(status)))
    reply = await chat.command("start", "inv_whatever")
    assert f"acc.invitation_{status.value}" in chat.msgs()
    assert reply.outgoing == () and A.name not in texts(reply.screens[0].text)


async def test_an_owner_asks_for_a_link_to_send_themselves() -> None:
    chat = Chat()
    reply = await chat.command("invite")
    assert chat.step == "iv_who" and chat.accounts.called("invite") == []
    [who] = reply.screens
    assert who.reply_keyboard is not None and who.reply_keyboard.pick_users is not None
    assert who.reply_keyboard.pick_users.request_id == A.id
    reply = await chat.press("acc.btn.invite_link")
    assert chat.accounts.called("invite") == [(1, A.id, Role.MEMBER)]
    [shown] = reply.screens
    assert "https://t.me/onesme_bot?start=inv_tok-123_ABC" in texts(shown.text)
    [share] = [b for row in shown.buttons for b in row]
    assert share.url == (
        "https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fonesme_bot%3Fstart%3Dinv_tok-123_ABC"
    )
    assert chat.session.flow is None


async def users(chat: Chat, request_id: int, *picked: SharedUser) -> Reply:
    return await chat.send(Event(EventKind.USERS, request_id=request_id, users=picked))


@pytest.mark.parametrize(("picked", "key"), [(77, "acc.invite_sent_to"), (78, "acc.invite_for")])
async def test_an_owner_picks_the_employee_in_telegram(picked: int, key: str) -> None:
    chat = Chat()
    await chat.command("invite")
    reply = await users(chat, A.id, SharedUser(picked, "Bình", "binh_ketoan"))
    assert chat.accounts.called("invite") == [(1, A.id, Role.MEMBER)]
    assert chat.accounts.invitees == [picked]  # sent to them when they use the bot (77)
    [shown] = reply.screens
    assert {key, "acc.invite_link"} <= chat.msgs()
    assert "Bình" in texts(shown.text)
    urls = [b.url for row in shown.buttons for b in row]
    assert "https://t.me/binh_ketoan" in urls and chat.session.flow is None


@pytest.mark.parametrize(
    ("request_id", "picked", "key"),
    [
        (B.id, (SharedUser(77, "Bình"),), "acc.invite_pick_stale"),  # another business's
        (A.id, (SharedUser(77, "Bình"), SharedUser(78, "Chi")), "acc.invite_pick_one"),
        (A.id, (SharedUser(1, "An"),), "acc.invite_pick_self"),
    ],
)
async def test_a_stale_forged_or_odd_pick_changes_nothing(
    request_id: int, picked: tuple[SharedUser, ...], key: str
) -> None:
    chat = Chat()
    await chat.command("invite")
    await users(chat, request_id, *picked)
    assert key in chat.msgs() and chat.step == "iv_who"
    assert chat.accounts.called("invite") == []


async def test_users_shared_outside_the_invite_flow_asks_for_the_buttons() -> None:
    chat = Chat()
    await chat.command("start")  # signing up: the phone step
    await users(chat, A.id, SharedUser(77, "Bình"))
    assert "reg.use_buttons" in chat.msgs() and chat.step == "su_phone"
    assert chat.accounts.called("invite") == []


async def test_members_and_strangers_cannot_invite() -> None:
    member = (EnterpriseRef(A.id, A.name, A.tax_code, "member"),)
    chat = Chat(reg=Registration(owned=member))
    await chat.command("invite")
    assert "acc.invite_not_allowed" in chat.msgs() and chat.accounts.called("invite") == []


async def test_staff_find_a_business_then_invite_its_owner() -> None:
    chat = Chat(FakeAccounts(staff=True), Registration(owned=(), is_agent=True))
    await chat.command("invite")
    assert chat.step == "iv_biz" and "acc.pick.title_invite" in chat.msgs()
    await chat.text("x")
    assert "invalid.search.short" in chat.msgs()
    await chat.text("bình minh")
    assert chat.accounts.called("search") == [(1, "bình minh")]
    assert "acc.pick.results" in chat.msgs()
    await chat.press(f"{B.name} ({B.tax_code})")
    assert chat.step == "iv_role"
    await chat.press("btn.back")
    assert chat.step == "iv_biz"
    await chat.text(B.tax_code)
    await chat.press(f"{B.name} ({B.tax_code})")
    await chat.press("acc.role.owner")
    assert chat.accounts.called("invite") == [(1, B.id, Role.OWNER)]
    assert chat.session.flow is None


async def test_a_refused_invitation_request_ends_with_the_reason() -> None:
    accounts = FakeAccounts(staff=True, invite_error=PermissionDenied("has an owner"))
    chat = Chat(accounts, Registration(owned=(), is_agent=True))
    await chat.command("invite")
    await chat.text(A.tax_code)
    await chat.press(f"{A.name} ({A.tax_code})")
    await chat.press("acc.role.owner")
    assert "acc.invite_refused" in chat.msgs() and chat.session.flow is None


# --- staff registering for a business ------------------------------------------------------------


async def to_register(
    chat: Chat, service: str = "VNPT SmartCA", plan: str = "Gói Doanh nghiệp"
) -> None:
    await chat.command("services")
    await chat.press(service)
    await chat.press("btn.pricing")
    await chat.press(plan)
    await chat.press("reg.cycle_button")
    await chat.press("btn.register")


async def test_staff_pick_the_business_before_step_one() -> None:
    chat = Chat(FakeAccounts(staff=True), Registration(owned=(), is_agent=True))
    await to_register(chat)
    assert chat.step == Step.BUSINESS and "acc.pick.title_register" in chat.msgs()
    await chat.text("an bình")
    await chat.press(f"{A.name} ({A.tax_code})")
    assert chat.accounts.called("open") == [(1, A.id)]
    assert chat.step == Step.PLAN_PROMO and chat.session.draft["e"] == A.id
    await chat.press("btn.back")
    assert chat.step == Step.BUSINESS
    await chat.press("btn.back")
    assert chat.step == Step.REGISTER


async def test_staff_create_the_business_from_a_tax_code_search() -> None:
    chat = Chat(FakeAccounts(staff=True), Registration(owned=(), is_agent=True))
    await to_register(chat)
    await chat.text(NEW_TAX)
    assert "acc.pick.no_results" in chat.msgs()
    await chat.press("acc.btn.new_business")
    assert chat.session.draft["bz"] == "nn"  # the searched tax code is kept
    await chat.press("btn.back")
    assert chat.session.draft["bz"] == "nt" and chat.step == Step.BUSINESS
    await chat.text(A.tax_code)  # an existing one is simply chosen
    assert chat.step == Step.PLAN_PROMO and chat.session.draft["e"] == A.id
    assert "acc.pick.exists_chosen" in chat.msgs()


async def test_staff_create_a_new_business_field_by_field() -> None:
    chat = Chat(FakeAccounts(staff=True), Registration(owned=(), is_agent=True))
    await to_register(chat)
    await chat.press("acc.btn.new_business")
    await chat.text(NEW_TAX)
    await chat.text("Công ty Sáng")
    await chat.text("")  # an empty address is asked again
    assert "invalid.address.required" in chat.msgs()
    await chat.text("12 Lê Lợi")
    await chat.text("a@sang.vn")
    [request] = chat.accounts.called("create")
    assert (request.actor_id, request.tax_code, request.name) == (1, NEW_TAX, "Công ty Sáng")
    assert chat.step == Step.PLAN_PROMO and chat.session.draft["e"] == 10
    assert "acc.pick.created" in chat.msgs()


async def test_a_forged_pick_for_a_non_staff_is_refused() -> None:
    chat = Chat(FakeAccounts(staff=False), Registration(owned=(), is_agent=True))
    await to_register(chat)
    with pytest.raises(NotFound):
        await chat.send(Event(EventKind.BUTTON, name="bz", arg=str(B.id), rev=chat.session.rev))
    assert chat.step == Step.BUSINESS and "e" not in chat.session.draft


async def finish_registration(chat: Chat) -> Reply:
    for _ in range(8):
        labels = [label_of(b) for b in chat.buttons()]
        if "btn.next" in labels:
            break
        await chat.press("btn.no_promotion" if "btn.no_promotion" in labels else "btn.done")
    await chat.press("btn.next")
    await chat.press("btn.next")
    await chat.press("btn.next")
    await chat.text("Nguyễn Văn An")
    await chat.text("0912345678")
    await chat.text("an@anbinh.vn")
    await chat.press("btn.agree_terms")
    await chat.press("btn.pay")
    return await chat.press("btn.confirm")


async def test_an_agents_on_order_goes_to_the_owners_too() -> None:
    chat = Chat(FakeAccounts(staff=True), Registration(owned=(), is_agent=True))
    await to_register(chat)
    await chat.text(A.tax_code)
    await chat.press(f"{A.name} ({A.tax_code})")
    reply = await finish_registration(chat)
    [request] = chat.reg.orders
    assert (request.actor_id, request.enterprise_id) == (1, A.id)
    assert chat.accounts.called("owners") == [(A.id, (1,))]
    assert reply.outgoing == ()  # the owners' copy goes through the outbox
    params: dict[str, JsonValue] = {
        "agent": "Hỗ trợ",
        "service": "NOPE",
        "business": A.name,
        "tax_code": A.tax_code,
        "order": "DH-1",
        "kind": "ON",
        "total": 275_000,
        "url": "http://pay/1",
        "subscription": "",
    }
    out = notice_screen(Notice(NoticeKind.AGENT_REGISTERED, 500, "en", params), Catalog())
    assert out.qr == "http://pay/1"
    assert out.notice is not None and "acc.agent_registered" in screen_keys(out)
    assert [(b.url, b.copy_text) for row in out.buttons for b in row] == [
        ("http://pay/1", None),
        (None, params["order"]),  # the payment reference, copied to the clipboard
    ]
    first, told = reply.screens
    assert first.qr == "http://pay/1"
    assert "acc.agent_told" in screen_keys(told) and told.buttons == ()


async def test_an_agents_os_order_offers_to_confirm_the_cash() -> None:
    chat = Chat(FakeAccounts(staff=True, owners_of=()), Registration(owned=(), is_agent=True))
    await to_register(chat, "Lắp camera", "Gói 4 mắt")
    await chat.text(A.tax_code)
    await chat.press(f"{A.name} ({A.tax_code})")
    reply = await finish_registration(chat)
    assert reply.outgoing == ()
    _, told = reply.screens
    assert {"acc.agent_no_owner", "acc.agent_cash"} <= screen_keys(told)
    assert [(b.action, b.arg) for row in told.buttons for b in row] == [(CASH_ACTION, "TB-1")]


async def test_an_owners_own_order_tells_nobody_else() -> None:
    chat = Chat()
    await to_register(chat)
    reply = await finish_registration(chat)
    assert reply.outgoing == () and chat.accounts.called("owners") == []
    assert len(reply.screens) == 1


# --- /grant ---------------------------------------------------------------------------------------


async def test_grant_answers_admins_and_refuses_others() -> None:
    chat = Chat(FakeAccounts(staff=False))
    await chat.command("grant", "42 agent")
    assert "acc.grant_admin_only" in chat.msgs()
    chat.accounts.staff = True
    await chat.command("grant", "bad")
    assert "acc.grant_usage" in chat.msgs()
    await chat.command("grant", "42 agent")
    assert {"acc.granted", "acc.role.agent"} <= chat.msgs()


# --- help and texts -----------------------------------------------------------------------------


def test_every_step_has_help_in_both_languages() -> None:
    i18n = I18n.load()
    steps = [*SignUpStep, *InviteStep, Step.BUSINESS]
    for lang in ("vi", "en"):
        missing = [s.value for s in steps if not i18n.has(f"help.step.{s.value}")]
        assert missing == [], lang
        assert i18n.template(lang, "help.step.su_phone") != i18n.template(
            "vi" if lang == "en" else "en", "help.step.su_phone"
        )


async def test_help_during_sign_up_explains_the_step() -> None:
    chat = Chat()
    await chat.command("start")
    await chat.contact("0912345678")
    await chat.command("help")
    assert "help.step.su_tax" in chat.msgs() and chat.step == "su_tax"
