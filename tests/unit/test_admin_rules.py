"""The operator use cases' rules, on the in-memory unit of work (tests/fakes): one commit each,
a history event per change and none for a repeat."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidInput, NotFound
from domain.model import Role, UserId
from domain.usecases.admin import (
    AddEnterprise,
    AddEnterpriseRequest,
    GrantRole,
    GrantRoleRequest,
    LoadCatalog,
    LoadCatalogRequest,
)
from tests.fakes.uow import FakeUnitOfWork
from tests.integration.test_storage_catalog import sample_catalog

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


async def history(uow: FakeUnitOfWork) -> list[tuple[str, dict[str, object]]]:
    return [
        (e.action, dict(e.details))
        for e in sorted(uow.committed.history.values(), key=lambda e: e.id)
    ]


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def test_load_catalog_reports_counts_and_records_changes_only(uow: FakeUnitOfWork) -> None:
    load = LoadCatalog(lambda: uow, FixedClock())
    first = await load(LoadCatalogRequest(sample_catalog(), source="catalog.yaml"))
    assert (first.changed, first.revision) == (True, 1)
    assert (first.services, first.plans, first.addons, first.promotions) == (2, 3, 2, 3)
    again = await load(sample_catalog())  # the shorthand
    assert (again.changed, again.revision) == (False, 1)
    assert await history(uow) == [
        (
            "catalog.loaded",
            {
                "revision": 1,
                "source": "catalog.yaml",
                "services": 2,
                "plans": 3,
                "addons": 2,
                "promotions": 3,
            },
        )
    ]


async def test_add_enterprise_validates_normalises_and_is_idempotent(uow: FakeUnitOfWork) -> None:
    add = AddEnterprise(lambda: uow, FixedClock())
    created = await add(
        AddEnterpriseRequest(
            tax_code="0100.233.488",
            name="  Công ty   ABC ",
            address="Hà Nội",
            email="A@ABC.VN",
            phone="+84 91 234 5678",
            province="Hà Nội",
        )
    )
    assert created.created and created.id == created.enterprise.id
    e = created.enterprise
    assert (e.tax_code, e.name, e.email, e.phone, e.created_at) == (
        "0100233488",
        "Công ty ABC",
        "A@abc.vn",
        "+84912345678",
        NOW,
    )
    repeat = await add("0100233488", "Another name", phone="  ")  # shorthand, blank = absent
    assert not repeat.created and repeat.enterprise == e
    with pytest.raises(InvalidInput) as refused:
        await add("0100233488", "Công ty ABC", email="nope")  # refused even though it exists
    assert refused.value.params["field"] == "email"
    assert await history(uow) == [
        ("enterprise.added", {"tax_code": "0100233488", "name": "Công ty ABC"})
    ]


async def test_grant_role_creates_the_user_and_records_real_changes(uow: FakeUnitOfWork) -> None:
    clock = FixedClock()
    await AddEnterprise(lambda: uow, clock)("0100233488", "ABC")
    grant = GrantRole(lambda: uow, clock)

    admin = await grant(42, "admin")  # the composition root's shorthand
    assert admin.changed and admin.role is Role.ADMIN and admin.enterprise is None
    assert admin.user.is_admin and admin.user.created_at == NOW
    assert not (await grant(42, "ADMIN")).changed
    owner = await grant(GrantRoleRequest(43, Role.OWNER, tax_code="0100233488"))
    assert owner.changed and owner.enterprise is not None
    demoted = await grant(43, "member", tax_code="0100233488")
    assert demoted.changed

    async with uow:
        principal = await uow.users.principal(UserId(43))
    assert principal is not None and principal.role_in(owner.enterprise.id) is Role.MEMBER

    with pytest.raises(NotFound):
        await grant(44, "owner", tax_code="0103326250")
    for bad in ((44, "boss"), (0, "admin"), (44, "owner"), (44, "agent", "0100233488")):
        with pytest.raises(InvalidInput):
            await grant(*bad)
    async with uow:
        assert await uow.users.get(UserId(44)) is None  # nothing written by a refusal

    assert [action for action, _ in await history(uow)] == [
        "enterprise.added",
        "role.granted",
        "role.granted",
        "role.granted",
    ]
