"""Repositories of people and businesses: users, memberships, enterprises, invitations and
join requests (see :mod:`domain.ports`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from domain.model import (
    Enterprise,
    EnterpriseId,
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


class UserRepository(Protocol):
    async def get(self, user_id: UserId) -> User | None: ...

    async def get_many(self, user_ids: Collection[UserId]) -> dict[UserId, User]: ...

    async def upsert(self, user: User) -> User:
        """Insert the user, or refresh the Telegram profile (``first_name``, ``username``) of an
        existing one; ``phone`` and ``locale`` are overwritten only when the given user has them;
        a ``chat_seen_at`` given is stored and clears ``unreachable_at``; ``created_at`` and the
        global roles of an existing user are kept. One statement."""
        ...

    async def ensure(self, user_id: UserId, now: datetime) -> User:
        """The user, created with an empty profile if unknown (e.g. granted a role by id)."""
        ...

    async def record_contact(self, user: User, now: datetime) -> None:
        """The user wrote to the bot: insert them or refresh ``first_name``, ``username`` and
        ``language_code``; ``chat_seen_at`` becomes ``now`` and ``unreachable_at`` is cleared.
        Roles, phone and chosen locale are kept. One statement."""
        ...

    async def mark_unreachable(self, user_id: UserId, now: datetime) -> None:
        """Telegram refused a message to them (403)."""
        ...

    async def set_locale(self, user_id: UserId, locale: str | None) -> None: ...

    async def set_phone(self, user_id: UserId, phone: str | None) -> None: ...

    async def set_global_role(self, user_id: UserId, role: Role, enabled: bool = True) -> bool:
        """Grant (or revoke) ``admin``/``agent``; True if it changed anything."""
        ...

    async def principal(self, user_id: UserId) -> Principal | None:
        """The user with memberships and global roles, in one query; None if unknown."""
        ...

    async def reachable_admins(self, limit: int = 20) -> list[User]:
        """Admins the bot may write to (``User.reachable``), by id; at most ``limit``."""
        ...


class MembershipRepository(Protocol):
    async def for_user(self, user_id: UserId) -> list[Membership]: ...

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Membership]: ...

    async def get(self, user_id: UserId, enterprise_id: EnterpriseId) -> Membership | None: ...

    async def add(self, membership: Membership) -> bool:
        """Insert, or change the role of an existing membership; True if anything changed."""
        ...

    async def set_role(self, user_id: UserId, enterprise_id: EnterpriseId, role: Role) -> bool:
        """Change the role of an existing membership; False if there is none."""
        ...

    async def remove(self, user_id: UserId, enterprise_id: EnterpriseId) -> bool: ...


class EnterpriseRepository(Protocol):
    async def get(self, enterprise_id: EnterpriseId) -> Enterprise | None: ...

    async def get_many(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]: ...

    async def by_tax_code(self, tax_code: str) -> Enterprise | None: ...

    async def search(self, query: str, limit: int = 10) -> list[Enterprise]:
        """Enterprises whose tax code starts with, or whose name contains, ``query``."""
        ...

    async def add(self, enterprise: Enterprise) -> Enterprise:
        """Insert; idempotent on the tax code: if it exists, the stored enterprise is returned
        unchanged (compare ids to know whether it was created)."""
        ...

    async def update(self, enterprise: Enterprise) -> None: ...


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> Invitation: ...

    async def get_by_token(self, token: str, *, for_update: bool = False) -> Invitation | None: ...

    async def mark_used(self, token: str, user_id: UserId, at: datetime) -> bool:
        """Use the invitation if it is still unused; True for the one caller that did."""
        ...

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Invitation]: ...


class JoinRequestRepository(Protocol):
    async def add(self, request: JoinRequest) -> JoinRequest: ...

    async def get(self, request_id: JoinRequestId) -> JoinRequest | None: ...

    async def pending_for_enterprise(self, enterprise_id: EnterpriseId) -> list[JoinRequest]: ...

    async def pending_for_user(self, user_id: UserId) -> list[JoinRequest]: ...

    async def decide(
        self,
        request_id: JoinRequestId,
        status: JoinRequestStatus,
        decided_by: UserId,
        at: datetime,
    ) -> bool:
        """Accept or refuse a pending request; True for the one caller that decided it."""
        ...


class ContactWrites(Protocol):
    """Recording that a user wrote to the bot (:class:`domain.usecases.outbox.RecordContact`)
    outside any unit of work: the write is one statement (an upsert of the user's profile),
    committed when the call returns. A transaction around it would add nothing but its
    ``BEGIN`` and ``COMMIT``."""

    async def record_contact(self, user: User, now: datetime) -> None:
        """As ``UserRepository.record_contact``, committed."""
        ...


class RegistrationReads(Protocol):
    """What the registration steps read before **Xác nhận** (who the user is, a business's
    details, the uses of promotions), each read one statement outside any unit of work: what
    was committed when it ran. PlaceOrder reads them again in its own transaction."""

    async def principal(self, user_id: UserId) -> Principal | None: ...

    async def enterprise(self, enterprise_id: EnterpriseId) -> Enterprise | None: ...

    async def enterprises(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]: ...

    async def promotion_usage(
        self, codes: Collection[str], enterprise_id: EnterpriseId
    ) -> tuple[dict[str, int], dict[str, int]]:
        """As ``PromotionUsageRepository.usage``: the uses of each code in all and by the
        business."""
        ...
