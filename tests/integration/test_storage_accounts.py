"""Users, memberships, enterprises, principals and the unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from domain.model import Enterprise, EnterpriseId, Membership, Role, User, UserId
from domain.policy import Permission
from storage.db import Database, SqlUnitOfWork

REGISTER, VIEW, MANAGE = Permission.REGISTER, Permission.VIEW, Permission.MANAGE_ACCOUNT

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
HANOI = timezone(timedelta(hours=7))


def user(user_id: int, **fields: object) -> User:
    values: dict[str, object] = {"first_name": f"User {user_id}", "created_at": NOW}
    values.update(fields)
    return User(id=UserId(user_id), **values)  # type: ignore[arg-type]


def enterprise(tax_code: str, name: str = "Công ty TNHH ABC", **fields: object) -> Enterprise:
    return Enterprise(tax_code=tax_code, name=name, created_at=NOW, **fields)  # type: ignore[arg-type]


class StatementLog:
    """The SQL statements an engine sends (transaction control excluded)."""

    def __init__(self, database: Database) -> None:
        self.statements: list[str] = []
        self._engine = database.engine.sync_engine

    def __enter__(self) -> StatementLog:
        event.listen(self._engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)

    def _record(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.statements.append(statement)


async def test_upsert_creates_then_refreshes_the_profile_only(uow: SqlUnitOfWork) -> None:
    async with uow:
        created = await uow.users.upsert(user(10, username="an", phone="+84912345678"))
        await uow.users.set_global_role(UserId(10), Role.AGENT)
        await uow.users.set_locale(UserId(10), "en")
        await uow.commit()
    assert created == user(10, username="an", phone="+84912345678")

    later = NOW + timedelta(days=3)
    async with uow:
        refreshed = await uow.users.upsert(
            user(10, first_name="An Nguyễn", username=None, created_at=later)
        )
        await uow.commit()
    assert refreshed.first_name == "An Nguyễn"
    assert refreshed.username is None
    assert refreshed.phone == "+84912345678"  # kept: the refresh did not carry one
    assert refreshed.locale == "en"
    assert refreshed.is_agent and not refreshed.is_admin
    assert refreshed.created_at == NOW

    async with uow:
        assert await uow.users.get(UserId(10)) == refreshed
        assert await uow.users.get(UserId(11)) is None


async def test_ensure_get_many_phone_and_locale(uow: SqlUnitOfWork) -> None:
    async with uow:
        ensured = await uow.users.ensure(UserId(5), NOW)
        again = await uow.users.ensure(UserId(5), NOW + timedelta(hours=1))
        await uow.users.upsert(user(6))
        await uow.users.set_phone(UserId(6), "+84987654321")
        await uow.users.set_locale(UserId(6), "vi")
        await uow.commit()
    assert ensured == again == User(id=UserId(5), first_name="", created_at=NOW)
    async with uow:
        many = await uow.users.get_many([UserId(5), UserId(6), UserId(7)])
    assert set(many) == {5, 6}
    assert many[UserId(6)].phone == "+84987654321"
    assert many[UserId(6)].locale == "vi"
    async with uow:
        assert await uow.users.get_many([]) == {}


async def test_global_roles_report_changes(uow: SqlUnitOfWork) -> None:
    async with uow:
        await uow.users.ensure(UserId(1), NOW)
        assert await uow.users.set_global_role(UserId(1), Role.ADMIN) is True
        assert await uow.users.set_global_role(UserId(1), Role.ADMIN) is False
        assert await uow.users.set_global_role(UserId(1), Role.AGENT) is True
        assert await uow.users.set_global_role(UserId(1), Role.AGENT, enabled=False) is True
        assert await uow.users.set_global_role(UserId(2), Role.ADMIN) is False  # no such user
        with pytest.raises(ValueError, match="not a global role"):
            await uow.users.set_global_role(UserId(1), Role.OWNER)
        await uow.commit()
    async with uow:
        stored = await uow.users.get(UserId(1))
    assert stored is not None
    assert stored.is_admin and not stored.is_agent
    assert stored.global_roles == {Role.ADMIN}


async def test_enterprises_round_trip_search_and_idempotent_add(uow: SqlUnitOfWork) -> None:
    async with uow:
        abc = await uow.enterprises.add(
            enterprise(
                "0100233488",
                address="Số 57 Huỳnh Thúc Kháng, Hà Nội",
                email="ketoan@abc.vn",
                phone="+84912345678",
                province="Hà Nội",
            )
        )
        xyz = await uow.enterprises.add(enterprise("0314409058-002", name="Cửa hàng XYZ 100%"))
        await uow.commit()
    assert abc.id > 0 and xyz.id > 0 and abc.id != xyz.id

    async with uow:
        again = await uow.enterprises.add(enterprise("0100233488", name="Another name"))
        await uow.commit()
    assert again == abc  # the stored one, unchanged

    async with uow:
        assert await uow.enterprises.get(abc.id) == abc
        assert await uow.enterprises.get(EnterpriseId(999_999)) is None
        assert await uow.enterprises.by_tax_code("0314409058-002") == xyz
        assert await uow.enterprises.by_tax_code("0000000000") is None
        assert await uow.enterprises.get_many([abc.id, xyz.id]) == {abc.id: abc, xyz.id: xyz}
        assert await uow.enterprises.search("0100") == [abc]
        assert await uow.enterprises.search("abc") == [abc]
        assert await uow.enterprises.search("100%") == [xyz]  # % is literal, not a wildcard
        assert await uow.enterprises.search("%") == [xyz]
        assert await uow.enterprises.search("   ") == []
        assert await uow.enterprises.search("Công", limit=1) == [abc]

    changed = Enterprise(
        id=abc.id,
        tax_code=abc.tax_code,
        name="Công ty Cổ phần ABC",
        address="Hà Nội",
        email=None,
        phone=None,
        province=None,
        created_at=abc.created_at,
    )
    async with uow:
        await uow.enterprises.update(changed)
        await uow.commit()
    async with uow:
        assert await uow.enterprises.get(abc.id) == changed


async def test_memberships_and_principal_in_one_query(
    database: Database, uow: SqlUnitOfWork
) -> None:
    async with uow:
        await uow.users.upsert(user(1))
        await uow.users.upsert(user(2))
        a = await uow.enterprises.add(enterprise("0100233488"))
        b = await uow.enterprises.add(enterprise("0103326250", name="B"))
        assert await uow.memberships.add(Membership(UserId(1), a.id, Role.OWNER)) is True
        assert await uow.memberships.add(Membership(UserId(1), a.id, Role.OWNER)) is False
        assert await uow.memberships.add(Membership(UserId(1), b.id, Role.OWNER)) is True
        assert await uow.memberships.add(Membership(UserId(1), b.id, Role.MEMBER)) is True
        assert await uow.memberships.add(Membership(UserId(2), a.id, Role.MEMBER)) is True
        await uow.commit()

    async with uow:
        with StatementLog(database) as log:
            principal = await uow.users.principal(UserId(1))
        assert len(log.statements) == 1
        assert await uow.users.principal(UserId(3)) is None
        alone = await uow.users.principal(UserId(2))
    assert principal is not None
    assert principal.user == user(1)
    assert set(principal.memberships) == {
        Membership(UserId(1), a.id, Role.OWNER),
        Membership(UserId(1), b.id, Role.MEMBER),
    }
    assert principal.may(REGISTER, a.id) and not principal.may(REGISTER, b.id)
    assert principal.may(VIEW, a.id) and principal.may(VIEW, b.id)
    assert not principal.may(VIEW, EnterpriseId(a.id + b.id))
    assert principal.may(MANAGE, a.id) and not principal.may(MANAGE, b.id)
    assert principal.enterprises_with_role(Role.OWNER) == (a.id,)
    assert set(principal.enterprises_with_role()) == {a.id, b.id}
    assert not principal.is_staff
    assert alone is not None and alone.role_in(a.id) is Role.MEMBER
    staff = replace(alone, user=replace(alone.user, is_agent=True))
    assert staff.is_staff and staff.may(REGISTER, b.id) and staff.may(MANAGE, b.id)

    async with uow:
        assert await uow.memberships.set_role(UserId(2), a.id, Role.OWNER) is True
        assert await uow.memberships.set_role(UserId(2), a.id, Role.OWNER) is False
        assert await uow.memberships.set_role(UserId(2), b.id, Role.OWNER) is False
        assert await uow.memberships.get(UserId(2), a.id) == Membership(UserId(2), a.id, Role.OWNER)
        assert await uow.memberships.get(UserId(2), b.id) is None
        assert {m.user_id for m in await uow.memberships.for_enterprise(a.id)} == {1, 2}
        assert [m.enterprise_id for m in await uow.memberships.for_user(UserId(1))] == sorted(
            [a.id, b.id]
        )
        assert await uow.memberships.remove(UserId(2), a.id) is True
        assert await uow.memberships.remove(UserId(2), a.id) is False
        await uow.commit()
    async with uow:
        assert await uow.memberships.for_user(UserId(2)) == []


async def test_a_membership_role_is_owner_or_member() -> None:
    with pytest.raises(ValueError, match="owner or member"):
        Membership(UserId(1), EnterpriseId(1), Role.ADMIN)


async def test_timestamps_come_back_aware_utc_and_naive_ones_are_refused(
    uow: SqlUnitOfWork,
) -> None:
    local = datetime(2026, 3, 1, 15, 30, 0, 123456, tzinfo=HANOI)
    async with uow:
        await uow.users.upsert(user(1, created_at=local))
        await uow.commit()
    async with uow:
        stored = await uow.users.get(UserId(1))
    assert stored is not None
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC
    assert stored.created_at.hour == 8 and stored.created_at.microsecond == 123456

    async with uow:
        with pytest.raises(Exception, match="timezone-aware"):
            await uow.users.upsert(user(2, created_at=datetime(2026, 3, 1, 8, 0)))


async def test_leaving_without_commit_rolls_back(uow: SqlUnitOfWork) -> None:
    async with uow:
        await uow.users.upsert(user(1))
    with pytest.raises(RuntimeError, match="boom"):
        async with uow:
            await uow.users.upsert(user(2))
            raise RuntimeError("boom")
    async with uow:
        await uow.users.upsert(user(3))
        await uow.rollback()
        await uow.users.upsert(user(4))
        await uow.commit()
    async with uow:
        assert set(await uow.users.get_many([UserId(i) for i in range(1, 5)])) == {4}


async def test_the_unit_of_work_is_per_task_and_not_reentrant(uow: SqlUnitOfWork) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.users
    async with uow:
        with pytest.raises(RuntimeError, match="already open"):
            async with uow:
                pass

    async def register(user_id: int) -> None:
        async with uow:
            await uow.users.upsert(user(user_id))
            await asyncio.sleep(0.01)
            await uow.commit()

    await asyncio.gather(*(register(i) for i in range(20, 26)))
    async with uow:
        stored = await uow.users.get_many([UserId(i) for i in range(20, 26)])
    assert set(stored) == set(range(20, 26))

    async def use_the_parents_session() -> None:
        await uow.users.get(UserId(20))

    async with uow:
        with pytest.raises(RuntimeError, match="not open in this task"):
            await asyncio.create_task(use_the_parents_session())
        # a child task opens its own (before the parent writes: on SQLite a writer waits for
        # the other writer, so waiting for the child while holding the write lock would block)
        await asyncio.create_task(register(31))
        await uow.users.upsert(user(30))
        await uow.commit()
    async with uow:
        assert set(await uow.users.get_many([UserId(30), UserId(31)])) == {30, 31}
