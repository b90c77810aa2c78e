"""The relational schema (SQLAlchemy 2 declarative models).

These rows never leave ``storage/``: repositories map them to ``domain.model`` objects.
The schema is made only by the Alembic migrations in ``storage/migrations``; a test checks that
the migrations and these models agree.

Choices that hold for every table:

- Money is ``BigInteger`` đồng. Enumerations are stored as their string values (portable, and
  readable in SQL). Snapshots are ``JSON``.
- Timestamps are ``DateTime(timezone=True)`` in UTC; :class:`UTCDateTime` returns aware UTC
  datetimes on both backends (SQLite has no time zone type).
- Surrogate ids are ``BIGINT`` on PostgreSQL and ``INTEGER`` (the rowid) on SQLite.
- Catalog rows are never deleted: a code removed from the catalog file gets ``active = false``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    Binding a naive datetime is a bug (its zone is unknown), so it is refused. SQLite stores the
    UTC wall time without an offset; results come back with ``tzinfo=UTC``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012
        datetime: UTCDateTime(),
        date: Date(),
        int: Integer(),
        str: String(255),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _id() -> Mapped[int]:
    return mapped_column(Id, primary_key=True, autoincrement=True)


# ---------------------------------------------------------------------------------------------
# People and enterprises


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(255), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str | None] = mapped_column(String(8))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    language_code: Mapped[str | None] = mapped_column(String(16))
    chat_seen_at: Mapped[datetime | None]
    unreachable_at: Mapped[datetime | None]


class EnterpriseRow(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = _id()
    tax_code: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(400))
    address: Mapped[str] = mapped_column(String(400), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    province: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class MembershipRow(Base):
    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        Id, ForeignKey("enterprises.id"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


# ---------------------------------------------------------------------------------------------
# Catalog


class ServiceRow(Base):
    __tablename__ = "catalog_services"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(2))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class PlanRow(Base):
    __tablename__ = "catalog_plans"
    __table_args__ = (UniqueConstraint("service_code", "code"),)

    id: Mapped[int] = _id()
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("catalog_services.code"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    tax: Mapped[str] = mapped_column(String(8))
    pricing: Mapped[str] = mapped_column(String(16))
    features: Mapped[list[Any]] = mapped_column(JSON)
    addons: Mapped[list[Any]] = mapped_column(JSON)
    setup_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    trial_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    downgrade: Mapped[str] = mapped_column(
        String(16), default="immediately", server_default="immediately"
    )


class CycleRow(Base):
    """A billing cycle. ``active`` tracks the plan's last definition; when the whole plan is
    removed its cycles are left as they were, so the inactive plan still reads as it was."""

    __tablename__ = "catalog_cycles"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = _id()
    plan_id: Mapped[int] = mapped_column(Id, ForeignKey("catalog_plans.id"))
    code: Mapped[str] = mapped_column(String(64))
    every: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(8))
    price: Mapped[int] = mapped_column(BigInteger)
    tiers: Mapped[list[Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AddonRow(Base):
    __tablename__ = "catalog_addons"
    __table_args__ = (UniqueConstraint("service_code", "code"),)

    id: Mapped[int] = _id()
    service_code: Mapped[str] = mapped_column(String(64), ForeignKey("catalog_services.code"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    tax: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    price: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class PromotionRow(Base):
    """``percent`` is the exact decimal as text (SQLite has no decimal type)."""

    __tablename__ = "catalog_promotions"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(16))
    percent: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    max_discount: Mapped[int | None] = mapped_column(BigInteger)
    applies_to: Mapped[list[Any] | None] = mapped_column(JSON)
    starts: Mapped[date | None] = mapped_column(Date)
    ends: Mapped[date | None] = mapped_column(Date)
    min_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    quota: Mapped[int | None] = mapped_column(Integer)
    per_customer: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: the purchases it discounts ("new", "renewal"); NULL (rows before 0007): new only
    purchases: Mapped[list[Any] | None] = mapped_column(JSON)
    #: typed by the customer (matched case-insensitively); such a promotion is not listed
    coupon_code: Mapped[str | None] = mapped_column(String(64))


class CounterRow(Base):
    """Named gap-free counters (order/subscription codes, invoice numbers, catalog revision)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


# ---------------------------------------------------------------------------------------------
# Orders and payments


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_expires_at", "status", "expires_at"),)

    id: Mapped[int] = _id()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"), index=True)
    registered_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    service_code: Mapped[str] = mapped_column(String(64))
    plan_code: Mapped[str] = mapped_column(String(64))
    cycle_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    addon_codes: Mapped[list[Any]] = mapped_column(JSON)
    plan_promotion: Mapped[str | None] = mapped_column(String(64))
    addon_promotions: Mapped[dict[str, Any]] = mapped_column(JSON)
    invoice_promotions: Mapped[list[Any]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(2))
    payment_method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    total: Mapped[int] = mapped_column(BigInteger)
    quote: Mapped[dict[str, Any]] = mapped_column(JSON)
    invoice_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    customer_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    contact: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    locale: Mapped[str] = mapped_column(String(8))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    purpose: Mapped[str] = mapped_column(String(16), default="NEW", server_default="NEW")
    subscription_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("subscriptions.id", use_alter=True), index=True
    )


class PaymentAttemptRow(Base):
    __tablename__ = "payment_attempts"
    __table_args__ = (Index("ix_payment_attempts_status_created_at", "status", "created_at"),)

    id: Mapped[int] = _id()
    order_id: Mapped[int] = mapped_column(Id, ForeignKey("orders.id"), index=True)
    merchant_order_id: Mapped[str] = mapped_column(String(50), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    redirect_url: Mapped[str | None] = mapped_column(Text)
    create_date: Mapped[str] = mapped_column(String(14), default="")
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    response_code: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    last_queried_at: Mapped[datetime | None]
    query_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None]


class PaymentApplicationRow(Base):
    """The proof that a payment success was applied. Its unique constraints are the guarantee
    that a success is applied at most once per merchant order id and once per order, whatever
    the application code does (repeated notifications, a query racing a notification)."""

    __tablename__ = "payment_applications"

    id: Mapped[int] = _id()
    payment_attempt_id: Mapped[int] = mapped_column(
        Id, ForeignKey("payment_attempts.id"), unique=True
    )
    merchant_order_id: Mapped[str] = mapped_column(String(50), unique=True)
    order_id: Mapped[int] = mapped_column(Id, ForeignKey("orders.id"), unique=True)
    applied_at: Mapped[datetime]


class PromotionRedemptionRow(Base):
    """One use of a promotion by an order (once per order and code)."""

    __tablename__ = "promotion_redemptions"
    __table_args__ = (
        UniqueConstraint("order_id", "promotion_code"),
        Index("ix_promotion_redemptions_code_enterprise", "promotion_code", "enterprise_id"),
    )

    id: Mapped[int] = _id()
    order_id: Mapped[int] = mapped_column(Id, ForeignKey("orders.id"))
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"))
    promotion_code: Mapped[str] = mapped_column(String(64), ForeignKey("catalog_promotions.code"))
    created_at: Mapped[datetime]


# ---------------------------------------------------------------------------------------------
# Subscriptions and what hangs off them


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_enterprise_created", "enterprise_id", "created_at"),
        Index("ix_subscriptions_status_period_end", "status", "current_period_end"),
    )

    id: Mapped[int] = _id()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(Id, ForeignKey("orders.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"))
    service_code: Mapped[str] = mapped_column(String(64))
    plan_code: Mapped[str] = mapped_column(String(64))
    cycle_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    addon_codes: Mapped[list[Any]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[str | None] = mapped_column(String(16))
    registered_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]


class RenewalReminderRow(Base):
    """One renewal reminder sent (see ``domain.lifecycle``): the unique key (subscription,
    period end, days) is inserted in the transaction that writes the reminder's outbox rows, so
    a reminder exists once whatever the number of workers, replicas or restarts."""

    __tablename__ = "renewal_reminders"
    __table_args__ = (UniqueConstraint("subscription_id", "period_end", "days"),)

    id: Mapped[int] = _id()
    subscription_id: Mapped[int] = mapped_column(Id, ForeignKey("subscriptions.id"))
    period_end: Mapped[datetime]
    days: Mapped[int] = mapped_column(Integer)
    #: how many owners were written to (0: none could be reached)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class ScheduledChangeRow(Base):
    """A downgrade waiting for the period end (``domain.changes``): one per subscription."""

    __tablename__ = "scheduled_changes"

    subscription_id: Mapped[int] = mapped_column(
        Id, ForeignKey("subscriptions.id"), primary_key=True, autoincrement=False
    )
    plan_code: Mapped[str] = mapped_column(String(64))
    cycle_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    addon_codes: Mapped[list[Any]] = mapped_column(JSON)
    effective_at: Mapped[datetime] = mapped_column(index=True)
    requested_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime]


class TrialRow(Base):
    """The one trial a business may take of a service (``domain.changes``)."""

    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("enterprise_id", "service_code"),)

    id: Mapped[int] = _id()
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"))
    service_code: Mapped[str] = mapped_column(String(64))
    plan_code: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[int] = mapped_column(Id, ForeignKey("subscriptions.id"), unique=True)
    started_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    started_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    reminded_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class InvoiceRow(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = _id()
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    order_id: Mapped[int] = mapped_column(Id, ForeignKey("orders.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("subscriptions.id", use_alter=True), index=True
    )
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount_total: Mapped[int] = mapped_column(BigInteger)
    vat_total: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[dict[str, Any]] = mapped_column(JSON)
    payment_method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    issued_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))


class MemoRow(Base):
    __tablename__ = "memos"

    id: Mapped[int] = _id()
    subscription_id: Mapped[int] = mapped_column(Id, ForeignKey("subscriptions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(16))
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime]


class EmployeeRow(Base):
    __tablename__ = "employees"

    id: Mapped[int] = _id()
    subscription_id: Mapped[int] = mapped_column(Id, ForeignKey("subscriptions.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class HistoryEventRow(Base):
    __tablename__ = "history_events"
    #: the newest events of some actions across businesses (amounts due for refund: /refund)
    __table_args__ = (Index("ix_history_events_action_id", "action", "id"),)

    id: Mapped[int] = _id()
    enterprise_id: Mapped[int | None] = mapped_column(Id, ForeignKey("enterprises.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("subscriptions.id", use_alter=True), index=True
    )
    order_id: Mapped[int | None] = mapped_column(Id, ForeignKey("orders.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


# ---------------------------------------------------------------------------------------------
# Joining enterprises


class InvitationRow(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = _id()
    token: Mapped[str] = mapped_column(String(64), unique=True)
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    used_at: Mapped[datetime | None]
    #: the Telegram user it was made for (picked by the inviter); they may never have written
    #: to the bot, hence no foreign key to ``users``
    invitee_id: Mapped[int | None] = mapped_column(BigInteger)


class JoinRequestRow(Base):
    __tablename__ = "join_requests"
    __table_args__ = (Index("ix_join_requests_enterprise_status", "enterprise_id", "status"),)

    id: Mapped[int] = _id()
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(Id, ForeignKey("enterprises.id"))
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


# ---------------------------------------------------------------------------------------------
# Conversation state


class ConversationRow(Base):
    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# ---------------------------------------------------------------------------------------------
# Outbox


class OutboxRow(Base):
    """A message owed to a chat (see ``domain.outbox``). The claim reads the PENDING rows by
    ``available_at``; ``lease_until`` and ``claimed_by`` say who holds a row and until when."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_available_at", "status", "available_at"),)

    id: Mapped[int] = _id()
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
