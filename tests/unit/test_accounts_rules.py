"""The accounts use cases' rules, on the in-memory unit of work (tests/fakes): what each stores,
who may do what, and the history they leave (who, what, when), refusals included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import EnterpriseId, JoinRequestStatus, Role, UserId
from domain.outbox import Notice, NoticeKind
from domain.pricing import PromotionUsage, Selection, quote
from domain.registration import (
    ContactInfo,
    CustomerInfo,
    InvoiceInfo,
    OrderOutcomeKind,
    OrderRequest,
)
from domain.usecases.accounts import (
    AcceptInvitation,
    AcceptInvitationRequest,
    BusinessRecipients,
    CreateBusiness,
    CreateBusinessRequest,
    CreateInvitation,
    CreateInvitationRequest,
    DecideJoinRequest,
    DecideJoinRequestRequest,
    FindBusinessByTaxCode,
    GrantRoleByAdmin,
    Greet,
    InvitationOutcome,
    InvitationStatus,
    JoinDecisionStatus,
    JoinStatus,
    OpenBusiness,
    Person,
    Recipient,
    RequestToJoin,
    RequestToJoinRequest,
    SearchBusinesses,
    SignUp,
    SignUpRequest,
    SignUpStatus,
)
from domain.usecases.admin import AddEnterprise, GrantRole
from domain.usecases.registration import PlaceOrder
from tests.fakes.uow import FakeUnitOfWork
from tests.integration.test_storage_catalog import sample_catalog

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
TAX_A = "0100233488"
TAX_B = "0103326250"
OWNER, MEMBER, STRANGER, AGENT, ADMIN, OTHER_OWNER = 101, 102, 103, 104, 105, 106


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


def person(user_id: int, name: str = "Lan", locale: str | None = "vi") -> Person:
    return Person(user_id=user_id, first_name=name, username=None, locale=locale)


async def role_of(uow: FakeUnitOfWork, user_id: int, enterprise_id: int) -> Role | None:
    async with uow:
        found = await uow.memberships.get(UserId(user_id), EnterpriseId(enterprise_id))
    return found.role if found is not None else None


def order(actor: int, enterprise: int, key: str) -> OrderRequest:
    selection = Selection("LAPDAT", "LAPDAT-1", "D7", quantity=2)
    total = quote(sample_catalog(), selection, today=NOW.date(), usage=PromotionUsage()).total
    return OrderRequest(
        actor_id=actor,
        enterprise_id=enterprise,
        selection=selection,
        invoice=InvoiceInfo("Công ty A", TAX_A, "1 Lê Lợi", "a@a.vn"),
        customer=CustomerInfo("Công ty A", TAX_A, "1 Lê Lợi", "+84912345678", "a@a.vn"),
        contact=ContactInfo("Nguyễn Lan", "+84912345678", "lan@a.vn"),
        expected_total=total,
        idempotency_key=key,
        locale="vi",
        chat_id=actor,
    )


async def events(uow: FakeUnitOfWork, action: str | None = None) -> list[dict[str, Any]]:
    """The committed history, oldest first (what the SQL version selects)."""
    rows = sorted(uow.committed.history.values(), key=lambda e: e.id)
    return [
        {
            "action": e.action,
            "actor": e.actor_id,
            "enterprise": e.enterprise_id,
            "details": dict(e.details),
            "at": e.created_at,
        }
        for e in rows
        if action is None or e.action == action
    ]


def told(uow: FakeUnitOfWork, kind: NoticeKind) -> list[Notice]:
    """The committed outbox notices of ``kind``, oldest first."""
    rows = uow.committed.outbox
    return [rows[i].notice for i in sorted(rows) if rows[i].notice.kind is kind]


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def world(uow: FakeUnitOfWork, clock: Clock) -> dict[str, int]:
    """Business A (owner OWNER, who uses the bot; member MEMBER), business B (OTHER_OWNER),
    an agent and an admin who use the bot, and STRANGER who only wrote /start."""
    factory = lambda: uow  # noqa: E731
    a = await SignUp(factory, clock)(
        SignUpRequest(person(OWNER), "0912345678", TAX_A, "Công ty A", "1 Lê Lợi", "a@a.vn")
    )
    b = await SignUp(factory, clock)(
        SignUpRequest(person(OTHER_OWNER), "0912345679", TAX_B, "Công ty B", "2 Lê Lợi", "b@b.vn")
    )
    await GrantRole(factory, clock)(MEMBER, "member", TAX_A)
    for staff, role in ((AGENT, "agent"), (ADMIN, "admin")):
        await Greet(factory, clock)(person(staff, "Staff"))
        await GrantRole(factory, clock)(staff, role)
    await Greet(factory, clock)(person(STRANGER, "Khách"))
    return {"a": a.business.id, "b": b.business.id}


async def test_greet_stores_the_profile_and_tells_who_is_known(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    greet = Greet(lambda: uow, clock)
    assert (await greet(person(OWNER))).known
    staff = await greet(person(AGENT, "Đại lý"))
    assert staff.known and staff.is_staff
    new = await greet(person(999, "Mới", locale="en"))
    assert not new.known and new.pending == ()
    async with uow:
        user = await uow.users.get(UserId(999))
    assert user is not None and (user.first_name, user.locale) == ("Mới", "en")


async def test_sign_up_creates_the_business_with_its_owner_and_history(
    uow: FakeUnitOfWork, clock: Clock
) -> None:
    result = await SignUp(lambda: uow, clock)(
        SignUpRequest(
            person(7, "Hoa"),
            "+84 912 345 678",
            "0100-233-488",
            "  Công ty  TNHH An Bình ",
            "57 Huỳnh Thúc Kháng",
            "HoaDon@AnBinh.vn",
        )
    )
    assert result.status is SignUpStatus.CREATED
    assert (result.business.name, result.business.tax_code) == ("Công ty TNHH An Bình", TAX_A)
    assert await role_of(uow, 7, result.business.id) is Role.OWNER
    async with uow:
        stored = await uow.enterprises.get(EnterpriseId(result.business.id))
        user = await uow.users.get(UserId(7))
    assert stored is not None and stored.phone == "+84912345678"
    assert user is not None and user.phone == "+84912345678"
    recorded = await events(uow)
    assert [(e["action"], e["actor"], e["enterprise"]) for e in recorded] == [
        ("enterprise.signed_up", 7, result.business.id),
        ("role.granted", 7, result.business.id),
    ]
    assert recorded[1]["details"] == {"user_id": 7, "role": "owner", "via": "sign_up"}
    assert all(e["at"].replace(tzinfo=UTC) == NOW for e in recorded)

    again = await SignUp(lambda: uow, clock)(
        SignUpRequest(person(8), "0987654321", TAX_A, "Khác", "Địa chỉ", "x@y.vn")
    )
    assert again.status is SignUpStatus.EXISTS and again.business == result.business
    assert await role_of(uow, 8, result.business.id) is None
    assert len(await events(uow)) == 2


async def test_sign_up_validates_every_field(uow: FakeUnitOfWork, clock: Clock) -> None:
    sign_up = SignUp(lambda: uow, clock)
    good = ("0912345678", TAX_A, "Công ty", "Địa chỉ", "a@b.vn")
    for index, bad in ((0, "12345"), (1, "0100233489"), (2, ""), (3, ""), (4, "not-mail")):
        fields = list(good)
        fields[index] = bad
        with pytest.raises(InvalidInput):
            await sign_up(SignUpRequest(person(7), *fields))
    assert await FindBusinessByTaxCode(lambda: uow)(TAX_A) is None


async def test_a_join_request_goes_to_the_owners_who_use_the_bot_and_an_owner_decides(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    factory = lambda: uow  # noqa: E731
    # a second owner granted by id only (never wrote to the bot) is not messaged
    await GrantRole(factory, clock)(555, "owner", TAX_A)
    ask = RequestToJoin(factory, clock)
    asked = await ask(RequestToJoinRequest(person(STRANGER, "Khách"), "0987000333", world["a"]))
    assert asked.status is JoinStatus.CREATED
    assert asked.owners == (Recipient(OWNER, "vi"),)
    assert (asked.requester_name, asked.requester_phone) == ("Khách", "+84987000333")
    again = await ask(RequestToJoinRequest(person(STRANGER, "Khách"), "0987000333", world["a"]))
    assert (again.status, again.request_id, again.owners) == (
        JoinStatus.PENDING,
        asked.request_id,
        (),
    )
    # one Chấp nhận / Từ chối, to the owner who uses the bot, for the first request only
    assert told(uow, NoticeKind.JOIN_REQUESTED) == [
        Notice(
            NoticeKind.JOIN_REQUESTED,
            OWNER,
            "vi",
            {
                "business": "Công ty A",
                "tax_code": TAX_A,
                "request": asked.request_id,
                "name": "Khách",
                "phone": "+84987000333",
            },
        )
    ]
    greeting = await Greet(factory, clock)(person(STRANGER, "Khách"))
    assert not greeting.known and [b.tax_code for b in greeting.pending] == [TAX_A]
    member = await ask(RequestToJoinRequest(person(MEMBER), "0987000444", world["a"]))
    assert member.status is JoinStatus.MEMBER

    decide = DecideJoinRequest(factory, clock)
    for actor in (MEMBER, OTHER_OWNER, STRANGER):  # a member, another business's owner, anyone
        with pytest.raises(NotFound):
            await decide(DecideJoinRequestRequest(actor, asked.request_id, accept=True))
    with pytest.raises(NotFound):
        await decide(DecideJoinRequestRequest(OWNER, 987654, accept=True))
    assert await role_of(uow, STRANGER, world["a"]) is None
    refusals = await events(uow, "access.refused")
    assert [(r["actor"], r["details"]["reason"]) for r in refusals] == [
        (MEMBER, "not_permitted"),
        (OTHER_OWNER, "not_permitted"),
        (STRANGER, "not_permitted"),
        (OWNER, "not_found"),
    ]
    assert all(r["enterprise"] is None for r in refusals)  # not shown in a business's history

    decided = await decide(DecideJoinRequestRequest(OWNER, asked.request_id, accept=True))
    assert decided.status is JoinDecisionStatus.ACCEPTED
    assert decided.requester == Recipient(STRANGER, "vi")
    assert await role_of(uow, STRANGER, world["a"]) is Role.MEMBER
    late = await decide(DecideJoinRequestRequest(AGENT, asked.request_id, accept=False))
    assert (late.status, late.decided) == (
        JoinDecisionStatus.ALREADY_DECIDED,
        JoinRequestStatus.ACCEPTED,
    )
    assert await role_of(uow, STRANGER, world["a"]) is Role.MEMBER
    [answer] = told(uow, NoticeKind.JOIN_DECIDED)  # the late decision tells nobody
    assert (answer.chat_id, answer.locale) == (STRANGER, "vi")
    assert answer.params == {
        "business": "Công ty A",
        "tax_code": TAX_A,
        "name": "Khách",
        "accepted": True,
    }
    [accepted] = await events(uow, "join.accepted")
    assert (accepted["actor"], accepted["enterprise"]) == (OWNER, world["a"])
    assert len(await events(uow, "join.requested")) == 1


async def test_a_refused_request_makes_no_member_and_staff_may_decide(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    factory = lambda: uow  # noqa: E731
    asked = await RequestToJoin(factory, clock)(
        RequestToJoinRequest(person(STRANGER), "0987000333", world["b"])
    )
    assert asked.owners == (Recipient(OTHER_OWNER, "vi"),)
    decided = await DecideJoinRequest(factory, clock)(
        DecideJoinRequestRequest(AGENT, asked.request_id, accept=False)
    )
    assert decided.status is JoinDecisionStatus.REFUSED
    assert await role_of(uow, STRANGER, world["b"]) is None
    [asked_owner] = told(uow, NoticeKind.JOIN_REQUESTED)
    assert asked_owner.chat_id == OTHER_OWNER
    [answer] = told(uow, NoticeKind.JOIN_DECIDED)
    assert answer.chat_id == STRANGER and answer.params["accepted"] is False
    [refused] = await events(uow, "join.refused")
    assert refused["actor"] == AGENT


async def test_who_may_invite(uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]) -> None:
    factory = lambda: uow  # noqa: E731
    invite = CreateInvitation(factory, clock)
    made = await invite(CreateInvitationRequest(OWNER, world["a"], Role.MEMBER))
    assert made.expires_at == NOW + timedelta(days=7) and made.role is Role.MEMBER
    assert len(made.token) >= 20
    refused = [
        (MEMBER, world["a"], Role.MEMBER),  # members do not invite
        (OWNER, world["a"], Role.OWNER),  # owners invite employees, not owners
        (OWNER, world["b"], Role.MEMBER),  # not their business
        (STRANGER, world["a"], Role.MEMBER),
        (AGENT, world["a"], Role.OWNER),  # A has an owner: only its owners let people in
    ]
    for actor, enterprise, role in refused:
        with pytest.raises(PermissionDenied):
            await invite(CreateInvitationRequest(actor, enterprise, role))
    assert len(await events(uow, "access.refused")) == len(refused)
    assert (
        await invite(CreateInvitationRequest(AGENT, world["a"], Role.MEMBER))
    ).role is Role.MEMBER
    assert (await invite(CreateInvitationRequest(ADMIN, world["a"], Role.OWNER))).role is Role.OWNER
    new = await AddEnterprise(factory, clock)("3500748818", "Công ty Mới")
    first = await invite(CreateInvitationRequest(AGENT, int(new.id), Role.OWNER))
    assert first.business.tax_code == "3500748818"
    with pytest.raises(NotFound):
        await invite(CreateInvitationRequest(AGENT, 987654, Role.MEMBER))
    created = await events(uow, "invitation.created")
    assert [(e["actor"], e["details"]["role"]) for e in created] == [
        (OWNER, "member"),
        (AGENT, "member"),
        (ADMIN, "owner"),
        (AGENT, "owner"),
    ]
    assert all("token" not in str(e["details"]) for e in created)
    assert all(made.token not in str(e["details"]) for e in await events(uow))


async def test_an_invitation_is_used_once_and_expires(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    factory = lambda: uow  # noqa: E731
    made = await CreateInvitation(factory, clock)(
        CreateInvitationRequest(OWNER, world["a"], Role.MEMBER)
    )
    accept = AcceptInvitation(factory, clock)
    joined = await accept(AcceptInvitationRequest(person(201, "Bình"), made.token))
    assert joined.status is InvitationStatus.JOINED
    assert joined.business is not None and joined.business.id == world["a"]
    assert joined.inviter == Recipient(OWNER, "vi") and joined.joined_name == "Bình"
    assert await role_of(uow, 201, world["a"]) is Role.MEMBER
    reused = await accept(AcceptInvitationRequest(person(202), made.token))
    assert reused.status is InvitationStatus.USED and reused.business is None
    assert await role_of(uow, 202, world["a"]) is None
    assert told(uow, NoticeKind.INVITATION_USED) == [  # the inviter, once
        Notice(
            NoticeKind.INVITATION_USED,
            OWNER,
            "vi",
            {"business": "Công ty A", "tax_code": TAX_A, "name": "Bình", "role": "member"},
        )
    ]

    expiring = await CreateInvitation(factory, clock)(
        CreateInvitationRequest(OWNER, world["a"], Role.MEMBER)
    )
    clock.value = NOW + timedelta(days=7)
    expired = await accept(AcceptInvitationRequest(person(202), expiring.token))
    assert expired.status is InvitationStatus.EXPIRED and expired.business is None
    for token in ("nope", "", "x" * 65, "<script>"):
        invalid = await accept(AcceptInvitationRequest(person(202), token))
        assert invalid.status is InvitationStatus.INVALID
    assert await role_of(uow, 202, world["a"]) is None
    reasons = [e["details"]["reason"] for e in await events(uow, "invitation.refused")]
    assert reasons == ["used", "expired", "invalid", "invalid", "invalid", "invalid"]
    [used] = await events(uow, "invitation.used")
    assert (used["actor"], used["enterprise"]) == (201, world["a"])


async def test_an_invitation_for_a_picked_employee_is_sent_to_them_when_they_use_the_bot(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    factory = lambda: uow  # noqa: E731
    invite = CreateInvitation(factory, clock)
    # STRANGER wrote to the bot: the invitation goes to their chat too
    sent = await invite(CreateInvitationRequest(OWNER, world["a"], Role.MEMBER, STRANGER))
    assert sent.delivered
    assert told(uow, NoticeKind.INVITATION_RECEIVED) == [
        Notice(
            NoticeKind.INVITATION_RECEIVED,
            STRANGER,
            "vi",
            {
                "token": sent.token,
                "role": "member",
                "name": "Lan",
                "expires": sent.expires_at.isoformat(),
                "business": "Công ty A",
                "tax_code": TAX_A,
            },
        )
    ]
    # someone who never wrote to the bot, and the inviter themself: a link only
    unknown = await invite(CreateInvitationRequest(OWNER, world["a"], Role.MEMBER, 999_001))
    itself = await invite(CreateInvitationRequest(OWNER, world["a"], Role.MEMBER, OWNER))
    assert not unknown.delivered and not itself.delivered
    assert len(told(uow, NoticeKind.INVITATION_RECEIVED)) == 1
    created = [e["details"] for e in await events(uow, "invitation.created")]
    assert [(d.get("invitee_id"), d.get("delivered")) for d in created[-3:]] == [
        (STRANGER, True),
        (999_001, False),
        (OWNER, False),
    ]
    # a refused invitation tells nobody
    with pytest.raises(PermissionDenied):
        await invite(CreateInvitationRequest(MEMBER, world["a"], Role.MEMBER, STRANGER))
    assert len(told(uow, NoticeKind.INVITATION_RECEIVED)) == 1
    # the invitation is theirs only: anyone else holding the token is refused, learns nothing
    # of the business, and the invitation stays unused
    accept = AcceptInvitation(factory, clock)
    for someone in (202, MEMBER, OWNER):
        other = await accept(AcceptInvitationRequest(person(someone, "Khác"), sent.token))
        assert other == InvitationOutcome(InvitationStatus.NOT_INVITEE)
    assert await role_of(uow, 202, world["a"]) is None
    assert await role_of(uow, MEMBER, world["a"]) is Role.MEMBER
    refused = await events(uow, "invitation.refused")
    assert [(e["actor"], e["details"]["reason"]) for e in refused] == [
        (202, "not_invitee"),
        (MEMBER, "not_invitee"),
        (OWNER, "not_invitee"),
    ]
    assert told(uow, NoticeKind.INVITATION_USED) == []
    async with uow:
        stored = await uow.invitations.get_by_token(sent.token)
    assert stored is not None and stored.used_by is None and stored.invitee_id == STRANGER
    # the employee joins with the token they were sent
    joined = await accept(AcceptInvitationRequest(person(STRANGER, "Khách"), sent.token))
    assert joined.status is InvitationStatus.JOINED
    assert await role_of(uow, STRANGER, world["a"]) is Role.MEMBER
    # the one picked but never seen by the bot uses the link they were given
    late = await accept(AcceptInvitationRequest(person(999_001, "Chi"), unknown.token))
    assert late.status is InvitationStatus.JOINED


async def test_an_owner_is_not_demoted_by_a_member_link_and_a_member_is_promoted(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    factory = lambda: uow  # noqa: E731
    invite = CreateInvitation(factory, clock)
    accept = AcceptInvitation(factory, clock)
    member_link = await invite(CreateInvitationRequest(OWNER, world["a"], Role.MEMBER))
    kept = await accept(AcceptInvitationRequest(person(OWNER), member_link.token))
    assert kept.status is InvitationStatus.ALREADY_MEMBER
    assert await role_of(uow, OWNER, world["a"]) is Role.OWNER
    still = await accept(AcceptInvitationRequest(person(301), member_link.token))
    assert still.status is InvitationStatus.JOINED  # the link was not used up
    owner_link = await invite(CreateInvitationRequest(ADMIN, world["a"], Role.OWNER))
    promoted = await accept(AcceptInvitationRequest(person(MEMBER, "Mai"), owner_link.token))
    assert promoted.status is InvitationStatus.JOINED and promoted.role is Role.OWNER
    assert await role_of(uow, MEMBER, world["a"]) is Role.OWNER


async def test_staff_find_open_and_create_businesses(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    factory = lambda: uow  # noqa: E731
    search = SearchBusinesses(factory, clock)
    assert [b.name for b in await search(AGENT, "0100 233")] == ["Công ty A"]
    assert [b.name for b in await search(AGENT, "công ty")] == ["Công ty A", "Công ty B"]
    assert await search(ADMIN, "x") == []  # too short to mean anything
    assert await search(AGENT, "%%") == []  # no wildcard
    with pytest.raises(PermissionDenied):
        await search(OWNER, "Công ty")
    open_business = OpenBusiness(factory, clock)
    assert (await open_business(AGENT, world["b"])).tax_code == TAX_B
    for actor, enterprise in ((OWNER, world["b"]), (OWNER, world["a"]), (AGENT, 987654)):
        with pytest.raises(NotFound):  # a foreign, own-but-not-staff or unknown id alike
            await open_business(actor, enterprise)

    create = CreateBusiness(factory, clock)
    request = CreateBusinessRequest(AGENT, "3500748818", "Công ty C", "3 Lê Lợi", "c@c.vn")
    made = await create(request)
    assert made.created and made.business.tax_code == "3500748818"
    assert not (await create(request)).created
    with pytest.raises(PermissionDenied):
        await create(CreateBusinessRequest(OWNER, "0100112437", "D", "4 Lê Lợi", "d@d.vn"))
    assert await FindBusinessByTaxCode(factory)("0100112437") is None
    [added] = await events(uow, "enterprise.added")
    assert (added["actor"], added["details"]["by"]) == (AGENT, "staff")
    reasons = [(e["actor"], e["details"]["what"]) for e in await events(uow, "access.refused")]
    assert reasons == [
        (OWNER, "business_search"),
        (OWNER, "business"),
        (OWNER, "business"),
        (AGENT, "business"),
        (OWNER, "business_create"),
    ]

    told = await BusinessRecipients(factory)(world["a"], exclude=(AGENT,))
    assert told.owners == (Recipient(OWNER, "vi"),)
    assert (await BusinessRecipients(factory)(world["a"], exclude=(OWNER,))).owners == ()


async def test_only_admins_grant_from_the_chat(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    grant = GrantRoleByAdmin(lambda: uow, clock)
    with pytest.raises(PermissionDenied):
        await grant(AGENT, STRANGER, "agent")
    result = await grant(ADMIN, STRANGER, "member", TAX_A)
    assert result.changed and result.enterprise is not None
    assert await role_of(uow, STRANGER, world["a"]) is Role.MEMBER
    [granted] = [e for e in await events(uow, "role.granted") if e["actor"] == ADMIN]
    assert granted["details"] == {"user_id": STRANGER, "role": "member"}


async def test_members_cannot_register_agents_can_and_are_recorded(
    uow: FakeUnitOfWork, clock: Clock, world: dict[str, int]
) -> None:
    async with uow:
        await uow.catalog.replace(sample_catalog())
        await uow.commit()
    place = PlaceOrder(lambda: uow, sample_catalog, clock)
    for actor, enterprise in ((MEMBER, world["a"]), (STRANGER, world["a"]), (OWNER, world["b"])):
        refused = await place(order(actor, enterprise, f"k-{actor}-{enterprise}"))
        assert refused.kind is OrderOutcomeKind.REFUSED
    by_owner = await place(order(OWNER, world["a"], "k-owner"))
    by_agent = await place(order(AGENT, world["a"], "k-agent"))
    assert by_owner.kind is by_agent.kind is OrderOutcomeKind.CREATED
    async with uow:
        stored = await uow.orders.get_by_code(by_agent.order_code)
    assert stored is not None and stored.registered_by == AGENT
    [placed] = await events(uow, "agent.order_placed")
    assert (placed["actor"], placed["enterprise"]) == (AGENT, world["a"])
    assert placed["details"] == {"order": by_agent.order_code, "role": "agent"}
