"""What the registration conversation asks before **Xác nhận**: who the user may register
for and the stored details of a business (:class:`RegistrantDirectory`), and the promotion uses
that count against a business (:class:`CheckoutOptions`). One repository call per question,
so a button press stays within its budget of database round trips.

Given :class:`domain.ports.RegistrationReads`, the questions are asked outside any unit of
work, one statement each (what was committed when it ran; PlaceOrder checks everything again
in its transaction); without it, each in a unit of work of its own."""

from __future__ import annotations

from collections.abc import Callable, Collection

from domain.catalog import Catalog
from domain.model import Enterprise, EnterpriseId, Principal, Role, UserId
from domain.ports import RegistrationReads, UnitOfWork
from domain.pricing import CheckoutOffer, PromotionUsage, counted_promotion_codes
from domain.registration import Access, CustomerInfo, EnterpriseRef, stored_details


class RegistrantDirectory:
    def __init__(
        self, uow: Callable[[], UnitOfWork], reads: RegistrationReads | None = None
    ) -> None:
        self._uow = uow
        self._reads = reads

    async def access(self, user_id: int) -> Access:
        """The user's businesses (with their names) and global roles."""
        if self._reads is not None:
            principal, names = await _memberships(self._reads, UserId(user_id))
        else:
            async with self._uow() as uow:
                principal, names = await _memberships(uow_reads(uow), UserId(user_id))
        if principal is None:
            return Access(user_id=user_id)
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
        """The stored details of the business (empty when it is gone)."""
        if self._reads is not None:
            return stored_details(await self._reads.enterprise(EnterpriseId(enterprise_id)))
        async with self._uow() as uow:
            return stored_details(await uow.enterprises.get(EnterpriseId(enterprise_id)))


class CheckoutOptions:
    """The quote and the promotions a business may use: the uses of the limited promotions
    that count against it, for :class:`domain.pricing.CheckoutOffer` (the one eligibility
    rule, also applied by PlaceOrder under a lock)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        catalog: Callable[[], Catalog],
        reads: RegistrationReads | None = None,
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._reads = reads

    async def usage(self, enterprise_id: int) -> PromotionUsage:
        codes = counted_promotion_codes(self._catalog())
        if not codes:
            return PromotionUsage()
        if self._reads is not None:
            total, mine = await self._reads.promotion_usage(codes, EnterpriseId(enterprise_id))
        else:
            async with self._uow() as uow:
                total, mine = await uow.promotions.usage(codes, EnterpriseId(enterprise_id))
        return PromotionUsage(total=total, by_customer=mine)


class _UowReads:
    """:class:`RegistrationReads` in an open unit of work (its repositories)."""

    __slots__ = ("_uow",)

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def principal(self, user_id: UserId) -> Principal | None:
        return await self._uow.users.principal(user_id)

    async def enterprise(self, enterprise_id: EnterpriseId) -> Enterprise | None:
        return await self._uow.enterprises.get(enterprise_id)

    async def enterprises(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]:
        return await self._uow.enterprises.get_many(enterprise_ids)

    async def promotion_usage(
        self, codes: Collection[str], enterprise_id: EnterpriseId
    ) -> tuple[dict[str, int], dict[str, int]]:
        return await self._uow.promotions.usage(codes, enterprise_id)


def uow_reads(uow: UnitOfWork) -> RegistrationReads:
    """The reads in the open unit of work ``uow``."""
    return _UowReads(uow)


async def _memberships(
    reads: RegistrationReads, user_id: UserId
) -> tuple[Principal | None, dict[EnterpriseId, Enterprise]]:
    """The user and the businesses they belong to (one read for one business)."""
    principal = await reads.principal(user_id)
    if principal is None:
        return None, {}
    ids = [m.enterprise_id for m in principal.memberships]
    if len(ids) > 1:
        return principal, await reads.enterprises(ids)
    if len(ids) == 1:
        ent = await reads.enterprise(ids[0])
        return principal, {ids[0]: ent} if ent else {}
    return principal, {}


__all__ = ["CheckoutOffer", "CheckoutOptions", "RegistrantDirectory"]
