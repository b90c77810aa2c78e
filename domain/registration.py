"""Value objects of a registration (checkout): who buys, the invoice/customer/contact data,
and the request/outcome of placing an order. Shared by the conversation and the use case."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from domain.model import Enterprise
from domain.policy import Permission, Relation, Standing, may
from domain.pricing import Quote, Selection

#: a cash payment of this much or more loses the input-VAT deduction (domain rules)
CASH_VAT_LIMIT = 5_000_000


@dataclass(frozen=True, slots=True)
class InvoiceInfo:
    company_name: str
    tax_code: str
    address: str
    email: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    name: str
    tax_code: str
    address: str
    phone: str
    email: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def stored_details(enterprise: Enterprise | None) -> CustomerInfo:
    """A business's stored details as the invoice and customer forms start from them (empty
    when it is gone)."""
    if enterprise is None:
        return CustomerInfo(name="", tax_code="", address="", phone="", email="")
    return CustomerInfo(
        name=enterprise.name,
        tax_code=enterprise.tax_code,
        address=enterprise.address or "",
        phone=enterprise.phone or "",
        email=enterprise.email or "",
    )


@dataclass(frozen=True, slots=True)
class DetailEdits:
    """What the user typed over the business's stored details, by the draft's short keys
    (invoice: name, tax, addr, email; customer: name, addr, phone, email)."""

    invoice: Mapping[str, str] = field(default_factory=dict)
    customer: Mapping[str, str] = field(default_factory=dict)

    def invoice_info(self, stored: CustomerInfo) -> InvoiceInfo:
        o = self.invoice
        return InvoiceInfo(
            company_name=o.get("name", stored.name),
            tax_code=o.get("tax", stored.tax_code),
            address=o.get("addr", stored.address),
            email=o.get("email", stored.email),
        )

    def customer_info(self, stored: CustomerInfo) -> CustomerInfo:
        o = self.customer
        return CustomerInfo(
            name=o.get("name", stored.name),
            tax_code=stored.tax_code,
            address=o.get("addr", stored.address),
            phone=o.get("phone", stored.phone),
            email=o.get("email", stored.email),
        )


@dataclass(frozen=True, slots=True)
class ContactInfo:
    name: str
    phone: str
    email: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EnterpriseRef:
    id: int
    name: str
    tax_code: str
    role: str  # owner | member | "" for staff acting on behalf


@dataclass(frozen=True, slots=True)
class Access:
    """What a Telegram user may do, as the conversation needs to know it."""

    user_id: int
    enterprises: tuple[EnterpriseRef, ...] = ()
    is_agent: bool = False
    is_admin: bool = False

    @property
    def is_staff(self) -> bool:
        return self.is_agent or self.is_admin

    def standing(self, enterprise_id: int) -> Standing:
        role = next((e.role for e in self.enterprises if e.id == enterprise_id), "")
        relation = Relation(role) if role else None
        return Standing(relation=relation, is_agent=self.is_agent, is_admin=self.is_admin)

    def can_register_for(self, enterprise_id: int) -> bool:
        return may(self.standing(enterprise_id), Permission.REGISTER)

    @property
    def owned(self) -> tuple[EnterpriseRef, ...]:
        return tuple(e for e in self.enterprises if e.role == "owner")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    actor_id: int
    enterprise_id: int
    selection: Selection
    invoice: InvoiceInfo
    customer: CustomerInfo
    contact: ContactInfo
    #: the total the user saw on the summary; a different total at confirm is a price change
    expected_total: int
    #: the same key for a double tap: one order
    idempotency_key: str
    locale: str
    chat_id: int


@dataclass(frozen=True, slots=True)
class ConfirmRequest:
    """**Xác nhận** as the conversation sends it: the invoice and customer details are the
    business's stored details (read in the transaction that places the order) with the
    user's ``edits`` over them."""

    actor_id: int
    enterprise_id: int
    selection: Selection
    edits: DetailEdits
    contact: ContactInfo
    expected_total: int
    idempotency_key: str
    locale: str
    chat_id: int

    def order_request(self, stored: CustomerInfo) -> OrderRequest:
        return OrderRequest(
            actor_id=self.actor_id,
            enterprise_id=self.enterprise_id,
            selection=self.selection,
            invoice=self.edits.invoice_info(stored),
            customer=self.edits.customer_info(stored),
            contact=self.contact,
            expected_total=self.expected_total,
            idempotency_key=self.idempotency_key,
            locale=self.locale,
            chat_id=self.chat_id,
        )


class OrderOutcomeKind(enum.StrEnum):
    CREATED = "created"
    EXISTING = "existing"  # the same idempotency key was already placed
    PRICE_CHANGED = "price_changed"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    kind: OrderOutcomeKind
    order_id: int | None = None
    order_code: str = ""
    kind_of_service: str = ""  # ON | OS
    total: int = 0
    subscription_code: str = ""
    payment_url: str = ""
    quote: Quote | None = None
    #: for PRICE_CHANGED/REFUSED: a DomainError key and its params
    reason: str = ""
    reason_params: dict[str, Any] | None = None

    @property
    def awaits_payment_link(self) -> bool:
        """An online (ON) order that was placed (now or by an earlier press with the same key)
        and has no payment link yet: the gateway is to be asked for one."""
        return (
            self.kind in (OrderOutcomeKind.CREATED, OrderOutcomeKind.EXISTING)
            and self.kind_of_service == "ON"
            and not self.payment_url
            and self.order_id is not None
        )

    @property
    def cash_vat_warning(self) -> bool:
        return self.kind_of_service == "OS" and self.total >= CASH_VAT_LIMIT
