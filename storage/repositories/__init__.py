"""SQL implementations of the repository ports of ``domain.ports``."""

from storage.repositories.accounts import (
    SqlEnterpriseRepository,
    SqlMembershipRepository,
    SqlUserRepository,
)
from storage.repositories.catalog import SqlCatalogRepository
from storage.repositories.changes import SqlChangeRepository
from storage.repositories.joining import SqlInvitationRepository, SqlJoinRequestRepository
from storage.repositories.orders import (
    SqlCounterRepository,
    SqlOrderRepository,
    SqlPaymentRepository,
    SqlPromotionUsageRepository,
)
from storage.repositories.outbox import OUTBOX_WRITTEN, SqlOutboxRepository
from storage.repositories.subscriptions import (
    SqlEmployeeRepository,
    SqlHistoryRepository,
    SqlInvoiceRepository,
    SqlMemoRepository,
    SqlSubscriptionRepository,
)

__all__ = [
    "OUTBOX_WRITTEN",
    "SqlCatalogRepository",
    "SqlChangeRepository",
    "SqlCounterRepository",
    "SqlEmployeeRepository",
    "SqlEnterpriseRepository",
    "SqlHistoryRepository",
    "SqlInvitationRepository",
    "SqlInvoiceRepository",
    "SqlJoinRequestRepository",
    "SqlMembershipRepository",
    "SqlMemoRepository",
    "SqlOrderRepository",
    "SqlOutboxRepository",
    "SqlPaymentRepository",
    "SqlPromotionUsageRepository",
    "SqlSubscriptionRepository",
    "SqlUserRepository",
]
