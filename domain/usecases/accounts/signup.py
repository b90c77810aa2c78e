"""Greeting and signing up.

- :class:`Greet` — ``/start``: store the user's Telegram profile and say where they stand.
- :class:`FindBusinessByTaxCode` — the sign-up's tax-code step: does the business exist?
- :class:`SignUp` — a new user creates their business and becomes its **owner**.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from domain.model import Enterprise, Membership, Role, UserId
from domain.ports import Clock, UowFactory
from domain.usecases.accounts.common import BusinessView, Person, _event, _profile
from domain.validation import (
    validate_address,
    validate_company_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

__all__ = [
    "FindBusinessByTaxCode",
    "Greet",
    "Greeting",
    "SignUp",
    "SignUpRequest",
    "SignUpResult",
    "SignUpStatus",
]

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
# Sign-up


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
