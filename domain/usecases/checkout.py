"""What the registration conversation asks before **Xác nhận**: who the user may register
for and the stored details of a business (:class:`RegistrantDirectory`), and the promotion uses
that count against a business (:class:`CheckoutOptions`). One repository call per question,
so a button press stays within its budget of database round trips."""

from __future__ import annotations

from collections.abc import Callable

from domain.catalog import Catalog
from domain.model import EnterpriseId, Role, UserId
from domain.ports import UnitOfWork
from domain.pricing import CheckoutOffer, PromotionUsage, counted_promotion_codes
from domain.registration import Access, CustomerInfo, EnterpriseRef, stored_details


class RegistrantDirectory:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def access(self, user_id: int) -> Access:
        """The user's businesses (with their names) and global roles."""
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
        """The stored details of the business (empty when it is gone)."""
        async with self._uow() as uow:
            return stored_details(await uow.enterprises.get(EnterpriseId(enterprise_id)))


class CheckoutOptions:
    """The quote and the promotions a business may use: the uses of the limited promotions
    that count against it, for :class:`domain.pricing.CheckoutOffer` (the one eligibility
    rule, also applied by PlaceOrder under a lock)."""

    def __init__(self, uow: Callable[[], UnitOfWork], catalog: Callable[[], Catalog]) -> None:
        self._uow = uow
        self._catalog = catalog

    async def usage(self, enterprise_id: int) -> PromotionUsage:
        codes = counted_promotion_codes(self._catalog())
        if not codes:
            return PromotionUsage()
        async with self._uow() as uow:
            total, mine = await uow.promotions.usage(codes, EnterpriseId(enterprise_id))
        return PromotionUsage(total=total, by_customer=mine)


__all__ = ["CheckoutOffer", "CheckoutOptions", "RegistrantDirectory"]
