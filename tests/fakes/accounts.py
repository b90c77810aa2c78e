"""Fake users, memberships, enterprises, invitations and join requests (storage/repositories/
accounts.py and joining.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from domain.model import (
    Enterprise,
    EnterpriseId,
    Invitation,
    InvitationId,
    JoinRequest,
    JoinRequestId,
    JoinRequestStatus,
    Membership,
    Principal,
    Role,
    User,
    UserId,
)
from tests.fakes.store import FakeRepository, as_stored, aware


class FakeUserRepository(FakeRepository):
    __slots__ = ()

    async def get(self, user_id: UserId) -> User | None:
        return (await self._t()).users.get(user_id)

    async def get_many(self, user_ids: Collection[UserId]) -> dict[UserId, User]:
        users = (await self._t()).users
        return {UserId(i): users[i] for i in set(user_ids) if i in users}

    async def upsert(self, user: User) -> User:
        t = await self._t()
        user = as_stored(user)
        old = t.users.get(user.id)
        if old is None:
            # the insert stores neither language_code nor unreachable_at
            stored = replace(user, language_code=None, unreachable_at=None)
        else:
            stored = replace(
                old,
                first_name=user.first_name,
                username=user.username,
                phone=user.phone if user.phone is not None else old.phone,
                locale=user.locale if user.locale is not None else old.locale,
            )
            if user.chat_seen_at is not None:  # seen again: reachable again
                stored = replace(stored, chat_seen_at=user.chat_seen_at, unreachable_at=None)
        t.users[user.id] = stored
        return stored

    async def ensure(self, user_id: UserId, now: datetime) -> User:
        t = await self._t()
        if user_id not in t.users:
            t.users[user_id] = User(id=user_id, first_name="", created_at=aware(now))
        return t.users[user_id]

    async def record_contact(self, user: User, now: datetime) -> None:
        t = await self._t()
        now = aware(now)
        old = t.users.get(user.id)
        if old is None:
            t.users[user.id] = User(
                id=user.id,
                first_name=user.first_name,
                username=user.username,
                language_code=user.language_code,
                created_at=now,
                chat_seen_at=now,
            )
        else:
            t.users[user.id] = replace(
                old,
                first_name=user.first_name,
                username=user.username,
                language_code=user.language_code,
                chat_seen_at=now,
                unreachable_at=None,
            )

    async def mark_unreachable(self, user_id: UserId, now: datetime) -> None:
        t = await self._t()
        if user_id in t.users:
            t.users[user_id] = replace(t.users[user_id], unreachable_at=aware(now))

    async def set_locale(self, user_id: UserId, locale: str | None) -> None:
        t = await self._t()
        if user_id in t.users:
            t.users[user_id] = replace(t.users[user_id], locale=locale)

    async def set_phone(self, user_id: UserId, phone: str | None) -> None:
        t = await self._t()
        if user_id in t.users:
            t.users[user_id] = replace(t.users[user_id], phone=phone)

    async def set_global_role(self, user_id: UserId, role: Role, enabled: bool = True) -> bool:
        if role is Role.ADMIN:
            column = "is_admin"
        elif role is Role.AGENT:
            column = "is_agent"
        else:
            raise ValueError(f"{role} is not a global role")
        t = await self._t()
        old = t.users.get(user_id)
        if old is None or getattr(old, column) == enabled:
            return False
        if column == "is_admin":
            t.users[user_id] = replace(old, is_admin=enabled)
        else:
            t.users[user_id] = replace(old, is_agent=enabled)
        return True

    async def reachable_admins(self, limit: int = 20) -> list[User]:
        users = (await self._t()).users
        return [users[i] for i in sorted(users) if users[i].is_admin and users[i].reachable][:limit]

    async def principal(self, user_id: UserId) -> Principal | None:
        t = await self._t()
        user = t.users.get(user_id)
        if user is None:
            return None
        memberships = tuple(
            Membership(UserId(u), EnterpriseId(e), role)
            for (u, e), (role, _) in sorted(t.memberships.items())
            if u == user_id
        )
        return Principal(user=user, memberships=memberships)


class FakeMembershipRepository(FakeRepository):
    __slots__ = ()

    async def for_user(self, user_id: UserId) -> list[Membership]:
        rows = (await self._t()).memberships
        return [
            Membership(UserId(u), EnterpriseId(e), role)
            for (u, e), (role, _) in sorted(rows.items())
            if u == user_id
        ]

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Membership]:
        rows = (await self._t()).memberships
        found = sorted(
            ((order, u, role) for (u, e), (role, order) in rows.items() if e == enterprise_id),
        )
        return [Membership(UserId(u), enterprise_id, role) for _, u, role in found]

    async def get(self, user_id: UserId, enterprise_id: EnterpriseId) -> Membership | None:
        row = (await self._t()).memberships.get((user_id, enterprise_id))
        return Membership(user_id, enterprise_id, row[0]) if row is not None else None

    async def add(self, membership: Membership) -> bool:
        t = await self._t()
        key = (membership.user_id, membership.enterprise_id)
        old = t.memberships.get(key)
        if old is None:
            self._fk(t.users, membership.user_id, "memberships.user_id")
            self._fk(t.enterprises, membership.enterprise_id, "memberships.enterprise_id")
            t.memberships[key] = (membership.role, self._store.tick())
            return True
        if old[0] == membership.role:
            return False
        t.memberships[key] = (membership.role, old[1])
        return True

    async def set_role(self, user_id: UserId, enterprise_id: EnterpriseId, role: Role) -> bool:
        Membership(user_id, enterprise_id, role)  # validates the role
        t = await self._t()
        old = t.memberships.get((user_id, enterprise_id))
        if old is None or old[0] == role:
            return False
        t.memberships[(user_id, enterprise_id)] = (role, old[1])
        return True

    async def remove(self, user_id: UserId, enterprise_id: EnterpriseId) -> bool:
        return (await self._t()).memberships.pop((user_id, enterprise_id), None) is not None


class FakeEnterpriseRepository(FakeRepository):
    __slots__ = ()

    async def get(self, enterprise_id: EnterpriseId) -> Enterprise | None:
        return (await self._t()).enterprises.get(enterprise_id)

    async def get_many(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]:
        rows = (await self._t()).enterprises
        return {EnterpriseId(i): rows[i] for i in set(enterprise_ids) if i in rows}

    async def by_tax_code(self, tax_code: str) -> Enterprise | None:
        rows = (await self._t()).enterprises.values()
        return next((e for e in rows if e.tax_code == tax_code), None)

    async def search(self, query: str, limit: int = 10) -> list[Enterprise]:
        query = query.strip()
        if not query:
            return []
        rows = (await self._t()).enterprises.values()
        found = [e for e in rows if e.tax_code.startswith(query) or query.lower() in e.name.lower()]
        return sorted(found, key=lambda e: (e.name, e.id))[:limit]

    async def add(self, enterprise: Enterprise) -> Enterprise:
        t = await self._t()
        new_id = EnterpriseId(self._store.next_id("enterprises"))
        existing = await self.by_tax_code(enterprise.tax_code)
        if existing is not None:
            return existing
        stored = as_stored(replace(enterprise, id=new_id))
        t.enterprises[new_id] = stored
        return replace(enterprise, id=new_id)

    async def update(self, enterprise: Enterprise) -> None:
        t = await self._t()
        old = t.enterprises.get(enterprise.id)
        if old is None:
            return
        other = await self.by_tax_code(enterprise.tax_code)
        if other is not None and other.id != enterprise.id:
            raise self._fail("unique enterprises.tax_code")
        t.enterprises[enterprise.id] = replace(enterprise, created_at=old.created_at)


class FakeInvitationRepository(FakeRepository):
    __slots__ = ()

    async def add(self, invitation: Invitation) -> Invitation:
        t = await self._t()
        new_id = InvitationId(self._store.next_id("invitations"))
        if any(i.token == invitation.token for i in t.invitations.values()):
            raise self._fail("unique invitations.token")
        self._fk(t.enterprises, invitation.enterprise_id, "invitations.enterprise_id")
        self._fk(t.users, invitation.created_by, "invitations.created_by")
        self._fk(t.users, invitation.used_by, "invitations.used_by")
        stored = as_stored(replace(invitation, id=new_id))
        t.invitations[new_id] = stored
        return replace(invitation, id=new_id)

    async def get_by_token(self, token: str, *, for_update: bool = False) -> Invitation | None:
        rows = (await self._t()).invitations.values()
        return next((i for i in rows if i.token == token), None)

    async def mark_used(self, token: str, user_id: UserId, at: datetime) -> bool:
        t = await self._t()
        found = await self.get_by_token(token)
        if found is None or found.used_by is not None:
            return False
        self._fk(t.users, user_id, "invitations.used_by")
        t.invitations[found.id] = replace(found, used_by=user_id, used_at=aware(at))
        return True

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Invitation]:
        rows = (await self._t()).invitations.values()
        mine = [i for i in rows if i.enterprise_id == enterprise_id]
        return sorted(mine, key=lambda i: (i.created_at, i.id), reverse=True)


class FakeJoinRequestRepository(FakeRepository):
    __slots__ = ()

    async def add(self, request: JoinRequest) -> JoinRequest:
        t = await self._t()
        new_id = JoinRequestId(self._store.next_id("join_requests"))
        self._fk(t.users, request.user_id, "join_requests.user_id")
        self._fk(t.enterprises, request.enterprise_id, "join_requests.enterprise_id")
        self._fk(t.users, request.decided_by, "join_requests.decided_by")
        stored = as_stored(replace(request, id=new_id))
        t.join_requests[new_id] = stored
        return replace(request, id=new_id)

    async def get(self, request_id: JoinRequestId) -> JoinRequest | None:
        return (await self._t()).join_requests.get(request_id)

    async def pending_for_enterprise(self, enterprise_id: EnterpriseId) -> list[JoinRequest]:
        rows = (await self._t()).join_requests.values()
        found = [
            r
            for r in rows
            if r.enterprise_id == enterprise_id and r.status is JoinRequestStatus.PENDING
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def pending_for_user(self, user_id: UserId) -> list[JoinRequest]:
        rows = (await self._t()).join_requests.values()
        found = [r for r in rows if r.user_id == user_id and r.status is JoinRequestStatus.PENDING]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def decide(
        self,
        request_id: JoinRequestId,
        status: JoinRequestStatus,
        decided_by: UserId,
        at: datetime,
    ) -> bool:
        if status is JoinRequestStatus.PENDING:
            raise ValueError("a decision is ACCEPTED or REFUSED")
        t = await self._t()
        found = t.join_requests.get(request_id)
        if found is None or found.status is not JoinRequestStatus.PENDING:
            return False
        self._fk(t.users, decided_by, "join_requests.decided_by")
        t.join_requests[request_id] = replace(
            found, status=status, decided_by=decided_by, decided_at=aware(at)
        )
        return True
