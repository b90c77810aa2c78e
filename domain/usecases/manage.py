"""Managing subscriptions (**Quản lý thuê bao**): the list, the detail tabs and their actions.

Who may do what is decided here, whatever a conversation shows or a callback claims:

- **see** a subscription and every tab: staff (agents, admins) any; owners and members those
  of their own businesses;
- **employees** (ON): owners and staff add, deactivate and reactivate; a unit-priced plan
  (price × quantity) allows at most ``quantity`` active employees;
- **notes** (free text): owners and staff; **credit/debit memos** and their status: staff;
- **order progress** (OS): staff move it ordered → received → deploying → completed, or
  cancel it; the business owners are to be told (the result lists whom).

A subscription the actor may not see is refused exactly like one that does not exist
(:class:`PermissionDenied` both times), so ids cannot be probed. Every object id that comes
with a request (employee, memo, invoice) is checked to belong to the subscription.

Cost: every read loads the subscription together with the actor's rights in ONE query
(``subscriptions.get_for_user``), then the tab's data in one to three more (pages carry their
total in the same query). Nothing depends on how many subscriptions the business holds.
Every change commits once and records a history event with who and when.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.catalog import Catalog, PricingStrategy, ServiceKind
from domain.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from domain.formatting import parse_money
from domain.model import (
    Employee,
    EmployeeId,
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Memo,
    MemoId,
    MemoKind,
    MemoStatus,
    Order,
    OrderProgress,
    Page,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Principal,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
)
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.policy import Permission, Relation, Standing, may
from domain.ports import Clock, UnitOfWork
from domain.usecases.notices import locale_of
from domain.validation import (
    normalize_tax_code,
    normalize_text,
    validate_contact_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

__all__ = [
    "MAX_MEMO_AMOUNT",
    "MAX_TEXT",
    "PROGRESS_TRACK",
    "AddEmployee",
    "AddEmployeeRequest",
    "AddMemo",
    "AddMemoRequest",
    "AddNote",
    "AddNoteRequest",
    "AdvanceProgress",
    "AdvanceProgressRequest",
    "DetailsView",
    "EmployeeChange",
    "EmployeeLimitReached",
    "EmployeesView",
    "FindSubscription",
    "GetInvoice",
    "GetPaymentMethod",
    "GetSubscription",
    "GetSubscriptionDetails",
    "HistoryView",
    "InvoiceRequest",
    "InvoiceView",
    "InvoicesView",
    "ListEmployees",
    "ListHistory",
    "ListInvoices",
    "ListMemos",
    "ListRequest",
    "ListSubscriptions",
    "MemoChange",
    "MemosView",
    "PaymentView",
    "ProgressChanged",
    "Recipient",
    "Rights",
    "SetEmployeeActive",
    "SetEmployeeActiveRequest",
    "SetMemoStatus",
    "SetMemoStatusRequest",
    "SubscriptionList",
    "SubscriptionView",
    "TabRequest",
    "employee_limit",
    "next_progress",
    "parse_memo_amount",
    "validate_memo_text",
]

UowFactory = Callable[[], UnitOfWork]

#: the longest note or memo reason kept (a Telegram message must hold a page of them)
MAX_TEXT = 500
#: the largest credit/debit memo, đồng (a typo guard: one trillion)
MAX_MEMO_AMOUNT = 1_000_000_000_000
#: the order-progress track of an OS subscription, in order (CANCELLED is off the track)
PROGRESS_TRACK = (
    OrderProgress.ORDERED,
    OrderProgress.RECEIVED,
    OrderProgress.DEPLOYING,
    OrderProgress.COMPLETED,
)


class EmployeeLimitReached(DomainError):
    """A unit-priced plan allows at most ``limit`` active employees."""

    key = "error.employee_limit"

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} active employees", limit=limit)
        self.limit = limit


# ---------------------------------------------------------------------------------------------
# Rights


@dataclass(frozen=True, slots=True)
class Rights:
    """What the actor may do with one subscription (derived from the database each time)."""

    user_id: UserId
    role: Role | None = None  # OWNER or MEMBER of the subscription's business, or None
    is_admin: bool = False
    is_agent: bool = False

    @classmethod
    def of(cls, user_id: UserId, user: User | None, role: Role | None) -> Rights:
        return cls(
            user_id=user_id,
            role=role,
            is_admin=bool(user and user.is_admin),
            is_agent=bool(user and user.is_agent),
        )

    @property
    def standing(self) -> Standing:
        relation = Relation(self.role.value) if self.role is not None else None
        return Standing(relation=relation, is_agent=self.is_agent, is_admin=self.is_admin)

    @property
    def is_staff(self) -> bool:
        return self.standing.is_staff

    @property
    def can_view(self) -> bool:
        return may(self.standing, Permission.VIEW)

    @property
    def can_manage_employees(self) -> bool:
        return may(self.standing, Permission.MANAGE_EMPLOYEES)

    @property
    def can_note(self) -> bool:
        return may(self.standing, Permission.NOTE)

    @property
    def can_memo(self) -> bool:
        """Credit and debit memos, and their status: agents and admins."""
        return may(self.standing, Permission.MEMO)

    @property
    def can_progress(self) -> bool:
        return may(self.standing, Permission.PROGRESS)

    @property
    def read_only(self) -> bool:
        """A member: sees everything, changes nothing."""
        return not (self.can_manage_employees or self.can_note or self.can_memo)


def employee_limit(subscription: Subscription, catalog: Catalog) -> int | None:
    """The most active employees allowed: the quantity of a unit-priced ON plan, else None.

    The plan is looked up in the catalog, which keeps removed entries (inactive)."""
    if subscription.kind is not ServiceKind.ON:
        return None
    service = catalog.service(subscription.service_code)
    plan = service.plan(subscription.plan_code) if service is not None else None
    if plan is None or plan.pricing is not PricingStrategy.UNIT:
        return None
    return subscription.quantity


def next_progress(current: OrderProgress | None) -> OrderProgress | None:
    """The step after ``current`` on the track; None at the end or off the track."""
    if current is None or current not in PROGRESS_TRACK:
        return None
    i = PROGRESS_TRACK.index(current)
    return PROGRESS_TRACK[i + 1] if i + 1 < len(PROGRESS_TRACK) else None


def validate_memo_text(raw: str, name: str = "text") -> str:
    """A note or a memo's reason: trimmed, NFC, 1..MAX_TEXT characters, line breaks allowed
    but no other control characters. Reasons: ``text.required``, ``text.too_long``,
    ``text.control_chars``."""
    lines = [normalize_text(line) for line in raw.replace("\r\n", "\n").split("\n")]
    value = "\n".join(line for line in lines if line).strip()
    if not value:
        raise InvalidInput(f"{name}: empty", field=name, reason="text.required", example="")
    if any((ord(ch) < 32 and ch != "\n") or 127 <= ord(ch) < 160 for ch in value):
        raise InvalidInput(
            f"{name}: control characters", field=name, reason="text.control_chars", example=""
        )
    if len(value) > MAX_TEXT:
        raise InvalidInput(
            f"{name}: too long",
            field=name,
            reason="text.too_long",
            example="",
            max_len=MAX_TEXT,
        )
    return value


def parse_memo_amount(raw: str) -> int:
    """A memo amount typed by a person: whole đồng, 1..MAX_MEMO_AMOUNT.
    Reasons: ``money.format``, ``amount.range``."""
    amount = parse_money(raw)
    if not 0 < amount <= MAX_MEMO_AMOUNT:
        raise InvalidInput(
            "amount: out of range", field="amount", reason="amount.range", example="1.500.000"
        )
    return amount


async def _authorize(
    uow: UnitOfWork, actor_id: int, subscription_id: int
) -> tuple[Subscription, Rights]:
    """The subscription and the actor's rights on it; refused alike when it does not exist
    and when the actor may not see it."""
    found = await uow.subscriptions.get_for_user(SubscriptionId(subscription_id), UserId(actor_id))
    if found is None:
        raise PermissionDenied("subscription not visible")
    subscription, user, role = found
    rights = Rights.of(UserId(actor_id), user, role)
    if not rights.can_view:
        raise PermissionDenied("subscription not visible")
    return subscription, rights


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise PermissionDenied(what)


# ---------------------------------------------------------------------------------------------
# The list


@dataclass(frozen=True, slots=True)
class ListRequest:
    """The subscriptions of the actor's businesses; ``tax_code`` picks one business (staff:
    any; others: one of theirs); ``enterprise_id`` the same by id (kept by the conversation)."""

    actor_id: int
    tax_code: str = ""
    enterprise_id: int | None = None
    statuses: tuple[SubscriptionStatus, ...] = ()
    offset: int = 0
    limit: int = 8


@dataclass(frozen=True, slots=True)
class SubscriptionList:
    #: the businesses listed (one for a tax code; all of the actor's otherwise)
    enterprises: tuple[Enterprise, ...]
    page: Page[Subscription]
    is_staff: bool = False
    #: staff without a business of their own and no tax code given: ask for one
    needs_tax_code: bool = False


class ListSubscriptions:
    """Newest first, paged, optionally filtered by status; at most three queries."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: ListRequest) -> SubscriptionList:
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(req.actor_id))
            is_staff = principal is not None and principal.is_staff
            ids = await self._enterprise_ids(uow, principal, req)
            empty: Page[Subscription] = Page.of((), 0, req.offset, req.limit)
            if not ids:
                return SubscriptionList((), empty, is_staff=is_staff, needs_tax_code=is_staff)
            page = await uow.subscriptions.page_for_enterprises(
                ids, req.statuses or None, req.offset, req.limit
            )
            found = await uow.enterprises.get_many(ids)
        enterprises = tuple(found[i] for i in ids if i in found)
        return SubscriptionList(enterprises, page, is_staff=is_staff)

    @staticmethod
    async def _enterprise_ids(
        uow: UnitOfWork, principal: Principal | None, req: ListRequest
    ) -> list[EnterpriseId]:
        if req.tax_code:
            tax_code = validate_tax_code(normalize_tax_code(req.tax_code))
            enterprise = await uow.enterprises.by_tax_code(tax_code)
            if principal is not None and principal.may(Permission.FIND_BUSINESS):
                if enterprise is None:
                    raise NotFound("no enterprise with this tax code", code=tax_code)
                return [enterprise.id]
            if (
                enterprise is None
                or principal is None
                or not principal.may(Permission.VIEW, enterprise.id)
            ):
                raise PermissionDenied("not a member of this enterprise")
            return [enterprise.id]
        if principal is None:
            return []
        if req.enterprise_id is not None:
            wanted = EnterpriseId(req.enterprise_id)
            _require(principal.may(Permission.VIEW, wanted), "not a member of this enterprise")
            return [wanted]
        return list(dict.fromkeys(m.enterprise_id for m in principal.memberships))


# ---------------------------------------------------------------------------------------------
# The detail and its tabs (reads)


@dataclass(frozen=True, slots=True)
class TabRequest:
    actor_id: int
    subscription_id: int
    offset: int = 0
    limit: int = 10


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    rights: Rights


class GetSubscription:
    """The subscription's header (code, service, plan, cycle, status, period, progress)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> SubscriptionView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
        return SubscriptionView(subscription, rights)


class FindSubscription:
    """A subscription by its code (``TB-2026-000042``), refused like an unknown one when the
    actor may not see it."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, actor_id: int, code: str) -> SubscriptionView:
        async with self._uow() as uow:
            found = await uow.subscriptions.get_by_code(code.strip().upper())
            if found is None:
                raise PermissionDenied("subscription not visible")
            subscription, rights = await _authorize(uow, actor_id, found.id)
        return SubscriptionView(subscription, rights)


@dataclass(frozen=True, slots=True)
class EmployeesView:
    subscription: Subscription
    rights: Rights
    page: Page[Employee]
    active: int
    #: the most active employees allowed (unit-priced plans), else None
    limit: int | None


class ListEmployees:
    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog]) -> None:
        self._uow = uow
        self._catalog = catalog

    async def __call__(self, req: TabRequest) -> EmployeesView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            page, active = await uow.employees.page_with_active(
                subscription.id, req.offset, req.limit
            )
        limit = employee_limit(subscription, self._catalog())
        return EmployeesView(subscription, rights, page, active, limit)


@dataclass(frozen=True, slots=True)
class DetailsView:
    subscription: Subscription
    rights: Rights
    #: the order, with the frozen quote and the invoice, customer and contact snapshots
    order: Order
    #: who registered it, with their roles now (None if unknown)
    registrant: Principal | None

    @property
    def registered_by_staff(self) -> bool:
        """An agent or admin registered it on the business's behalf (they are staff and hold no
        role in the business)."""
        p = self.registrant
        return p is not None and p.is_staff and p.role_in(self.order.enterprise_id) is None


class GetSubscriptionDetails:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> DetailsView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            order = await uow.orders.get(subscription.order_id)
            if order is None:
                raise NotFound("order of the subscription")
            registrant = await uow.users.principal(order.registered_by)
        return DetailsView(subscription, rights, order, registrant)


@dataclass(frozen=True, slots=True)
class MemosView:
    subscription: Subscription
    rights: Rights
    page: Page[Memo]
    authors: Mapping[UserId, User]


class ListMemos:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> MemosView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            page = await uow.memos.page(subscription.id, req.offset, req.limit)
            authors = await uow.users.get_many({m.author_id for m in page.items})
        return MemosView(subscription, rights, page, authors)


@dataclass(frozen=True, slots=True)
class PaymentView:
    subscription: Subscription
    rights: Rights
    #: newest first
    invoices: tuple[Invoice, ...]
    #: the successful online payment (VNPT Pay), if any
    online: PaymentAttempt | None
    #: the staff who confirmed cash payments
    confirmers: Mapping[UserId, User] = field(default_factory=dict)

    @property
    def pending(self) -> tuple[Invoice, ...]:
        """Invoices still waiting for payment."""
        return tuple(i for i in self.invoices if i.status is InvoiceStatus.WAITING)

    @property
    def pending_total(self) -> int:
        return sum(i.total for i in self.pending)


class GetPaymentMethod:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> PaymentView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            invoices = await uow.invoices.for_subscription(subscription.id)
            online = None
            if subscription.kind is ServiceKind.ON:
                attempts = await uow.payments.for_order(subscription.order_id)
                online = next(
                    (
                        a
                        for a in reversed(attempts)
                        if a.status is PaymentAttemptStatus.SUCCESS
                        and a.method is PaymentMethod.VNPTPAY
                    ),
                    None,
                )
            confirmers = await uow.users.get_many(
                {i.confirmed_by for i in invoices if i.confirmed_by is not None}
            )
        return PaymentView(subscription, rights, tuple(invoices), online, confirmers)


@dataclass(frozen=True, slots=True)
class InvoicesView:
    subscription: Subscription
    rights: Rights
    #: newest first
    invoices: tuple[Invoice, ...]


class ListInvoices:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> InvoicesView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            invoices = await uow.invoices.for_subscription(subscription.id)
        return InvoicesView(subscription, rights, tuple(invoices))


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    actor_id: int
    subscription_id: int
    invoice_id: int


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """One invoice with what its document shows: the lines are the frozen quote
    (``invoice.lines``); the buyer is the order's invoice snapshot."""

    subscription: Subscription
    rights: Rights
    invoice: Invoice
    order: Order
    confirmed_by: User | None = None


class GetInvoice:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: InvoiceRequest) -> InvoiceView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            invoice = await uow.invoices.get(InvoiceId(req.invoice_id))
            if invoice is None or invoice.subscription_id != subscription.id:
                raise PermissionDenied("invoice not of this subscription")
            order = await uow.orders.get(invoice.order_id)
            if order is None:
                raise NotFound("order of the invoice")
            confirmer = (
                await uow.users.get(invoice.confirmed_by)
                if invoice.confirmed_by is not None
                else None
            )
        return InvoiceView(subscription, rights, invoice, order, confirmer)


@dataclass(frozen=True, slots=True)
class HistoryView:
    subscription: Subscription
    rights: Rights
    page: Page[HistoryEvent]
    actors: Mapping[UserId, User]


class ListHistory:
    """Every event of the subscription (and of its order before it existed), newest first."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> HistoryView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            page = await uow.history.page_for_subscription(
                subscription.id, subscription.order_id, req.offset, req.limit
            )
            actors = await uow.users.get_many(
                {e.actor_id for e in page.items if e.actor_id is not None}
            )
        return HistoryView(subscription, rights, page, actors)


# ---------------------------------------------------------------------------------------------
# Changes


def _event(
    action: str,
    subscription: Subscription,
    actor: UserId,
    now: datetime,
    details: dict[str, object],
) -> HistoryEvent:
    return HistoryEvent(
        action=action,
        created_at=now,
        enterprise_id=subscription.enterprise_id,
        subscription_id=subscription.id,
        order_id=subscription.order_id,
        actor_id=actor,
        details=details,
    )


@dataclass(frozen=True, slots=True)
class AddEmployeeRequest:
    actor_id: int
    subscription_id: int
    name: str
    email: str
    phone: str = ""


@dataclass(frozen=True, slots=True)
class EmployeeChange:
    employee: Employee
    #: active employees after the change, and the limit (None when unlimited)
    active: int
    limit: int | None
    changed: bool = True


class AddEmployee:
    """Owners and staff add an employee (ON): name, e-mail (unique in the subscription) and
    an optional mobile phone, all validated; a unit-priced plan's quantity caps the active
    employees (checked under the subscription's row lock, so two adds cannot both pass)."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: AddEmployeeRequest) -> EmployeeChange:
        name = validate_contact_name(req.name, field="name")
        email = validate_email(req.email)
        phone = validate_phone(req.phone) if req.phone.strip() else None
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_manage_employees, "only owners and staff manage employees")
            if subscription.kind is not ServiceKind.ON:
                raise InvalidInput("employees are for ON services", reason="employees.not_on")
            await uow.subscriptions.get(subscription.id, for_update=True)
            if await uow.employees.email_taken(subscription.id, email):
                raise InvalidInput(
                    "email taken", field="email", reason="email.taken", example=email
                )
            limit = employee_limit(subscription, self._catalog())
            active = await uow.employees.count_active(subscription.id)
            if limit is not None and active >= limit:
                raise EmployeeLimitReached(limit)
            employee = await uow.employees.add(
                Employee(
                    subscription_id=subscription.id,
                    name=name,
                    email=email,
                    phone=phone,
                    created_at=now,
                )
            )
            await uow.history.add(
                _event(
                    "employee.added",
                    subscription,
                    rights.user_id,
                    now,
                    {"employee": employee.id, "name": name, "email": email},
                )
            )
            await uow.commit()
        return EmployeeChange(employee, active + 1, limit)


@dataclass(frozen=True, slots=True)
class SetEmployeeActiveRequest:
    actor_id: int
    subscription_id: int
    employee_id: int
    active: bool


class SetEmployeeActive:
    """Deactivate or reactivate an employee of the subscription (owners and staff);
    reactivating respects the unit-priced limit. Setting the state it already has changes
    nothing and records nothing."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: SetEmployeeActiveRequest) -> EmployeeChange:
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_manage_employees, "only owners and staff manage employees")
            await uow.subscriptions.get(subscription.id, for_update=True)
            employee = await uow.employees.get(EmployeeId(req.employee_id))
            if employee is None or employee.subscription_id != subscription.id:
                raise PermissionDenied("employee not of this subscription")
            limit = employee_limit(subscription, self._catalog())
            active = await uow.employees.count_active(subscription.id)
            if employee.active == req.active:
                return EmployeeChange(employee, active, limit, changed=False)
            if req.active and limit is not None and active >= limit:
                raise EmployeeLimitReached(limit)
            await uow.employees.set_active(employee.id, req.active)
            await uow.history.add(
                _event(
                    "employee.reactivated" if req.active else "employee.deactivated",
                    subscription,
                    rights.user_id,
                    now,
                    {"employee": employee.id, "name": employee.name},
                )
            )
            await uow.commit()
        return EmployeeChange(
            replace(employee, active=req.active), active + (1 if req.active else -1), limit
        )


@dataclass(frozen=True, slots=True)
class AddNoteRequest:
    actor_id: int
    subscription_id: int
    text: str


@dataclass(frozen=True, slots=True)
class MemoChange:
    memo: Memo
    changed: bool = True


class AddNote:
    """A free-text note on the subscription, by an owner or staff."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: AddNoteRequest) -> MemoChange:
        text = validate_memo_text(req.text)
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_note, "only owners and staff write notes")
            memo = await uow.memos.add(
                Memo(
                    subscription_id=subscription.id,
                    kind=MemoKind.NOTE,
                    text=text,
                    author_id=rights.user_id,
                    created_at=now,
                )
            )
            await uow.history.add(
                _event(
                    "memo.added",
                    subscription,
                    rights.user_id,
                    now,
                    {"memo": memo.id, "kind": MemoKind.NOTE.value},
                )
            )
            await uow.commit()
        return MemoChange(memo)


@dataclass(frozen=True, slots=True)
class AddMemoRequest:
    actor_id: int
    subscription_id: int
    kind: MemoKind  # CREDIT or DEBIT
    amount: int
    reason: str


class AddMemo:
    """A credit or debit memo (amount, reason), by an agent or admin; it starts OPEN."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: AddMemoRequest) -> MemoChange:
        if req.kind not in (MemoKind.CREDIT, MemoKind.DEBIT):
            raise InvalidInput("a memo is a credit or a debit", reason="memo.kind")
        if not 0 < req.amount <= MAX_MEMO_AMOUNT:
            raise InvalidInput("amount out of range", field="amount", reason="amount.range")
        reason = validate_memo_text(req.reason, name="reason")
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_memo, "only agents and admins write credit/debit memos")
            memo = await uow.memos.add(
                Memo(
                    subscription_id=subscription.id,
                    kind=req.kind,
                    text=reason,
                    author_id=rights.user_id,
                    created_at=now,
                    amount=req.amount,
                    status=MemoStatus.OPEN,
                )
            )
            await uow.history.add(
                _event(
                    "memo.added",
                    subscription,
                    rights.user_id,
                    now,
                    {"memo": memo.id, "kind": req.kind.value, "amount": req.amount},
                )
            )
            await uow.commit()
        return MemoChange(memo)


@dataclass(frozen=True, slots=True)
class SetMemoStatusRequest:
    actor_id: int
    subscription_id: int
    memo_id: int
    status: MemoStatus  # APPLIED or CANCELLED


class SetMemoStatus:
    """An OPEN credit/debit memo becomes APPLIED or CANCELLED (agents and admins); a memo
    already closed, or a note, is refused."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: SetMemoStatusRequest) -> MemoChange:
        if req.status not in (MemoStatus.APPLIED, MemoStatus.CANCELLED):
            raise InvalidInput("a memo is applied or cancelled", reason="memo.status")
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_memo, "only agents and admins change memos")
            memo = await uow.memos.get(MemoId(req.memo_id))
            if memo is None or memo.subscription_id != subscription.id:
                raise PermissionDenied("memo not of this subscription")
            if memo.status is not MemoStatus.OPEN:
                return MemoChange(memo, changed=False)
            await uow.memos.set_status(memo.id, req.status)
            await uow.history.add(
                _event(
                    "memo.status_changed",
                    subscription,
                    rights.user_id,
                    now,
                    {
                        "memo": memo.id,
                        "kind": memo.kind.value,
                        "amount": memo.amount or 0,
                        "status": req.status.value,
                    },
                )
            )
            await uow.commit()
        return MemoChange(replace(memo, status=req.status))


@dataclass(frozen=True, slots=True)
class AdvanceProgressRequest:
    actor_id: int
    subscription_id: int
    #: the next step on the track, or CANCELLED
    to: OrderProgress


@dataclass(frozen=True, slots=True)
class Recipient:
    """A chat to tell (a Telegram user id is its private chat id) and its language."""

    chat_id: int
    locale: str


@dataclass(frozen=True, slots=True)
class ProgressChanged:
    subscription: Subscription
    previous: OrderProgress | None
    #: the business owners to tell (the actor excluded)
    notify: tuple[Recipient, ...] = ()
    changed: bool = True


class AdvanceProgress:
    """Staff move an OS order one step along the track, or cancel it (not once completed).

    Only the next step is accepted (a repeated press finds it already there and changes
    nothing), so two agents pressing at once cannot skip a step. Cancelling also cancels the
    subscription. The business owners are returned to be told."""

    def __init__(self, uow: UowFactory, clock: Clock, default_locale: str = "vi") -> None:
        self._uow = uow
        self._clock = clock
        self._default_locale = default_locale

    async def __call__(self, req: AdvanceProgressRequest) -> ProgressChanged:
        now = self._clock.now()
        async with self._uow() as uow:
            _, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_progress, "only agents and admins move the order progress")
            subscription = await uow.subscriptions.get(
                SubscriptionId(req.subscription_id), for_update=True
            )
            if subscription is None:
                raise PermissionDenied("subscription not visible")
            if subscription.kind is not ServiceKind.OS:
                raise InvalidInput("progress is for OS orders", reason="progress.not_os")
            previous = subscription.progress
            if previous == req.to:
                return ProgressChanged(subscription, previous, changed=False)
            allowed = _allowed_moves(previous)
            if req.to not in allowed:
                raise InvalidInput("not the next step", reason="progress.step")
            updated = replace(subscription, progress=req.to)
            if req.to is OrderProgress.CANCELLED:
                updated = replace(updated, status=SubscriptionStatus.CANCELLED)
            await uow.subscriptions.update(updated)
            await uow.history.add(
                _event(
                    "progress.changed",
                    updated,
                    rights.user_id,
                    now,
                    {"from": previous.value if previous else "", "to": req.to.value},
                )
            )
            notify = await self._owners(uow, updated, rights.user_id)
            params: dict[str, JsonValue] = {
                "subscription": updated.code,
                "service": updated.service_code,
                "progress": req.to.value,
            }
            for recipient in notify:
                await uow.outbox.add(
                    Notice(
                        NoticeKind.PROGRESS_CHANGED, recipient.chat_id, recipient.locale, params
                    ),
                    now,
                )
            await uow.commit()
        return ProgressChanged(updated, previous, notify)

    async def _owners(
        self, uow: UnitOfWork, subscription: Subscription, actor: UserId
    ) -> tuple[Recipient, ...]:
        members = await uow.memberships.for_enterprise(subscription.enterprise_id)
        owners = [m.user_id for m in members if m.role is Role.OWNER and m.user_id != actor]
        users = await uow.users.get_many(owners) if owners else {}
        return tuple(
            Recipient(int(o), locale_of(users[o]) or self._default_locale)
            for o in dict.fromkeys(owners)
            if o in users and users[o].reachable
        )


def _allowed_moves(current: OrderProgress | None) -> Collection[OrderProgress]:
    if current in (OrderProgress.COMPLETED, OrderProgress.CANCELLED):
        return ()
    following = next_progress(current)
    return (OrderProgress.CANCELLED,) if following is None else (following, OrderProgress.CANCELLED)
