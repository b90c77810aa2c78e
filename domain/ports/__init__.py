"""Ports: what the use cases need from the outside world, as small Protocols.

Repositories return domain objects (``domain.model``), never storage rows. They never commit:
the unit of work does, once per use case (``async with uow: ... await uow.commit()``; leaving
the block without a commit rolls everything back).

Methods named ``add`` take an entity built with ``id=0`` and return the stored copy with its id.
"""

from __future__ import annotations

from domain.ports.accounts import (
    ContactWrites,
    EnterpriseRepository,
    InvitationRepository,
    JoinRequestRepository,
    MembershipRepository,
    RegistrationReads,
    UserRepository,
)
from domain.ports.commerce import (
    CatalogRepository,
    EmployeeRepository,
    InvoiceRepository,
    MemoRepository,
    OrderRepository,
    PaymentRepository,
    PromotionUsageRepository,
    RenewalRepository,
    SubscriptionRepository,
)
from domain.ports.runtime import (
    ChatLock,
    Clock,
    ConversationStore,
    LockTimeout,
    SystemClock,
    UpdateDeduper,
    UpdateTurn,
    UpdateTurns,
)
from domain.ports.uow import CounterRepository, HistoryRepository, UnitOfWork, UowFactory

__all__ = [
    "CatalogRepository",
    "ChatLock",
    "Clock",
    "ContactWrites",
    "ConversationStore",
    "CounterRepository",
    "EmployeeRepository",
    "EnterpriseRepository",
    "HistoryRepository",
    "InvitationRepository",
    "InvoiceRepository",
    "JoinRequestRepository",
    "LockTimeout",
    "MembershipRepository",
    "MemoRepository",
    "OrderRepository",
    "PaymentRepository",
    "PromotionUsageRepository",
    "RegistrationReads",
    "RenewalRepository",
    "SubscriptionRepository",
    "SystemClock",
    "UnitOfWork",
    "UowFactory",
    "UpdateDeduper",
    "UpdateTurn",
    "UpdateTurns",
    "UserRepository",
]
