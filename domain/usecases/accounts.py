"""Accounts: who a Telegram user is to the business, and how they become it.

Use cases (one callable each, one transaction, commit once):

- :class:`Greet` — ``/start``: store the user's Telegram profile and say where they stand.
- :class:`FindBusinessByTaxCode` — the sign-up's tax-code step: does the business exist?
- :class:`SignUp` — a new user creates their business and becomes its **owner**.
- :class:`RequestToJoin` / :class:`DecideJoinRequest` — a user asks to join an existing business;
  one of its owners (or staff) accepts (the user becomes a **member**) or refuses.
- :class:`CreateInvitation` / :class:`AcceptInvitation` — a one-time, expiring invitation for a
  role in one business.
- :class:`SearchBusinesses` / :class:`CreateBusiness` / :class:`OpenBusiness` — staff pick or
  create the business they act for.
- :class:`BusinessRecipients` — the owners of a business who use the bot (to tell them things).
- :class:`GrantRoleByAdmin` — ``/grant`` in the chat, for admins.

Invariants:

- Permissions are decided here, from the stored roles, never from what a button claims.
  owner: register, pay, manage and invite for their business; member: view; agent: act for any
  business, create businesses, invite a business's first owner; admin: all of that and grants.
- A request naming an object the actor may not touch is answered exactly like one naming an
  object that does not exist (:class:`NotFound`), is logged, and is recorded as an
  ``access.refused`` history event; nothing about the object is revealed.
- Grants, invitations, joins, staff actions and refusals are history events (who, what, when).
- A user "uses the bot" (may be messaged) once they wrote to it — any update records it — and
  until Telegram refuses a message to them (403: they blocked the bot); users created only by
  id (``users grant``) are not messaged before they write, since Telegram refuses messages to
  people who never opened the chat.
- What the bot owes other people (join requests to owners, answers to requesters, the inviter
  told) is written to the outbox in the transaction of the change that causes it.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import (
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Invitation,
    JoinRequest,
    JoinRequestId,
    JoinRequestStatus,
    Membership,
    Principal,
    Role,
    User,
    UserId,
)
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork, UowFactory
from domain.usecases.admin import GrantRole, GrantRoleRequest, GrantRoleResult
from domain.usecases.notices import locale_of
from domain.validation import (
    normalize_tax_code,
    validate_address,
    validate_company_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

__all__ = [
    "INVITATION_TTL",
    "SEARCH_LIMIT",
    "AcceptInvitation",
    "AcceptInvitationRequest",
    "BusinessRecipients",
    "BusinessView",
    "CreateBusiness",
    "CreateBusinessRequest",
    "CreateInvitation",
    "CreateInvitationRequest",
    "CreatedBusiness",
    "DecideJoinRequest",
    "DecideJoinRequestRequest",
    "FindBusinessByTaxCode",
    "GrantRoleByAdmin",
    "Greet",
    "Greeting",
    "InvitationCreated",
    "InvitationOutcome",
    "InvitationStatus",
    "JoinDecision",
    "JoinDecisionStatus",
    "JoinRequested",
    "JoinStatus",
    "OpenBusiness",
    "Person",
    "Recipient",
    "Recipients",
    "RequestToJoin",
    "RequestToJoinRequest",
    "SearchBusinesses",
    "SignUp",
    "SignUpRequest",
    "SignUpResult",
    "SignUpStatus",
    "may_invite",
    "parse_grant",
    "uses_bot",
]

log = logging.getLogger(__name__)

#: how long an invitation link can be used
INVITATION_TTL = timedelta(days=7)
#: at most this many businesses are offered by a search
SEARCH_LIMIT = 8
#: a search shorter than this (after trimming) finds nothing: it would match too much
MIN_QUERY = 2


# ---------------------------------------------------------------------------------------------
# Values shared by the use cases


@dataclass(frozen=True, slots=True)
class Person:
    """Who writes to the bot, as Telegram tells it (the roles come from the database)."""

    user_id: int
    first_name: str
    username: str | None = None
    #: the language the user sees the bot in (stored, so messages sent to them later use it)
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone to tell something: their private chat (= their Telegram id) and language."""

    chat_id: int
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class BusinessView:
    id: int
    name: str
    tax_code: str

    @classmethod
    def of(cls, enterprise: Enterprise) -> BusinessView:
        return cls(int(enterprise.id), enterprise.name, enterprise.tax_code)


def uses_bot(user: User | None) -> bool:
    """True when the bot may message the user: they wrote to it (any update records that) and
    Telegram has not refused a message to them since (see :attr:`User.reachable`)."""
    return user is not None and user.reachable


def _recipient(user: User) -> Recipient:
    return Recipient(int(user.id), locale_of(user) or None)


def _notice(kind: NoticeKind, to: Recipient, params: dict[str, JsonValue]) -> Notice:
    return Notice(kind, to.chat_id, to.locale or "", params)


def _business_params(business: BusinessView) -> dict[str, JsonValue]:
    return {"business": business.name, "tax_code": business.tax_code}


def _profile(person: Person, now: datetime, phone: str | None = None) -> User:
    return User(
        id=UserId(person.user_id),
        first_name=person.first_name.strip()[:255] or str(person.user_id),
        username=person.username,
        phone=phone,
        locale=person.locale,
        created_at=now,
        chat_seen_at=now,  # only the person's own updates reach these use cases
    )


async def _owners(uow: UnitOfWork, enterprise_id: EnterpriseId) -> tuple[Recipient, ...]:
    """The business's owners who use the bot, in a stable order."""
    members = await uow.memberships.for_enterprise(enterprise_id)
    ids = [m.user_id for m in members if m.role is Role.OWNER]
    if not ids:
        return ()
    users = await uow.users.get_many(ids)
    return tuple(_recipient(users[i]) for i in ids if uses_bot(users.get(i)))


async def _refuse(
    uow: UnitOfWork,
    now: datetime,
    actor_id: int,
    what: str,
    reason: str,
    **details: object,
) -> None:
    """Record and log a refused request, then commit (the refusal is the only change)."""
    log.warning("refused %s for user %s: %s %s", what, actor_id, reason, details or "")
    await uow.history.add(
        HistoryEvent(
            action="access.refused",
            created_at=now,
            actor_id=UserId(actor_id),
            details={"what": what, "reason": reason, **details},
        )
    )
    await uow.commit()


def _event(
    action: str,
    now: datetime,
    actor_id: int | None,
    enterprise_id: EnterpriseId | None = None,
    **details: object,
) -> HistoryEvent:
    return HistoryEvent(
        action=action,
        created_at=now,
        enterprise_id=enterprise_id,
        actor_id=UserId(actor_id) if actor_id is not None else None,
        details=dict(details),
    )


def may_invite(principal: Principal | None, enterprise_id: EnterpriseId, role: Role) -> bool:
    """Owners invite members of their business; staff invite members of any business and the
    owners of a business that has none yet (its first); admins invite anyone as anything.
    (Whether the business has an owner is checked by :class:`CreateInvitation`.)"""
    if principal is None or role not in (Role.OWNER, Role.MEMBER):
        return False
    if role is Role.OWNER:
        return principal.may(Permission.INVITE_OWNER, enterprise_id)
    return principal.may(Permission.MANAGE_ACCOUNT, enterprise_id)


# ---------------------------------------------------------------------------------------------
# /start


@dataclass(frozen=True, slots=True)
class Greeting:
    """Where the user stands. ``known``: they have a role (in a business, or as staff)."""

    known: bool
    is_staff: bool = False
    #: businesses the user asked to join, still waiting for an owner's answer
    pending: tuple[BusinessView, ...] = ()


class Greet:
    """Store the user's Telegram profile (so the bot may message them later) and tell whether
    they are known. Two to four statements; commits once."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, person: Person) -> Greeting:
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.users.upsert(_profile(person, now))
            principal = await uow.users.principal(UserId(person.user_id))
            assert principal is not None
            if principal.is_staff or principal.memberships:
                await uow.commit()
                return Greeting(known=True, is_staff=principal.is_staff)
            pending = await uow.join_requests.pending_for_user(UserId(person.user_id))
            names = await uow.enterprises.get_many([r.enterprise_id for r in pending])
            await uow.commit()
        return Greeting(
            known=False,
            pending=tuple(BusinessView.of(names[r.enterprise_id]) for r in pending),
        )


# ---------------------------------------------------------------------------------------------
# Sign-up and joining


class FindBusinessByTaxCode:
    """The business with this tax code (validated first), or None. Tax codes and names of
    businesses are public registry data, so any user may look one up."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, tax_code: str) -> BusinessView | None:
        code = validate_tax_code(tax_code)
        async with self._uow() as uow:
            found = await uow.enterprises.by_tax_code(code)
        return BusinessView.of(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class SignUpRequest:
    person: Person
    phone: str  # the user's own, shared through Telegram's contact button
    tax_code: str
    name: str
    address: str
    email: str


class SignUpStatus(enum.StrEnum):
    CREATED = "created"  # the business exists now and the user owns it
    EXISTS = "exists"  # the tax code belongs to a business already: ask to join instead


@dataclass(frozen=True, slots=True)
class SignUpResult:
    status: SignUpStatus
    business: BusinessView


class SignUp:
    """A new user creates their business and becomes its owner.

    Every field is validated again (the conversation validated it at entry). When the tax code
    is taken — even by a sign-up that committed a moment ago — nothing is created and the
    result says ``EXISTS``. The user's profile and phone are stored either way."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: SignUpRequest) -> SignUpResult:
        now = self._clock.now()
        phone = validate_phone(req.phone)
        wanted = Enterprise(
            tax_code=validate_tax_code(req.tax_code),
            name=validate_company_name(req.name),
            address=validate_address(req.address),
            email=validate_email(req.email),
            phone=phone,
            created_at=now,
        )
        user_id = UserId(req.person.user_id)
        async with self._uow() as uow:
            await uow.users.upsert(_profile(req.person, now, phone))
            existing = await uow.enterprises.by_tax_code(wanted.tax_code)
            if existing is not None:
                await uow.commit()
                return SignUpResult(SignUpStatus.EXISTS, BusinessView.of(existing))
            stored = await uow.enterprises.add(wanted)
            if stored != replace(wanted, id=stored.id):
                await uow.commit()  # a concurrent sign-up stored it first
                return SignUpResult(SignUpStatus.EXISTS, BusinessView.of(stored))
            await uow.memberships.add(Membership(user_id, stored.id, Role.OWNER))
            await uow.history.add(
                _event(
                    "enterprise.signed_up",
                    now,
                    user_id,
                    stored.id,
                    tax_code=stored.tax_code,
                    name=stored.name,
                )
            )
            await uow.history.add(
                _event(
                    "role.granted",
                    now,
                    user_id,
                    stored.id,
                    user_id=int(user_id),
                    role=Role.OWNER.value,
                    via="sign_up",
                )
            )
            await uow.commit()
        return SignUpResult(SignUpStatus.CREATED, BusinessView.of(stored))


@dataclass(frozen=True, slots=True)
class RequestToJoinRequest:
    person: Person
    phone: str
    enterprise_id: int


class JoinStatus(enum.StrEnum):
    CREATED = "created"  # a new request: tell the owners
    PENDING = "pending"  # the user had already asked: nobody is told again
    MEMBER = "member"  # the user already belongs to the business


@dataclass(frozen=True, slots=True)
class JoinRequested:
    status: JoinStatus
    business: BusinessView
    request_id: int = 0
    #: the owners to ask (those who use the bot); empty: nobody can answer in Telegram yet
    owners: tuple[Recipient, ...] = ()
    requester_name: str = ""
    requester_phone: str = ""


class RequestToJoin:
    """Ask to join an existing business; its owners decide. One pending request per user and
    business."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: RequestToJoinRequest) -> JoinRequested:
        now = self._clock.now()
        phone = validate_phone(req.phone)
        user_id = UserId(req.person.user_id)
        enterprise_id = EnterpriseId(req.enterprise_id)
        async with self._uow() as uow:
            enterprise = await uow.enterprises.get(enterprise_id)
            if enterprise is None:
                raise NotFound("no such business", field="enterprise")
            business = BusinessView.of(enterprise)
            user = await uow.users.upsert(_profile(req.person, now, phone))
            if await uow.memberships.get(user_id, enterprise_id) is not None:
                await uow.commit()
                return JoinRequested(JoinStatus.MEMBER, business)
            pending = await uow.join_requests.pending_for_user(user_id)
            mine = next((r for r in pending if r.enterprise_id == enterprise_id), None)
            if mine is not None:
                await uow.commit()
                return JoinRequested(JoinStatus.PENDING, business, request_id=int(mine.id))
            stored = await uow.join_requests.add(
                JoinRequest(user_id=user_id, enterprise_id=enterprise_id, created_at=now)
            )
            owners = await _owners(uow, enterprise_id)
            await uow.history.add(
                _event("join.requested", now, user_id, enterprise_id, request_id=int(stored.id))
            )
            result = JoinRequested(
                JoinStatus.CREATED,
                business,
                request_id=int(stored.id),
                owners=owners,
                requester_name=user.first_name,
                requester_phone=phone,
            )
            params = {
                **_business_params(business),
                "request": result.request_id,
                "name": result.requester_name,
                "phone": phone,
            }
            for owner in owners:
                await uow.outbox.add(_notice(NoticeKind.JOIN_REQUESTED, owner, params), now)
            await uow.commit()
        return result


@dataclass(frozen=True, slots=True)
class DecideJoinRequestRequest:
    actor_id: int
    request_id: int
    accept: bool


class JoinDecisionStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    ALREADY_DECIDED = "already_decided"  # someone answered first; ``decided`` says how


@dataclass(frozen=True, slots=True)
class JoinDecision:
    status: JoinDecisionStatus
    business: BusinessView
    requester: Recipient
    requester_name: str
    #: the request's final status (for ALREADY_DECIDED: what the first answer was)
    decided: JoinRequestStatus


class DecideJoinRequest:
    """**Chấp nhận** / **Từ chối** on a join request. Only the business's owners and staff
    decide; an unknown request and a request of a business the actor may not manage are
    refused alike (:class:`NotFound`, recorded). The first answer wins."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: DecideJoinRequestRequest) -> JoinDecision:
        now = self._clock.now()
        async with self._uow() as uow:
            request = await uow.join_requests.get(JoinRequestId(req.request_id))
            principal = await uow.users.principal(UserId(req.actor_id))
            if (
                request is None
                or principal is None
                or not principal.may(Permission.MANAGE_ACCOUNT, request.enterprise_id)
            ):
                reason = "not_found" if request is None else "not_permitted"
                await _refuse(
                    uow, now, req.actor_id, "join_request", reason, request_id=req.request_id
                )
                raise NotFound("join request not found", field="join_request")
            enterprise = await uow.enterprises.get(request.enterprise_id)
            requester = await uow.users.get(request.user_id)
            assert enterprise is not None and requester is not None  # foreign keys
            business = BusinessView.of(enterprise)
            status = JoinRequestStatus.ACCEPTED if req.accept else JoinRequestStatus.REFUSED
            decided = await uow.join_requests.decide(request.id, status, principal.user_id, now)
            if not decided:
                current = await uow.join_requests.get(request.id)
                assert current is not None
                return JoinDecision(
                    JoinDecisionStatus.ALREADY_DECIDED,
                    business,
                    _recipient(requester),
                    requester.first_name,
                    current.status,
                )
            if req.accept:
                await uow.memberships.add(
                    Membership(request.user_id, request.enterprise_id, Role.MEMBER)
                )
            action = "join.accepted" if req.accept else "join.refused"
            await uow.history.add(
                _event(
                    action,
                    now,
                    req.actor_id,
                    request.enterprise_id,
                    request_id=int(request.id),
                    user_id=int(request.user_id),
                )
            )
            if req.accept:
                await uow.history.add(
                    _event(
                        "role.granted",
                        now,
                        req.actor_id,
                        request.enterprise_id,
                        user_id=int(request.user_id),
                        role=Role.MEMBER.value,
                        via="join_request",
                    )
                )
            if uses_bot(requester):
                await uow.outbox.add(
                    _notice(
                        NoticeKind.JOIN_DECIDED,
                        _recipient(requester),
                        {
                            **_business_params(business),
                            "name": requester.first_name,
                            "accepted": req.accept,
                        },
                    ),
                    now,
                )
            await uow.commit()
        return JoinDecision(
            JoinDecisionStatus.ACCEPTED if req.accept else JoinDecisionStatus.REFUSED,
            business,
            _recipient(requester),
            requester.first_name,
            status,
        )


# ---------------------------------------------------------------------------------------------
# Invitations


@dataclass(frozen=True, slots=True)
class CreateInvitationRequest:
    actor_id: int
    enterprise_id: int
    role: Role


@dataclass(frozen=True, slots=True)
class InvitationCreated:
    token: str
    business: BusinessView
    role: Role
    expires_at: datetime


class CreateInvitation:
    """A one-time invitation for ``role`` in one business, valid for ``ttl``.

    Who may: see :func:`may_invite`; an agent's invitation for an owner is refused once the
    business has an owner (then its owners decide who joins). A refusal raises
    :class:`PermissionDenied` (recorded); an unknown business :class:`NotFound`."""

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        ttl: timedelta = INVITATION_TTL,
        token: Callable[[], str] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ttl = ttl
        self._token = token or (lambda: secrets.token_urlsafe(18))

    async def __call__(self, req: CreateInvitationRequest) -> InvitationCreated:
        now = self._clock.now()
        enterprise_id = EnterpriseId(req.enterprise_id)
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(req.actor_id))
            allowed = may_invite(principal, enterprise_id, req.role)
            enterprise = await uow.enterprises.get(enterprise_id) if allowed else None
            if allowed and enterprise is None:
                raise NotFound("no such business", field="enterprise")
            if (
                allowed
                and principal is not None
                and req.role is Role.OWNER
                and not principal.is_admin
            ):
                members = await uow.memberships.for_enterprise(enterprise_id)
                allowed = not any(m.role is Role.OWNER for m in members)
            if not allowed or enterprise is None:
                await _refuse(
                    uow,
                    now,
                    req.actor_id,
                    "invitation",
                    "not_permitted",
                    enterprise_id=req.enterprise_id,
                    role=req.role.value,
                )
                raise PermissionDenied("may not invite", field="invitation")
            stored = await uow.invitations.add(
                Invitation(
                    token=self._token(),
                    enterprise_id=enterprise_id,
                    role=req.role,
                    created_by=UserId(req.actor_id),
                    expires_at=now + self._ttl,
                    created_at=now,
                )
            )
            await uow.history.add(
                _event(
                    "invitation.created",
                    now,
                    req.actor_id,
                    enterprise_id,
                    invitation_id=int(stored.id),
                    role=req.role.value,
                    expires_at=stored.expires_at.isoformat(),
                )
            )
            await uow.commit()
        return InvitationCreated(
            stored.token, BusinessView.of(enterprise), stored.role, stored.expires_at
        )


@dataclass(frozen=True, slots=True)
class AcceptInvitationRequest:
    person: Person
    token: str


class InvitationStatus(enum.StrEnum):
    JOINED = "joined"  # the user has the role now; the invitation is used up
    ALREADY_MEMBER = "already_member"  # they had that role (or owner): the link stays unused
    USED = "used"
    EXPIRED = "expired"
    INVALID = "invalid"  # no such invitation

    @property
    def refused(self) -> bool:
        return self in (InvitationStatus.USED, InvitationStatus.EXPIRED, InvitationStatus.INVALID)


@dataclass(frozen=True, slots=True)
class InvitationOutcome:
    status: InvitationStatus
    #: set for JOINED and ALREADY_MEMBER only: a refused link reveals nothing
    business: BusinessView | None = None
    role: Role | None = None
    #: the person who invited, to be told (JOINED, when they use the bot)
    inviter: Recipient | None = None
    joined_name: str = ""


#: what a token may look like (``secrets.token_urlsafe`` output); anything else is invalid
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class AcceptInvitation:
    """Use an invitation link: the user gets its role in its business, once. A used, expired
    or unknown link is refused and recorded. Owners are never demoted by a member link (the
    link then stays usable for the person it was meant for)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: AcceptInvitationRequest) -> InvitationOutcome:
        now = self._clock.now()
        user_id = UserId(req.person.user_id)
        token = req.token.strip()
        async with self._uow() as uow:
            user = await uow.users.upsert(_profile(req.person, now))
            invitation = None
            if token and len(token) <= 64 and set(token) <= _TOKEN_CHARS:
                invitation = await uow.invitations.get_by_token(token, for_update=True)
            if invitation is None:
                status = InvitationStatus.INVALID
            elif invitation.used_by is not None:
                status = InvitationStatus.USED
            elif not invitation.is_usable(now):
                status = InvitationStatus.EXPIRED
            else:
                status = InvitationStatus.JOINED
            if status is InvitationStatus.JOINED:
                assert invitation is not None
                current = await uow.memberships.get(user_id, invitation.enterprise_id)
                if current is not None and (
                    current.role is Role.OWNER or current.role is invitation.role
                ):
                    status = InvitationStatus.ALREADY_MEMBER
                elif not await uow.invitations.mark_used(token, user_id, now):
                    status = InvitationStatus.USED
            if status.refused:
                await uow.history.add(
                    _event(
                        "invitation.refused",
                        now,
                        user_id,
                        invitation.enterprise_id if invitation is not None else None,
                        reason=status.value,
                        invitation_id=int(invitation.id) if invitation is not None else None,
                    )
                )
                log.warning("invitation refused for user %s: %s", user_id, status.value)
                await uow.commit()
                return InvitationOutcome(status)
            assert invitation is not None
            enterprise = await uow.enterprises.get(invitation.enterprise_id)
            assert enterprise is not None
            business = BusinessView.of(enterprise)
            if status is InvitationStatus.ALREADY_MEMBER:
                await uow.commit()
                return InvitationOutcome(status, business, invitation.role)
            await uow.memberships.add(
                Membership(user_id, invitation.enterprise_id, invitation.role)
            )
            await uow.history.add(
                _event(
                    "invitation.used",
                    now,
                    user_id,
                    invitation.enterprise_id,
                    invitation_id=int(invitation.id),
                    role=invitation.role.value,
                )
            )
            await uow.history.add(
                _event(
                    "role.granted",
                    now,
                    invitation.created_by,
                    invitation.enterprise_id,
                    user_id=int(user_id),
                    role=invitation.role.value,
                    via="invitation",
                )
            )
            inviter = await uow.users.get(invitation.created_by)
            told = _recipient(inviter) if uses_bot(inviter) and inviter is not None else None
            if told is not None:
                params = {
                    **_business_params(business),
                    "name": user.first_name,
                    "role": invitation.role.value,
                }
                await uow.outbox.add(_notice(NoticeKind.INVITATION_USED, told, params), now)
            await uow.commit()
        return InvitationOutcome(
            InvitationStatus.JOINED,
            business,
            invitation.role,
            inviter=told,
            joined_name=user.first_name,
        )


# ---------------------------------------------------------------------------------------------
# Staff: finding and creating the business they act for


async def _staff(
    uow: UnitOfWork, actor_id: int, now: datetime, what: str, permission: Permission
) -> Principal:
    principal = await uow.users.principal(UserId(actor_id))
    if principal is None or not principal.may(permission):
        await _refuse(uow, now, actor_id, what, "not_staff")
        raise PermissionDenied("staff only", field=what)
    return principal


def _looks_like_tax_code(query: str) -> bool:
    digits = normalize_tax_code(query)
    return bool(digits) and digits.isdigit() and len(digits) <= 13


class SearchBusinesses:
    """Staff search businesses by tax code (its beginning, spaces/dots/dashes ignored) or by
    a part of the name; at most :data:`SEARCH_LIMIT`, by name."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, actor_id: int, query: str) -> list[BusinessView]:
        text = " ".join(query.split())
        if _looks_like_tax_code(text):
            text = normalize_tax_code(text)
            if len(text) > 10:
                text = f"{text[:10]}-{text[10:]}"
        async with self._uow() as uow:
            await _staff(
                uow, actor_id, self._clock.now(), "business_search", Permission.FIND_BUSINESS
            )
            if len(text) < MIN_QUERY:
                return []
            found = await uow.enterprises.search(text, limit=SEARCH_LIMIT)
        return [BusinessView.of(e) for e in found]


class OpenBusiness:
    """The business a staff member picked (from a search result button): staff only; an
    unknown id and a non-staff actor are refused alike (:class:`NotFound`, recorded)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, actor_id: int, enterprise_id: int) -> BusinessView:
        now = self._clock.now()
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(actor_id))
            found = await uow.enterprises.get(EnterpriseId(enterprise_id))
            if found is None or principal is None or not principal.may(Permission.FIND_BUSINESS):
                reason = "not_found" if found is None else "not_staff"
                await _refuse(uow, now, actor_id, "business", reason, enterprise_id=enterprise_id)
                raise NotFound("no such business", field="enterprise")
        return BusinessView.of(found)


@dataclass(frozen=True, slots=True)
class CreateBusinessRequest:
    actor_id: int
    tax_code: str
    name: str
    address: str
    email: str


@dataclass(frozen=True, slots=True)
class CreatedBusiness:
    business: BusinessView
    created: bool  # False: a business with this tax code existed and is returned unchanged


class CreateBusiness:
    """Staff create a business for a customer (then invite its first owner, or register for
    it). Idempotent on the tax code. Raises :class:`PermissionDenied` for anyone else."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: CreateBusinessRequest) -> CreatedBusiness:
        now = self._clock.now()
        wanted = Enterprise(
            tax_code=validate_tax_code(req.tax_code),
            name=validate_company_name(req.name),
            address=validate_address(req.address),
            email=validate_email(req.email),
            created_at=now,
        )
        async with self._uow() as uow:
            await _staff(uow, req.actor_id, now, "business_create", Permission.CREATE_BUSINESS)
            existing = await uow.enterprises.by_tax_code(wanted.tax_code)
            if existing is not None:
                return CreatedBusiness(BusinessView.of(existing), created=False)
            stored = await uow.enterprises.add(wanted)
            created = stored == replace(wanted, id=stored.id)  # else a concurrent add won
            if created:
                await uow.history.add(
                    _event(
                        "enterprise.added",
                        now,
                        req.actor_id,
                        stored.id,
                        tax_code=stored.tax_code,
                        name=stored.name,
                        by="staff",
                    )
                )
            await uow.commit()
        return CreatedBusiness(BusinessView.of(stored), created=created)


# ---------------------------------------------------------------------------------------------
# Telling a business's owners


@dataclass(frozen=True, slots=True)
class Recipients:
    business: BusinessView
    owners: tuple[Recipient, ...]


class BusinessRecipients:
    """The owners of a business who use the bot, except ``exclude`` (e.g. the agent acting)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, enterprise_id: int, exclude: Iterable[int] = ()) -> Recipients:
        skip = set(exclude)
        async with self._uow() as uow:
            enterprise = await uow.enterprises.get(EnterpriseId(enterprise_id))
            if enterprise is None:
                raise NotFound("no such business", field="enterprise")
            owners = await _owners(uow, enterprise.id)
        return Recipients(
            BusinessView.of(enterprise), tuple(o for o in owners if o.chat_id not in skip)
        )


# ---------------------------------------------------------------------------------------------
# Grants from the chat


class GrantRoleByAdmin:
    """``/grant TELEGRAM_ID ROLE [TAX_CODE]`` typed by an admin: :class:`GrantRole` with the
    admin recorded as the actor. Anyone else is refused (:class:`PermissionDenied`,
    recorded)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, actor_id: int, user_id: int, role: str, tax_code: str | None = None
    ) -> GrantRoleResult:
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(actor_id))
            if principal is None or not principal.may(Permission.GRANT):
                await _refuse(uow, self._clock.now(), actor_id, "grant", "not_admin")
                raise PermissionDenied("admins only", field="grant")
        request = GrantRoleRequest(
            user_id=user_id, role=role, tax_code=tax_code, actor_id=UserId(actor_id)
        )
        return await GrantRole(self._uow, self._clock)(request)


def parse_grant(arg: str) -> tuple[int, str, str | None]:
    """``"123456789 owner 0100233488"`` → ``(123456789, "owner", "0100233488")``."""
    parts = arg.split()
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        raise InvalidInput(
            "usage: /grant TELEGRAM_ID ROLE [TAX_CODE]",
            field="grant",
            reason="grant.usage",
            example="/grant 123456789 member 0100233488",
        )
    return int(parts[0]), parts[1], parts[2] if len(parts) == 3 else None
