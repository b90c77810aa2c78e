"""Users, memberships and enterprises."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from domain.model import (
    Enterprise,
    EnterpriseId,
    Membership,
    Principal,
    Role,
    User,
    UserId,
)
from storage.models import EnterpriseRow, MembershipRow, UserRow, UTCDateTime
from storage.repositories._common import SqlRepository, rowcount, utcnow

_USER_COLUMNS = tuple(UserRow.__table__.c)

# The reads of every registration step, built once: a Core statement of table columns skips
# the ORM's entity loading, and a statement built once skips its construction and cache key
# on every call (the enterprise read: about half its CPU, measured alone).
_USERS = cast(Table, UserRow.__table__)
_MEMBERSHIPS = cast(Table, MembershipRow.__table__)
_ENTERPRISES = cast(Table, EnterpriseRow.__table__)
ENTERPRISE_BY_ID = select(_ENTERPRISES).where(_ENTERPRISES.c.id == bindparam("id"))
ENTERPRISES_BY_IDS = select(_ENTERPRISES).where(
    _ENTERPRISES.c.id.in_(bindparam("ids", expanding=True))
)
PRINCIPAL = (
    select(
        *_USERS.c,
        _MEMBERSHIPS.c.enterprise_id.label("membership_enterprise_id"),
        _MEMBERSHIPS.c.role.label("membership_role"),
    )
    .outerjoin(_MEMBERSHIPS, _MEMBERSHIPS.c.user_id == _USERS.c.id)
    .where(_USERS.c.id == bindparam("id"))
    .order_by(_MEMBERSHIPS.c.enterprise_id)
)


def to_user(row: Any) -> User:
    return User(
        id=UserId(row.id),
        first_name=row.first_name,
        username=row.username,
        phone=row.phone,
        locale=row.locale,
        is_admin=bool(row.is_admin),
        is_agent=bool(row.is_agent),
        created_at=row.created_at,
        language_code=row.language_code,
        chat_seen_at=row.chat_seen_at,
        unreachable_at=row.unreachable_at,
    )


def to_membership(row: Any) -> Membership:
    return Membership(
        user_id=UserId(row.user_id),
        enterprise_id=EnterpriseId(row.enterprise_id),
        role=Role(row.role),
    )


def to_principal(rows: Sequence[Any]) -> Principal | None:
    """The user and memberships from the rows of :data:`PRINCIPAL` (None: no rows)."""
    if not rows:
        return None
    user = to_user(rows[0])
    memberships = tuple(
        Membership(
            user_id=user.id,
            enterprise_id=EnterpriseId(r.membership_enterprise_id),
            role=Role(r.membership_role),
        )
        for r in rows
        if r.membership_enterprise_id is not None
    )
    return Principal(user=user, memberships=memberships)


def to_enterprise(row: Any) -> Enterprise:
    return Enterprise(
        id=EnterpriseId(row.id),
        tax_code=row.tax_code,
        name=row.name,
        address=row.address,
        email=row.email,
        phone=row.phone,
        province=row.province,
        created_at=row.created_at,
    )


_ROLE_COLUMN = {Role.ADMIN: UserRow.is_admin, Role.AGENT: UserRow.is_agent}


def _record_contact(insert: Any) -> Any:
    """The first update of every user writes it (then ContactRecorder's cache skips it)."""
    now = bindparam("now", type_=UTCDateTime())
    stmt = insert(_USERS).values(
        id=bindparam("id"),
        first_name=bindparam("first_name"),
        username=bindparam("username"),
        language_code=bindparam("language_code"),
        is_admin=False,
        is_agent=False,
        created_at=now,
        chat_seen_at=now,
        # NULL in the SQL, not a parameter: the statement also runs on the driver
        # (storage.writes), which sends the parameters it is given by name
        unreachable_at=null(),
    )
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[_USERS.c.id],
        set_={
            "first_name": excluded.first_name,
            "username": excluded.username,
            "language_code": excluded.language_code,
            "chat_seen_at": excluded.chat_seen_at,
            "unreachable_at": null(),
        },
    )


_RECORD_CONTACT = {
    "sqlite": _record_contact(sqlite.insert),
    "postgresql": _record_contact(postgresql.insert),
}


def record_contact_statement(dialect: str) -> Any:
    """The contact's upsert for ``dialect`` (``sqlite`` or ``postgresql``), built once."""
    return _RECORD_CONTACT[dialect]


def contact_values(user: User, now: datetime) -> dict[str, Any]:
    """The parameters of :func:`record_contact_statement` for ``user`` seen at ``now``."""
    return {
        "id": user.id,
        "first_name": user.first_name,
        "username": user.username,
        "language_code": user.language_code,
        "now": now,
    }


class SqlUserRepository(SqlRepository):
    __slots__ = ()

    async def get(self, user_id: UserId) -> User | None:
        row = await self._session.scalar(select(UserRow).where(UserRow.id == user_id))
        return to_user(row) if row is not None else None

    async def get_many(self, user_ids: Collection[UserId]) -> dict[UserId, User]:
        if not user_ids:
            return {}
        rows = await self._session.scalars(select(UserRow).where(UserRow.id.in_(set(user_ids))))
        return {UserId(r.id): to_user(r) for r in rows}

    async def upsert(self, user: User) -> User:
        stmt = self._insert(UserRow).values(
            id=user.id,
            first_name=user.first_name,
            username=user.username,
            phone=user.phone,
            locale=user.locale,
            is_admin=user.is_admin,
            is_agent=user.is_agent,
            created_at=user.created_at,
            chat_seen_at=user.chat_seen_at,
        )
        excluded = stmt.excluded
        seen: dict[str, Any] = {}
        if user.chat_seen_at is not None:
            seen = {"chat_seen_at": excluded.chat_seen_at, "unreachable_at": None}
        stmt = stmt.on_conflict_do_update(
            index_elements=[UserRow.id],
            set_={
                "first_name": excluded.first_name,
                "username": excluded.username,
                "phone": func.coalesce(excluded.phone, UserRow.phone),
                "locale": func.coalesce(excluded.locale, UserRow.locale),
                **seen,
            },
        ).returning(*_USER_COLUMNS)
        row = (await self._session.execute(stmt)).one()
        return to_user(row)

    async def ensure(self, user_id: UserId, now: datetime) -> User:
        stmt = (
            self._insert(UserRow)
            .values(id=user_id, first_name="", is_admin=False, is_agent=False, created_at=now)
            .on_conflict_do_nothing(index_elements=[UserRow.id])
        )
        await self._session.execute(stmt)
        user = await self.get(user_id)
        assert user is not None
        return user

    async def record_contact(self, user: User, now: datetime) -> None:
        await self._session.execute(_RECORD_CONTACT[self._dialect], contact_values(user, now))

    async def mark_unreachable(self, user_id: UserId, now: datetime) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(unreachable_at=now)
        )

    async def set_locale(self, user_id: UserId, locale: str | None) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(locale=locale)
        )

    async def set_phone(self, user_id: UserId, phone: str | None) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(phone=phone)
        )

    async def set_global_role(self, user_id: UserId, role: Role, enabled: bool = True) -> bool:
        column = _ROLE_COLUMN.get(role)
        if column is None:
            raise ValueError(f"{role} is not a global role")
        result = await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user_id, column != enabled)
            .values({column: enabled})
        )
        return rowcount(result) > 0

    async def reachable_admins(self, limit: int = 20) -> list[User]:
        rows = await self._session.scalars(
            select(UserRow)
            .where(
                UserRow.is_admin.is_(True),
                UserRow.chat_seen_at.is_not(None),
                UserRow.unreachable_at.is_(None),
            )
            .order_by(UserRow.id)
            .limit(limit)
        )
        return [to_user(r) for r in rows]

    async def principal(self, user_id: UserId) -> Principal | None:
        return to_principal(await self._rows(PRINCIPAL, {"id": user_id}))


class SqlMembershipRepository(SqlRepository):
    __slots__ = ()

    async def for_user(self, user_id: UserId) -> list[Membership]:
        rows = await self._session.scalars(
            select(MembershipRow)
            .where(MembershipRow.user_id == user_id)
            .order_by(MembershipRow.enterprise_id)
        )
        return [to_membership(r) for r in rows]

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Membership]:
        rows = await self._session.scalars(
            select(MembershipRow)
            .where(MembershipRow.enterprise_id == enterprise_id)
            .order_by(MembershipRow.created_at, MembershipRow.user_id)
        )
        return [to_membership(r) for r in rows]

    async def get(self, user_id: UserId, enterprise_id: EnterpriseId) -> Membership | None:
        row = await self._session.scalar(
            select(MembershipRow).where(
                MembershipRow.user_id == user_id, MembershipRow.enterprise_id == enterprise_id
            )
        )
        return to_membership(row) if row is not None else None

    async def add(self, membership: Membership) -> bool:
        stmt = self._insert(MembershipRow).values(
            user_id=membership.user_id,
            enterprise_id=membership.enterprise_id,
            role=membership.role.value,
            created_at=utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[MembershipRow.user_id, MembershipRow.enterprise_id],
            set_={"role": stmt.excluded.role},
            where=MembershipRow.role != stmt.excluded.role,
        ).returning(MembershipRow.user_id)
        return (await self._session.execute(stmt)).first() is not None

    async def set_role(self, user_id: UserId, enterprise_id: EnterpriseId, role: Role) -> bool:
        Membership(user_id, enterprise_id, role)  # validates the role
        result = await self._session.execute(
            update(MembershipRow)
            .where(
                MembershipRow.user_id == user_id,
                MembershipRow.enterprise_id == enterprise_id,
                MembershipRow.role != role.value,
            )
            .values(role=role.value)
        )
        return rowcount(result) > 0

    async def remove(self, user_id: UserId, enterprise_id: EnterpriseId) -> bool:
        result = await self._session.execute(
            delete(MembershipRow).where(
                MembershipRow.user_id == user_id, MembershipRow.enterprise_id == enterprise_id
            )
        )
        return rowcount(result) > 0


class SqlEnterpriseRepository(SqlRepository):
    __slots__ = ()

    async def get(self, enterprise_id: EnterpriseId) -> Enterprise | None:
        rows = await self._rows(ENTERPRISE_BY_ID, {"id": enterprise_id})
        return to_enterprise(rows[0]) if rows else None

    async def get_many(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]:
        if not enterprise_ids:
            return {}
        rows = await self._session.execute(ENTERPRISES_BY_IDS, {"ids": sorted(set(enterprise_ids))})
        return {EnterpriseId(r.id): to_enterprise(r) for r in rows}

    async def by_tax_code(self, tax_code: str) -> Enterprise | None:
        row = await self._session.scalar(
            select(EnterpriseRow).where(EnterpriseRow.tax_code == tax_code)
        )
        return to_enterprise(row) if row is not None else None

    async def search(self, query: str, limit: int = 10) -> list[Enterprise]:
        query = query.strip()
        if not query:
            return []
        rows = await self._session.scalars(
            select(EnterpriseRow)
            .where(
                or_(
                    EnterpriseRow.tax_code.startswith(query, autoescape=True),
                    func.lower(EnterpriseRow.name).contains(query.lower(), autoescape=True),
                )
            )
            .order_by(EnterpriseRow.name, EnterpriseRow.id)
            .limit(limit)
        )
        return [to_enterprise(r) for r in rows]

    async def add(self, enterprise: Enterprise) -> Enterprise:
        stmt = (
            self._insert(EnterpriseRow)
            .values(
                tax_code=enterprise.tax_code,
                name=enterprise.name,
                address=enterprise.address,
                email=enterprise.email,
                phone=enterprise.phone,
                province=enterprise.province,
                created_at=enterprise.created_at,
            )
            .on_conflict_do_nothing(index_elements=[EnterpriseRow.tax_code])
            .returning(EnterpriseRow.id)
        )
        new_id = (await self._session.execute(stmt)).scalar_one_or_none()
        if new_id is None:
            existing = await self.by_tax_code(enterprise.tax_code)
            assert existing is not None
            return existing
        return Enterprise(
            id=EnterpriseId(new_id),
            tax_code=enterprise.tax_code,
            name=enterprise.name,
            address=enterprise.address,
            email=enterprise.email,
            phone=enterprise.phone,
            province=enterprise.province,
            created_at=enterprise.created_at,
        )

    async def update(self, enterprise: Enterprise) -> None:
        await self._session.execute(
            update(EnterpriseRow)
            .where(EnterpriseRow.id == enterprise.id)
            .values(
                tax_code=enterprise.tax_code,
                name=enterprise.name,
                address=enterprise.address,
                email=enterprise.email,
                phone=enterprise.phone,
                province=enterprise.province,
            )
        )
