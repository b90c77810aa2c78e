"""Invitations.

- :class:`CreateInvitation` / :class:`AcceptInvitation` — a one-time, expiring invitation for a
  role in one business.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import NotFound, PermissionDenied
from domain.model import EnterpriseId, Invitation, Membership, Principal, Role, UserId
from domain.outbox import JsonValue, NoticeKind
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork, UowFactory
from domain.usecases.accounts.common import (
    BusinessView,
    Person,
    Recipient,
    _business_params,
    _event,
    _notice,
    _profile,
    _recipient,
    _refuse,
    log,
    uses_bot,
)

__all__ = [
    "INVITATION_TTL",
    "AcceptInvitation",
    "AcceptInvitationRequest",
    "CreateInvitation",
    "CreateInvitationRequest",
    "InvitationCreated",
    "InvitationOutcome",
    "InvitationStatus",
    "may_invite",
]

#: how long an invitation link can be used
INVITATION_TTL = timedelta(days=7)


def may_invite(principal: Principal | None, enterprise_id: EnterpriseId, role: Role) -> bool:
    """Owners invite members of their business; staff invite members of any business and the
    owners of a business that has none yet (its first); admins invite anyone as anything.
    (Whether the business has an owner is checked by :class:`CreateInvitation`.)"""
    if principal is None or role not in (Role.OWNER, Role.MEMBER):
        return False
    if role is Role.OWNER:
        return principal.may(Permission.INVITE_OWNER, enterprise_id)
    return principal.may(Permission.MANAGE_ACCOUNT, enterprise_id)


@dataclass(frozen=True, slots=True)
class CreateInvitationRequest:
    actor_id: int
    enterprise_id: int
    role: Role
    #: the person it is meant for, when the inviter picked them in Telegram: sent to them
    #: too when they use the bot, and nobody else may use it
    invitee_id: int | None = None


@dataclass(frozen=True, slots=True)
class InvitationCreated:
    token: str
    business: BusinessView
    role: Role
    expires_at: datetime
    #: the invitation went to the invitee's chat (through the outbox)
    delivered: bool = False


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
                    invitee_id=UserId(req.invitee_id) if req.invitee_id is not None else None,
                )
            )
            business = BusinessView.of(enterprise)
            delivered = await _deliver(uow, now, req, stored, business)
            await uow.history.add(
                _event(
                    "invitation.created",
                    now,
                    req.actor_id,
                    enterprise_id,
                    invitation_id=int(stored.id),
                    role=req.role.value,
                    expires_at=stored.expires_at.isoformat(),
                    **(
                        {"invitee_id": req.invitee_id, "delivered": delivered}
                        if req.invitee_id is not None
                        else {}
                    ),
                )
            )
            await uow.commit()
        return InvitationCreated(
            stored.token, business, stored.role, stored.expires_at, delivered=delivered
        )


async def _deliver(
    uow: UnitOfWork,
    now: datetime,
    req: CreateInvitationRequest,
    invitation: Invitation,
    business: BusinessView,
) -> bool:
    """Send the invitation to the invitee's chat when they use the bot; True if it was."""
    if req.invitee_id is None or req.invitee_id == req.actor_id:
        return False
    invitee = await uow.users.get(UserId(req.invitee_id))
    if not uses_bot(invitee):
        return False
    assert invitee is not None
    inviter = await uow.users.get(UserId(req.actor_id))
    params: dict[str, JsonValue] = {
        "token": invitation.token,
        "role": invitation.role.value,
        "name": (inviter.first_name if inviter is not None else "") or str(req.actor_id),
        "expires": invitation.expires_at.isoformat(),
        **_business_params(business),
    }
    await uow.outbox.add(_notice(NoticeKind.INVITATION_RECEIVED, _recipient(invitee), params), now)
    return True


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
    #: made for another person (picked in Telegram): refused, and the invitation stays unused
    NOT_INVITEE = "not_invitee"

    @property
    def refused(self) -> bool:
        return self in (
            InvitationStatus.USED,
            InvitationStatus.EXPIRED,
            InvitationStatus.INVALID,
            InvitationStatus.NOT_INVITEE,
        )


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
    or unknown link is refused and recorded; so is an invitation made for another person
    (picked by the inviter), which says nothing of the business and stays usable by its
    invitee. Owners are never demoted by a member link (the link then stays usable for the
    person it was meant for)."""

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
            elif not invitation.is_for(user_id):
                status = InvitationStatus.NOT_INVITEE
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
