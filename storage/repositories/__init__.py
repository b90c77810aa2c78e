"""SQL implementations of the repository ports of ``domain.ports``."""

from storage.repositories.accounts import (
    SqlEnterpriseRepository,
    SqlMembershipRepository,
    SqlUserRepository,
)
from storage.repositories.catalog import SqlCatalogRepository
from storage.repositories.changes import SqlChangeRepository
from storage.repositories.employees import SqlEmployeeRepository
from storage.repositories.history import SqlHistoryRepository
from storage.repositories.invoices import SqlInvoiceRepository, SqlMemoRepository
from storage.repositories.joining import SqlInvitationRepository, SqlJoinRequestRepository
from storage.repositories.orders import (
    SqlCounterRepository,
    SqlOrderRepository,
    SqlPaymentRepository,
    SqlPromotionUsageRepository,
)
from storage.repositories.outbox import OUTBOX_WRITTEN, SqlOutboxRepository
from storage.repositories.renewals import SqlRenewalRepository
from storage.repositories.subscriptions import SqlSubscriptionRepository

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
    "SqlRenewalRepository",
    "SqlSubscriptionRepository",
    "SqlUserRepository",
]
