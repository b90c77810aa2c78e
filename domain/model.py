"""Entities of the business: people and their roles, enterprises, orders, payment attempts,
subscriptions, invoices, memos, employees, history, invitations and conversation drafts.

Conventions every entity follows:

- Entities are frozen dataclasses; a change is a new value (``dataclasses.replace``) that a
  repository stores. Repositories never hand out ORM objects.
- Ids are typed (``NewType``). A new entity is built with ``id=0`` (the default, keyword-only):
  it is "not stored yet"; the repository's ``add`` returns the stored copy carrying its id.
  A user's id is the Telegram user id, so it is always known.
- Money is ``int`` đồng. Datetimes are timezone-aware UTC.
- Human codes come from gap-free per-year counters (see :func:`order_code`,
  :func:`subscription_code`, :func:`invoice_number`).
- Snapshots (an order's quote, an invoice's lines, the invoice/customer/contact data) are plain
  JSON-compatible dicts frozen at the time they were taken; they are never recomputed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NewType, TypeVar

from domain.catalog import ServiceKind
from domain.policy import Permission, Relation, Standing, may

TelegramId = NewType("TelegramId", int)
UserId = TelegramId
EnterpriseId = NewType("EnterpriseId", int)
OrderId = NewType("OrderId", int)
PaymentAttemptId = NewType("PaymentAttemptId", int)
SubscriptionId = NewType("SubscriptionId", int)
InvoiceId = NewType("InvoiceId", int)
MemoId = NewType("MemoId", int)
EmployeeId = NewType("EmployeeId", int)
HistoryEventId = NewType("HistoryEventId", int)
InvitationId = NewType("InvitationId", int)
JoinRequestId = NewType("JoinRequestId", int)

JsonDict = dict[str, Any]


def amount_of(value: object) -> int:
    """A money amount read from a JSON detail (history, notices): its int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Human codes


def order_code(year: int, seq: int) -> str:
    """``DH-2026-000123``: ``DH`` (đơn hàng), the year the order was placed, a per-year sequence."""
    return f"DH-{year}-{seq:06d}"


def subscription_code(year: int, seq: int) -> str:
    """``TB-2026-000042``: ``TB`` (thuê bao), the year it was created, a per-year sequence."""
    return f"TB-{year}-{seq:06d}"


def invoice_number(year: int, seq: int) -> str:
    """``HD2026-000123``: ``HD`` (hóa đơn), the year it was paid, a gap-free per-year sequence."""
    return f"HD{year}-{seq:06d}"


def order_counter(year: int) -> str:
    return f"order:{year}"


def subscription_counter(year: int) -> str:
    return f"subscription:{year}"


def invoice_counter(year: int) -> str:
    return f"invoice:{year}"


#: the counter bumped each time a catalog load changes something (the bot polls it)
CATALOG_REVISION_COUNTER = "catalog:revision"


# ---------------------------------------------------------------------------------------------
# People, roles, enterprises


class Role(enum.StrEnum):
    ADMIN = "admin"  # global: everything
    AGENT = "agent"  # global: support agent, registers on behalf of any enterprise
    OWNER = "owner"  # in one enterprise
    MEMBER = "member"  # in one enterprise


GLOBAL_ROLES = frozenset({Role.ADMIN, Role.AGENT})
ENTERPRISE_ROLES = frozenset({Role.OWNER, Role.MEMBER})


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    first_name: str
    created_at: datetime
    username: str | None = None
    phone: str | None = None  # E.164
    locale: str | None = None  # "vi" | "en"; None: follow Telegram / the default
    is_admin: bool = False
    is_agent: bool = False
    #: the language Telegram reports for the user (``language_code``), as last seen
    language_code: str | None = None
    #: when the user last wrote to the bot: their private chat exists (None: never seen)
    chat_seen_at: datetime | None = None
    #: set when Telegram refused a message to them (403); cleared when they write again
    unreachable_at: datetime | None = None

    @property
    def reachable(self) -> bool:
        """The bot may message them: they wrote to it, and Telegram has not refused them since."""
        return self.chat_seen_at is not None and self.unreachable_at is None

    @property
    def global_roles(self) -> frozenset[Role]:
        roles: set[Role] = set()
        if self.is_admin:
            roles.add(Role.ADMIN)
        if self.is_agent:
            roles.add(Role.AGENT)
        return frozenset(roles)


@dataclass(frozen=True, slots=True)
class Membership:
    user_id: UserId
    enterprise_id: EnterpriseId
    role: Role  # OWNER or MEMBER

    def __post_init__(self) -> None:
        if self.role not in ENTERPRISE_ROLES:
            raise ValueError(f"a membership role is owner or member, not {self.role}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: the user, the enterprises they belong to and their global roles.

    Staff (agents and admins) may act for any enterprise. In their own enterprise, owners
    register and manage subscriptions; members see them.
    """

    user: User
    memberships: tuple[Membership, ...] = ()

    @property
    def user_id(self) -> UserId:
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    @property
    def is_agent(self) -> bool:
        return self.user.is_agent

    @property
    def is_staff(self) -> bool:
        return self.user.is_admin or self.user.is_agent

    @property
    def global_roles(self) -> frozenset[Role]:
        return self.user.global_roles

    def role_in(self, enterprise_id: EnterpriseId) -> Role | None:
        return next((m.role for m in self.memberships if m.enterprise_id == enterprise_id), None)

    def standing(self, enterprise_id: EnterpriseId | None = None) -> Standing:
        """What the user is towards ``enterprise_id`` (or towards no business in particular)."""
        role = self.role_in(enterprise_id) if enterprise_id is not None else None
        return Standing(
            relation=Relation(role.value) if role is not None else None,
            is_agent=self.user.is_agent,
            is_admin=self.user.is_admin,
        )

    def may(self, permission: Permission, enterprise_id: EnterpriseId | None = None) -> bool:
        """The one authorization policy (:mod:`domain.policy`) applied to this user."""
        return may(self.standing(enterprise_id), permission)

    def enterprises_with_role(self, *roles: Role) -> tuple[EnterpriseId, ...]:
        """The enterprises where the user holds one of ``roles`` (any role when none given)."""
        wanted = set(roles) or ENTERPRISE_ROLES
        return tuple(m.enterprise_id for m in self.memberships if m.role in wanted)


@dataclass(frozen=True, slots=True)
class Enterprise:
    tax_code: str  # normalised: NNNNNNNNNN or NNNNNNNNNN-NNN; unique
    name: str
    created_at: datetime
    address: str = ""
    email: str | None = None
    phone: str | None = None  # E.164
    province: str | None = None
    id: EnterpriseId = field(default=EnterpriseId(0), kw_only=True)


# ---------------------------------------------------------------------------------------------
# Orders and payments


class PaymentMethod(enum.StrEnum):
    VNPTPAY = "VNPTPAY"  # ON services
    BY_CASH = "BY_CASH"  # OS services


class OrderPurpose(enum.StrEnum):
    """What an order buys: a new subscription, or a change to an existing one."""

    NEW = "NEW"  # a registration: paying it creates the subscription
    RENEWAL = "RENEWAL"  # another period of ``Order.subscription_id``
    CHANGE = "CHANGE"  # a plan, cycle, quantity or add-on change of ``Order.subscription_id``


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    PAID = "PAID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Order:
    """A confirmed registration. ``quote`` is the frozen price breakdown the user accepted;
    ``idempotency_key`` is unique, so a double tap on **Xác nhận** makes one order."""

    code: str
    enterprise_id: EnterpriseId
    registered_by: UserId
    service_code: str
    plan_code: str
    cycle_code: str
    kind: ServiceKind
    payment_method: PaymentMethod
    total: int
    idempotency_key: str
    created_at: datetime
    quantity: int = 1
    addon_codes: tuple[str, ...] = ()
    plan_promotion: str | None = None
    addon_promotions: Mapping[str, str] = field(default_factory=dict)  # add-on code → promotion
    invoice_promotions: tuple[str, ...] = ()
    status: OrderStatus = OrderStatus.PENDING_PAYMENT
    quote: JsonDict = field(default_factory=dict)
    invoice_info: JsonDict = field(default_factory=dict)
    customer_info: JsonDict = field(default_factory=dict)
    contact: JsonDict = field(default_factory=dict)
    locale: str = "vi"
    chat_id: int | None = None
    expires_at: datetime | None = None
    paid_at: datetime | None = None
    purpose: OrderPurpose = OrderPurpose.NEW
    #: The existing subscription a RENEWAL or CHANGE order acts on (``None`` for NEW orders,
    #: whose subscription is created when they are paid or confirmed).
    subscription_id: SubscriptionId | None = None
    id: OrderId = field(default=OrderId(0), kw_only=True)

    @property
    def promotion_codes(self) -> tuple[str, ...]:
        """Every promotion code used by the order, each once, in a stable order."""
        codes = [self.plan_promotion] if self.plan_promotion else []
        codes += [*self.addon_promotions.values(), *self.invoice_promotions]
        return tuple(dict.fromkeys(codes))


class PaymentAttemptStatus(enum.StrEnum):
    CREATED = "CREATED"  # stored, the gateway not yet asked (or it did not answer)
    PENDING = "PENDING"  # the gateway gave a payment link
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (PaymentAttemptStatus.CREATED, PaymentAttemptStatus.PENDING)


@dataclass(frozen=True, slots=True)
class PaymentAttempt:
    """One try to pay an order. ``merchant_order_id`` is unique and never reused;
    ``create_date`` is the exact string sent to the gateway (a query must repeat it)."""

    order_id: OrderId
    merchant_order_id: str
    amount: int
    method: PaymentMethod
    created_at: datetime
    create_date: str = ""
    status: PaymentAttemptStatus = PaymentAttemptStatus.CREATED
    redirect_url: str | None = None
    transaction_id: str | None = None
    response_code: str | None = None
    notified_at: datetime | None = None
    last_queried_at: datetime | None = None
    query_count: int = 0
    completed_at: datetime | None = None  # when it reached SUCCESS/FAILED/CANCELLED/EXPIRED
    id: PaymentAttemptId = field(default=PaymentAttemptId(0), kw_only=True)


# ---------------------------------------------------------------------------------------------
# Subscriptions and what hangs off them


class SubscriptionStatus(enum.StrEnum):
    FUTURE = "FUTURE"  # waiting to start or waiting for payment
    ACTIVE = "ACTIVE"
    IN_TRIAL = "IN_TRIAL"
    NON_RENEWING = "NON_RENEWING"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # the period (and the grace) ended without a renewal


class OrderProgress(enum.StrEnum):
    """The order-progress track of an OS subscription."""

    ORDERED = "ORDERED"
    RECEIVED = "RECEIVED"
    DEPLOYING = "DEPLOYING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Subscription:
    code: str
    order_id: OrderId
    enterprise_id: EnterpriseId
    service_code: str
    plan_code: str
    cycle_code: str
    kind: ServiceKind
    registered_by: UserId
    created_at: datetime
    quantity: int = 1
    addon_codes: tuple[str, ...] = ()
    status: SubscriptionStatus = SubscriptionStatus.FUTURE
    progress: OrderProgress | None = None  # OS only
    started_at: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    id: SubscriptionId = field(default=SubscriptionId(0), kw_only=True)


class InvoiceStatus(enum.StrEnum):
    INIT = "INIT"
    WAITING = "WAITING"  # awaiting payment
    PAID = "PAID"
    FAILURE = "FAILURE"
    OUT_OF_DATE = "OUT_OF_DATE"


@dataclass(frozen=True, slots=True)
class Invoice:
    """``number`` stays ``None`` until the invoice is paid; numbers are gap-free per year."""

    order_id: OrderId
    enterprise_id: EnterpriseId
    payment_method: PaymentMethod
    subtotal: int
    discount_total: int
    vat_total: int
    total: int
    created_at: datetime
    subscription_id: SubscriptionId | None = None
    status: InvoiceStatus = InvoiceStatus.INIT
    number: str | None = None
    lines: JsonDict = field(default_factory=dict)
    issued_at: datetime | None = None
    paid_at: datetime | None = None
    confirmed_by: UserId | None = None
    id: InvoiceId = field(default=InvoiceId(0), kw_only=True)


class MemoKind(enum.StrEnum):
    NOTE = "NOTE"  # free text
    CREDIT = "CREDIT"  # credit note, with an amount
    DEBIT = "DEBIT"  # debit note, with an amount


class MemoStatus(enum.StrEnum):
    OPEN = "OPEN"
    APPLIED = "APPLIED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Memo:
    subscription_id: SubscriptionId
    kind: MemoKind
    text: str
    author_id: UserId
    created_at: datetime
    amount: int | None = None
    status: MemoStatus | None = None  # credit/debit notes only
    id: MemoId = field(default=MemoId(0), kw_only=True)


@dataclass(frozen=True, slots=True)
class Employee:
    subscription_id: SubscriptionId
    name: str
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    active: bool = True
    id: EmployeeId = field(default=EmployeeId(0), kw_only=True)


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """Who changed what, when. ``action`` is a stable dotted key (``"order.placed"``)."""

    action: str
    created_at: datetime
    enterprise_id: EnterpriseId | None = None
    subscription_id: SubscriptionId | None = None
    order_id: OrderId | None = None
    actor_id: UserId | None = None
    details: JsonDict = field(default_factory=dict)
    id: HistoryEventId = field(default=HistoryEventId(0), kw_only=True)


# ---------------------------------------------------------------------------------------------
# Joining enterprises


@dataclass(frozen=True, slots=True)
class Invitation:
    token: str  # unique, unguessable
    enterprise_id: EnterpriseId
    role: Role  # OWNER or MEMBER
    created_by: UserId
    expires_at: datetime
    created_at: datetime
    used_by: UserId | None = None
    used_at: datetime | None = None
    #: the person it was made for, when the inviter picked them in Telegram; None for a link
    #: anyone may use
    invitee_id: UserId | None = None
    id: InvitationId = field(default=InvitationId(0), kw_only=True)

    def is_usable(self, now: datetime) -> bool:
        return self.used_by is None and now < self.expires_at

    def is_for(self, user_id: UserId) -> bool:
        """Whether ``user_id`` may use it: anyone for a link, only the invitee when picked."""
        return self.invitee_id is None or self.invitee_id == user_id


class JoinRequestStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"


@dataclass(frozen=True, slots=True)
class JoinRequest:
    user_id: UserId
    enterprise_id: EnterpriseId
    created_at: datetime
    status: JoinRequestStatus = JoinRequestStatus.PENDING
    decided_by: UserId | None = None
    decided_at: datetime | None = None
    id: JoinRequestId = field(default=JoinRequestId(0), kw_only=True)


# ---------------------------------------------------------------------------------------------
# Conversation drafts


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """The stored state of one conversation (a draft). ``version`` grows with every step so a
    button from an old message can be recognised as out of date."""

    key: str
    state: str
    data: JsonDict
    version: int
    updated_at: datetime


# ---------------------------------------------------------------------------------------------
# Paging


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the total number of items the whole list has."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    @classmethod
    def of(cls, items: Iterable[T], total: int, offset: int, limit: int) -> Page[T]:
        return cls(tuple(items), total, offset, limit)
