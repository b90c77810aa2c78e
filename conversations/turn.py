"""One update being handled by a flow (:class:`Turn`), and the use cases the registration
conversation calls, each through a small role (:class:`Registrants`, :class:`Checkout`,
:class:`Confirmation`, joined in :class:`RegistrationServices`). Every flow imports them from
here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from conversations.screens import Delivery, Msg, Screen
from conversations.session import Actor, Outgoing
from domain.catalog import Catalog
from domain.constants import VN_TZ
from domain.pricing import CheckoutOffer, PromotionUsage
from domain.registration import Access, ConfirmRequest, CustomerInfo, OrderOutcome
from domain.usecases.changes.trials import StartTrialRequest, TrialStarted


class Registrants(Protocol):
    """Who the user may register for, and a business's stored details
    (``domain.usecases.checkout.RegistrantDirectory``)."""

    async def access(self, user_id: int) -> Access: ...

    async def enterprise(self, enterprise_id: int) -> CustomerInfo: ...


class Checkout(Protocol):
    """The promotion uses that count against a business, for the quote and the promotions it
    may use (``domain.usecases.checkout.CheckoutOptions``)."""

    async def usage(self, enterprise_id: int) -> PromotionUsage: ...


class Confirmation(Protocol):
    """**Xác nhận** (``domain.usecases.registration.ConfirmRegistration``)."""

    async def confirm(self, request: ConfirmRequest) -> OrderOutcome: ...


class Trials(Protocol):
    """**Dùng thử** (``domain.usecases.changes.trials.StartTrial``)."""

    async def __call__(self, req: StartTrialRequest, /) -> TrialStarted: ...


class RegistrationBackend(Registrants, Checkout, Confirmation, Protocol):
    """All three roles in one object (the test doubles)."""


@dataclass(frozen=True, slots=True)
class RegistrationServices:
    registrants: Registrants
    checkout: Checkout
    confirmation: Confirmation
    #: Dùng thử from the Đăng ký step (plans with ``trial_days``); None: not offered
    trial: Trials | None = None

    @classmethod
    def of(cls, backend: RegistrationBackend) -> RegistrationServices:
        return cls(backend, backend, backend)


@dataclass
class Turn:
    """One update being handled: the draft (mutable, the JSON the session stores), who the
    user is, what the flow answers, and caches so that the handler and the screen drawn after
    it ask the backend once for the same business."""

    draft: dict[str, Any]
    user_id: int
    chat_id: int
    lang: str
    now: datetime
    catalog: Catalog
    services: RegistrationServices
    #: messages for other chats (e.g. the business owners when an agent registers)
    outgoing: list[Outgoing] = field(default_factory=list)
    #: who sends the update (names as Telegram tells them); None in tests that need none
    actor: Actor | None = None
    notice: Msg | None = None
    answer: Msg | None = None
    alert: bool = False
    delivery: Delivery = Delivery.EDIT
    done: bool = False
    extra: list[Screen] = field(default_factory=list)
    _usage: tuple[int, PromotionUsage] | None = None
    _customer: tuple[int, CustomerInfo] | None = None

    @property
    def today(self) -> date:
        return self.now.astimezone(VN_TZ).date()

    async def offer(self, enterprise_id: int | None) -> CheckoutOffer:
        """What ``enterprise_id`` may buy today: the promotions it may use (no uses counted
        without a business)."""
        if not enterprise_id:
            return CheckoutOffer(self.catalog, self.today)
        if self._usage is None or self._usage[0] != enterprise_id:
            self._usage = (enterprise_id, await self.services.checkout.usage(enterprise_id))
        return CheckoutOffer(self.catalog, self.today, self._usage[1])

    async def customer(self, enterprise_id: int) -> CustomerInfo:
        """The stored details of the business ``enterprise_id``."""
        if self._customer is None or self._customer[0] != enterprise_id:
            self._customer = (
                enterprise_id,
                await self.services.registrants.enterprise(enterprise_id),
            )
        return self._customer[1]


__all__ = [
    "Checkout",
    "Confirmation",
    "Registrants",
    "RegistrationBackend",
    "RegistrationServices",
    "Turn",
]
