"""The renewal use cases behind the conversation, as one object (``RenewalBackend``)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.usecases.renewal.cancel import CancelNow, CancelNowRequest, SetRenewal
from domain.usecases.renewal.common import LifecycleChange
from domain.usecases.renewal.renew import (
    RenewalOffer,
    RenewalOffers,
    RenewalOutcome,
    RenewalRequest,
    RenewSubscription,
)


@dataclass(frozen=True, slots=True)
class RenewalServices:
    offers: RenewalOffers
    renewal: RenewSubscription
    renewal_setting: SetRenewal
    cancellation: CancelNow

    async def offer(self, actor_id: int, code: str) -> RenewalOffer:
        return await self.offers(actor_id, code)

    async def renew(self, req: RenewalRequest) -> RenewalOutcome:
        return await self.renewal(req)

    async def set_renewal(
        self, actor_id: int, subscription_id: int, *, renew: bool
    ) -> LifecycleChange:
        return await self.renewal_setting(actor_id, subscription_id, renew=renew)

    async def cancel_now(self, req: CancelNowRequest) -> LifecycleChange:
        return await self.cancellation(req)
