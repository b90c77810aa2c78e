"""``UserRepository.reachable_admins`` on the fake and on SQLite and PostgreSQL (the staff told
when money comes in for an ended subscription that no staff member cancelled)."""

from __future__ import annotations

from domain.model import Role, User, UserId
from domain.ports import UnitOfWork
from tests.integration.test_storage_commerce import NOW
from tests.integration.test_uow_contract import db_backend, uow

__all__ = ["db_backend", "uow"]  # the fixtures


async def test_only_admins_who_can_be_reached_by_id(uow: UnitOfWork) -> None:
    async with uow:
        for uid in (30, 10, 20, 40, 50):
            await uow.users.upsert(User(id=UserId(uid), first_name=f"U{uid}", created_at=NOW))
        for uid in (30, 10, 40):
            await uow.users.set_global_role(UserId(uid), Role.ADMIN)
        await uow.users.set_global_role(UserId(20), Role.AGENT)
        for uid in (10, 20, 30, 40, 50):
            found = await uow.users.get(UserId(uid))
            assert found is not None
            await uow.users.record_contact(found, NOW)
        await uow.users.mark_unreachable(UserId(40), NOW)  # Telegram refused: not told
        await uow.commit()
    async with uow:
        assert [int(u.id) for u in await uow.users.reachable_admins()] == [10, 30]
        assert [int(u.id) for u in await uow.users.reachable_admins(limit=1)] == [10]
