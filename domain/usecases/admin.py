"""Operator use cases: load the catalog, add an enterprise, grant a role.

Each is one callable: dependencies in the constructor (a unit-of-work factory and a clock),
``await use_case(request)`` commits once and records a :class:`HistoryEvent` when something
changed. Repeating a call with the same input changes nothing (and records nothing).

The request can also be given as its fields (``await GrantRole(uow, clock)(42, "admin")``),
the shorthand the composition root and the operator commands use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from domain.catalog import Catalog
from domain.errors import InvalidInput, NotFound
from domain.model import (
    ENTERPRISE_ROLES,
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Membership,
    Role,
    User,
    UserId,
)
from domain.ports import Clock, UowFactory
from domain.validation import (
    validate_address,
    validate_company_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

PROVINCE_MAX = 100
ROLE_EXAMPLE = "owner"


# ---------------------------------------------------------------------------------------------
# Loading the catalog


@dataclass(frozen=True, slots=True)
class LoadCatalogRequest:
    catalog: Catalog
    actor_id: UserId | None = None
    source: str = ""  # where it came from (a file name), for the history


@dataclass(frozen=True, slots=True)
class LoadCatalogResult:
    changed: bool
    revision: int
    services: int
    plans: int
    addons: int
    promotions: int


class LoadCatalog:
    """Replace the stored catalog by ``catalog`` (upsert; removed codes become inactive)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, request: LoadCatalogRequest | Catalog, *args: Any, **kwargs: Any
    ) -> LoadCatalogResult:
        if not isinstance(request, LoadCatalogRequest):
            request = LoadCatalogRequest(request, *args, **kwargs)
        catalog = request.catalog
        result = LoadCatalogResult(
            changed=False,
            revision=0,
            services=len(catalog.services),
            plans=sum(len(s.plans) for s in catalog.services),
            addons=sum(len(s.addons) for s in catalog.services),
            promotions=len(catalog.promotions),
        )
        async with self._uow() as uow:
            changed = await uow.catalog.replace(catalog)
            revision = await uow.catalog.revision()
            if changed:
                await uow.history.add(
                    HistoryEvent(
                        action="catalog.loaded",
                        created_at=self._clock.now(),
                        actor_id=request.actor_id,
                        details={
                            "revision": revision,
                            "source": request.source,
                            "services": result.services,
                            "plans": result.plans,
                            "addons": result.addons,
                            "promotions": result.promotions,
                        },
                    )
                )
            await uow.commit()
        return LoadCatalogResult(
            changed=changed,
            revision=revision,
            services=result.services,
            plans=result.plans,
            addons=result.addons,
            promotions=result.promotions,
        )


# ---------------------------------------------------------------------------------------------
# Adding an enterprise


@dataclass(frozen=True, slots=True)
class AddEnterpriseRequest:
    tax_code: str
    name: str
    address: str | None = None
    email: str | None = None
    phone: str | None = None
    province: str | None = None
    actor_id: UserId | None = None


@dataclass(frozen=True, slots=True)
class AddEnterpriseResult:
    enterprise: Enterprise
    created: bool  # False: an enterprise with this tax code existed and is returned unchanged

    @property
    def id(self) -> EnterpriseId:
        return self.enterprise.id


def _optional(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


class AddEnterprise:
    """Create a business from a validated tax code; idempotent for the same tax code.

    Every field is validated even when the enterprise exists (bad input is refused either way).
    Raises :class:`InvalidInput` naming the field.
    """

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, request: AddEnterpriseRequest | str, *args: Any, **kwargs: Any
    ) -> AddEnterpriseResult:
        if not isinstance(request, AddEnterpriseRequest):
            request = AddEnterpriseRequest(request, *args, **kwargs)
        address = _optional(request.address)
        email = _optional(request.email)
        phone = _optional(request.phone)
        province = _optional(request.province)
        now = self._clock.now()
        wanted = Enterprise(
            tax_code=validate_tax_code(request.tax_code),
            name=validate_company_name(request.name, field="name"),
            address=validate_address(address) if address is not None else "",
            email=validate_email(email) if email is not None else None,
            phone=validate_phone(phone) if phone is not None else None,
            province=(
                validate_address(province, field="province", max_len=PROVINCE_MAX)
                if province is not None
                else None
            ),
            created_at=now,
        )
        async with self._uow() as uow:
            existing = await uow.enterprises.by_tax_code(wanted.tax_code)
            if existing is not None:
                return AddEnterpriseResult(existing, created=False)
            stored = await uow.enterprises.add(wanted)
            created = stored == replace(wanted, id=stored.id)  # else a concurrent add won
            if created:
                await uow.history.add(
                    HistoryEvent(
                        action="enterprise.added",
                        created_at=now,
                        enterprise_id=stored.id,
                        actor_id=request.actor_id,
                        details={"tax_code": stored.tax_code, "name": stored.name},
                    )
                )
            await uow.commit()
        return AddEnterpriseResult(stored, created=created)


# ---------------------------------------------------------------------------------------------
# Granting a role


@dataclass(frozen=True, slots=True)
class GrantRoleRequest:
    user_id: int  # Telegram user id
    role: Role | str  # admin | agent | owner | member
    tax_code: str | None = None  # the enterprise, for owner and member
    actor_id: UserId | None = None


@dataclass(frozen=True, slots=True)
class GrantRoleResult:
    user: User
    role: Role
    enterprise: Enterprise | None
    changed: bool  # False: the user already had exactly this role


def parse_role(value: Role | str) -> Role:
    try:
        return Role(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        raise InvalidInput(
            f"role: unknown role {value!r}",
            field="role",
            reason="role.unknown",
            example=ROLE_EXAMPLE,
            allowed=[r.value for r in Role],
        ) from None


class GrantRole:
    """Grant ``admin`` or ``agent`` (global), or ``owner``/``member`` of an existing enterprise
    (setting the user's role there). The user row is created if the user never wrote to the
    bot. Raises :class:`InvalidInput` (bad id, role, tax code, or an enterprise given/missing
    for the kind of role) and :class:`NotFound` (no enterprise with that tax code)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, request: GrantRoleRequest | int, *args: Any, **kwargs: Any
    ) -> GrantRoleResult:
        if not isinstance(request, GrantRoleRequest):
            request = GrantRoleRequest(request, *args, **kwargs)
        if isinstance(request.user_id, bool) or request.user_id <= 0:
            raise InvalidInput(
                f"telegram_id: {request.user_id} is not a Telegram user id",
                field="telegram_id",
                reason="telegram_id.invalid",
                example="123456789",
            )
        user_id = UserId(request.user_id)
        role = parse_role(request.role)
        tax_code = _optional(request.tax_code)
        if role in ENTERPRISE_ROLES and tax_code is None:
            raise InvalidInput(
                f"enterprise: the role {role} needs an enterprise",
                field="enterprise",
                reason="role.enterprise_required",
                example="0100233488",
            )
        if role not in ENTERPRISE_ROLES and tax_code is not None:
            raise InvalidInput(
                f"enterprise: the role {role} is global, not per enterprise",
                field="enterprise",
                reason="role.global",
                example="",
            )
        normalized = validate_tax_code(tax_code, field="enterprise") if tax_code else None
        now = self._clock.now()

        async with self._uow() as uow:
            enterprise = None
            if normalized is not None:
                enterprise = await uow.enterprises.by_tax_code(normalized)
                if enterprise is None:
                    raise NotFound(
                        f"enterprise: no enterprise with tax code {normalized}",
                        field="enterprise",
                        tax_code=normalized,
                    )
            await uow.users.ensure(user_id, now)
            if enterprise is None:
                changed = await uow.users.set_global_role(user_id, role)
            else:
                changed = await uow.memberships.add(Membership(user_id, enterprise.id, role))
            if changed:
                await uow.history.add(
                    HistoryEvent(
                        action="role.granted",
                        created_at=now,
                        enterprise_id=enterprise.id if enterprise is not None else None,
                        actor_id=request.actor_id,
                        details={"user_id": int(user_id), "role": role.value},
                    )
                )
            user = await uow.users.get(user_id)
            await uow.commit()
        assert user is not None
        return GrantRoleResult(user=user, role=role, enterprise=enterprise, changed=changed)
