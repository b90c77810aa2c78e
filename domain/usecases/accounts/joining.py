"""Joining an existing business.

- :class:`RequestToJoin` / :class:`DecideJoinRequest` — a user asks to join an existing business;
  one of its owners (or staff) accepts (the user becomes a **member**) or refuses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.errors import NotFound
from domain.model import (
    EnterpriseId,
    JoinRequest,
    JoinRequestId,
    JoinRequestStatus,
    Membership,
    Role,
    UserId,
)
from domain.outbox import NoticeKind
from domain.policy import Permission
from domain.ports import Clock, UowFactory
from domain.usecases.accounts.common import (
    BusinessView,
    Person,
    Recipient,
    _business_params,
    _event,
    _notice,
    _owners,
    _profile,
    _recipient,
    _refuse,
    uses_bot,
)
from domain.validation import validate_phone

__all__ = [
    "DecideJoinRequest",
    "DecideJoinRequestRequest",
    "JoinDecision",
    "JoinDecisionStatus",
    "JoinRequested",
    "JoinStatus",
    "RequestToJoin",
    "RequestToJoinRequest",
]


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
