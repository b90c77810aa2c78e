"""The registration conversation's backend: its questions answered from the database, and
the order placed through the use cases. One repository call per question, so a button press
stays within its budget of database round trips."""

from __future__ import annotations

from collections.abc import Callable

from domain.catalog import Catalog
from domain.model import EnterpriseId, Role, UserId
from domain.ports import Clock, UnitOfWork
from domain.pricing import PromotionUsage
from domain.registration import (
    Access,
    CustomerInfo,
    EnterpriseRef,
    OrderOutcome,
    OrderOutcomeKind,
    OrderRequest,
)
from domain.usecases.registration import PlaceOrder, StartPayment, with_payment


class DatabaseRegistrationBackend:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        catalog: Callable[[], Catalog],
        place_order: PlaceOrder,
        start_payment: StartPayment | None,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._place_order = place_order
        self._start_payment = start_payment
        self._clock = clock

    async def access(self, user_id: int) -> Access:
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(user_id))
            if principal is None:
                return Access(user_id=user_id)
            ids = [m.enterprise_id for m in principal.memberships]
            names = await uow.enterprises.get_many(ids) if len(ids) > 1 else {}
            if len(ids) == 1:
                ent = await uow.enterprises.get(ids[0])
                names = {ids[0]: ent} if ent else {}
        refs = tuple(
            EnterpriseRef(
                id=int(m.enterprise_id),
                name=names[m.enterprise_id].name if m.enterprise_id in names else "",
                tax_code=names[m.enterprise_id].tax_code if m.enterprise_id in names else "",
                role="owner" if m.role is Role.OWNER else "member",
            )
            for m in principal.memberships
        )
        return Access(
            user_id=user_id,
            enterprises=refs,
            is_agent=principal.is_agent,
            is_admin=principal.is_admin,
        )

    async def enterprise(self, enterprise_id: int) -> CustomerInfo:
        async with self._uow() as uow:
            ent = await uow.enterprises.get(EnterpriseId(enterprise_id))
        if ent is None:
            return CustomerInfo(name="", tax_code="", address="", phone="", email="")
        return CustomerInfo(
            name=ent.name,
            tax_code=ent.tax_code,
            address=ent.address or "",
            phone=ent.phone or "",
            email=ent.email or "",
        )

    async def usage(self, enterprise_id: int) -> PromotionUsage:
        codes = [p.code for p in self._catalog().active_promotions() if p.quota or p.per_customer]
        if not codes:
            return PromotionUsage()
        async with self._uow() as uow:
            total, mine = await uow.promotions.usage(codes, EnterpriseId(enterprise_id))
        return PromotionUsage(total=total, by_customer=mine)

    async def place_order(self, request: OrderRequest) -> OrderOutcome:
        outcome = await self._place_order(request)
        if (
            outcome.kind in (OrderOutcomeKind.CREATED, OrderOutcomeKind.EXISTING)
            and outcome.kind_of_service == "ON"
            and not outcome.payment_url
            and outcome.order_id is not None
            and self._start_payment is not None
        ):
            start = await self._start_payment(outcome.order_id)
            outcome = with_payment(outcome, start)
        return outcome
