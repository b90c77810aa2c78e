"""The subscription-management use cases' rules, on the in-memory unit of work (tests/fakes): who
may see and change what, the employee limit of unit-priced plans, memos, the order progress,
paging. tests/integration/test_manage_usecases.py keeps what needs a database (the statements
each read costs)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import (
    InvoiceId,
    MemoKind,
    MemoStatus,
    OrderProgress,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.outbox import Notice, NoticeKind
from domain.usecases.manage import (
    AddEmployee,
    AddEmployeeRequest,
    AddMemo,
    AddMemoRequest,
    AddNote,
    AddNoteRequest,
    AdvanceProgress,
    AdvanceProgressRequest,
    EmployeeLimitReached,
    FindSubscription,
    GetInvoice,
    GetPaymentMethod,
    GetSubscription,
    GetSubscriptionDetails,
    InvoiceRequest,
    ListEmployees,
    ListHistory,
    ListInvoices,
    ListMemos,
    ListRequest,
    ListSubscriptions,
    SetEmployeeActive,
    SetEmployeeActiveRequest,
    SetMemoStatus,
    SetMemoStatusRequest,
    TabRequest,
)
from tests.fakes.uow import FakeDatabase
from tests.integration.test_manage_usecases import (
    ADMIN,
    AGENT,
    MEMBER,
    OTHER_OWNER,
    OTHER_TAX_CODE,
    OWNER,
    STRANGER,
    TAX_CODE,
    World,
)


@pytest.fixture
async def world() -> World:
    return await World(FakeDatabase()).seed()  # type: ignore[arg-type]


async def test_who_sees_a_subscription_and_who_is_refused(world: World) -> None:
    sub = await world.subscribe()
    view = GetSubscription(world.uow)
    for actor in (OWNER, MEMBER, AGENT, ADMIN):
        seen = await view(TabRequest(actor, sub.id))
        assert seen.subscription.code == sub.code
    assert (await view(TabRequest(MEMBER, sub.id))).rights.read_only
    assert not (await view(TabRequest(OWNER, sub.id))).rights.read_only
    for actor in (OTHER_OWNER, STRANGER, UserId(999)):  # 999: never seen by the bot
        with pytest.raises(PermissionDenied):
            await view(TabRequest(actor, sub.id))
    with pytest.raises(PermissionDenied):  # no such id: the same refusal, nothing to probe
        await view(TabRequest(OWNER, SubscriptionId(sub.id + 1000)))
    find = FindSubscription(world.uow)
    assert (await find(OWNER, sub.code.lower())).subscription.id == sub.id
    with pytest.raises(PermissionDenied):
        await find(OTHER_OWNER, sub.code)
    with pytest.raises(PermissionDenied):
        await find(OWNER, "TB-2026-999999")


async def test_members_change_nothing(world: World) -> None:
    sub = await world.subscribe(quantity=3)
    clock = world.clock
    attempts = [
        AddEmployee(world.uow, world.catalog, clock)(
            AddEmployeeRequest(MEMBER, sub.id, "Lê Văn B", "b@anphat.vn")
        ),
        AddNote(world.uow, clock)(AddNoteRequest(MEMBER, sub.id, "ghi chú")),
        AddMemo(world.uow, clock)(AddMemoRequest(OWNER, sub.id, MemoKind.CREDIT, 1000, "x")),
        AddNote(world.uow, clock)(AddNoteRequest(OTHER_OWNER, sub.id, "ghi chú")),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            await attempt
    assert await world.actions(sub) == [
        "order.created",
        "payment.succeeded",
        "subscription.activated",
        "invoice.paid",
    ]


async def test_a_unit_priced_plan_caps_the_active_employees(world: World) -> None:
    sub = await world.subscribe(quantity=2)
    add = AddEmployee(world.uow, world.catalog, world.clock)
    toggle = SetEmployeeActive(world.uow, world.catalog, world.clock)
    first = await add(AddEmployeeRequest(OWNER, sub.id, " Phạm  Minh Đức ", "Duc@AnPhat.vn"))
    assert first.employee.name == "Phạm Minh Đức" and first.employee.email == "Duc@anphat.vn"
    second = await add(AddEmployeeRequest(AGENT, sub.id, "Lê Thu Hà", "ha@anphat.vn", "0987111222"))
    assert second.employee.phone == "+84987111222" and (second.active, second.limit) == (2, 2)
    with pytest.raises(EmployeeLimitReached) as refused:
        await add(AddEmployeeRequest(OWNER, sub.id, "Võ Văn Tám", "tam@anphat.vn"))
    assert refused.value.limit == 2
    with pytest.raises(InvalidInput) as taken:
        await add(AddEmployeeRequest(OWNER, sub.id, "Đức 2", "duc@anphat.VN"))
    assert taken.value.params["reason"] == "email.taken"
    with pytest.raises(InvalidInput):
        await add(AddEmployeeRequest(OWNER, sub.id, "Tên", "not-an-email"))
    with pytest.raises(InvalidInput):
        await add(AddEmployeeRequest(OWNER, sub.id, "Tên", "t@anphat.vn", "12345"))

    off = await toggle(SetEmployeeActiveRequest(OWNER, sub.id, first.employee.id, False))
    assert off.changed and off.active == 1
    again = await toggle(SetEmployeeActiveRequest(OWNER, sub.id, first.employee.id, False))
    assert not again.changed  # nothing to do, nothing recorded
    third = await add(AddEmployeeRequest(OWNER, sub.id, "Võ Văn Tám", "tam@anphat.vn"))
    assert third.active == 2
    with pytest.raises(EmployeeLimitReached):
        await toggle(SetEmployeeActiveRequest(OWNER, sub.id, first.employee.id, True))

    listed = await ListEmployees(world.uow, world.catalog)(TabRequest(MEMBER, sub.id, 0, 2))
    assert (listed.active, listed.limit, listed.page.total) == (2, 2, 3)
    assert [e.name for e in listed.page.items] == ["Lê Thu Hà", "Võ Văn Tám"]  # active first
    rest = await ListEmployees(world.uow, world.catalog)(TabRequest(MEMBER, sub.id, 2, 2))
    assert [e.name for e in rest.page.items] == ["Phạm Minh Đức"] and rest.active == 2
    assert (await world.actions(sub))[4:] == [
        "employee.added",
        "employee.added",
        "employee.deactivated",
        "employee.added",
    ]

    other = await world.subscribe(enterprise=world.other)
    with pytest.raises(PermissionDenied):  # an employee of another subscription
        await toggle(SetEmployeeActiveRequest(OTHER_OWNER, other.id, first.employee.id, False))


async def test_flat_plans_have_no_cap_and_order_services_no_employees(world: World) -> None:
    flat = await world.subscribe("ECONTRACT", "ECONTRACT-BASIC", "M1")
    add = AddEmployee(world.uow, world.catalog, world.clock)
    for i in range(3):
        result = await add(AddEmployeeRequest(OWNER, flat.id, f"Người {i}", f"p{i}@anphat.vn"))
        assert result.limit is None
    camera = await world.subscribe("CAMERA", "CAMERA-1", "Y1")
    with pytest.raises(InvalidInput):
        await add(AddEmployeeRequest(OWNER, camera.id, "Người", "p@anphat.vn"))


async def test_notes_and_credit_debit_memos(world: World) -> None:
    sub = await world.subscribe()
    clock = world.clock
    note = await AddNote(world.uow, clock)(AddNoteRequest(OWNER, sub.id, "  Gọi lại\n\nsáng mai "))
    assert note.memo.text == "Gọi lại\nsáng mai" and note.memo.status is None
    with pytest.raises(InvalidInput):
        await AddNote(world.uow, clock)(AddNoteRequest(OWNER, sub.id, "x" * 501))
    credit = await AddMemo(world.uow, clock)(
        AddMemoRequest(AGENT, sub.id, MemoKind.CREDIT, 150_000, "Bù gián đoạn")
    )
    debit = await AddMemo(world.uow, clock)(
        AddMemoRequest(ADMIN, sub.id, MemoKind.DEBIT, 80_000, "Phí đổi tên miền")
    )
    assert credit.memo.status is MemoStatus.OPEN
    for bad in (0, -5):
        with pytest.raises(InvalidInput):
            await AddMemo(world.uow, clock)(AddMemoRequest(AGENT, sub.id, MemoKind.DEBIT, bad, "x"))
    with pytest.raises(InvalidInput):
        await AddMemo(world.uow, clock)(AddMemoRequest(AGENT, sub.id, MemoKind.NOTE, 1, "x"))

    status = SetMemoStatus(world.uow, clock)
    with pytest.raises(PermissionDenied):
        await status(SetMemoStatusRequest(OWNER, sub.id, credit.memo.id, MemoStatus.APPLIED))
    applied = await status(SetMemoStatusRequest(AGENT, sub.id, credit.memo.id, MemoStatus.APPLIED))
    assert applied.changed and applied.memo.status is MemoStatus.APPLIED
    repeat = await status(SetMemoStatusRequest(AGENT, sub.id, credit.memo.id, MemoStatus.CANCELLED))
    assert not repeat.changed and repeat.memo.status is MemoStatus.APPLIED  # closed stays closed
    on_note = await status(SetMemoStatusRequest(AGENT, sub.id, note.memo.id, MemoStatus.APPLIED))
    assert not on_note.changed
    other = await world.subscribe(enterprise=world.other)
    with pytest.raises(PermissionDenied):  # a memo of another subscription, through one's own
        await status(SetMemoStatusRequest(AGENT, other.id, debit.memo.id, MemoStatus.APPLIED))

    listed = await ListMemos(world.uow)(TabRequest(MEMBER, sub.id, 0, 2))
    assert [m.id for m in listed.page.items] == [debit.memo.id, credit.memo.id]  # newest first
    assert listed.page.total == 3 and set(listed.authors) == {ADMIN, AGENT}
    assert listed.authors[AGENT].first_name == "Hỗ trợ"
    assert (await world.actions(sub))[4:] == [
        "memo.added",
        "memo.added",
        "memo.added",
        "memo.status_changed",
    ]


def outbox(world: World) -> list[Notice]:
    """The committed outbox rows' notices, oldest first."""
    rows = world.db.uow.committed.outbox  # type: ignore[attr-defined]
    return [rows[i].notice for i in sorted(rows)]


async def test_an_owner_telegram_refused_is_not_told_of_progress(world: World) -> None:
    sub = await world.subscribe("CAMERA", "CAMERA-1", "Y1")
    async with world.db.uow as uow:
        await uow.users.mark_unreachable(OWNER, world.clock.now())
        await uow.commit()
    advance = AdvanceProgress(world.uow, world.clock)
    moved = await advance(AdvanceProgressRequest(AGENT, sub.id, OrderProgress.RECEIVED))
    assert moved.changed and moved.notify == ()
    assert outbox(world) == []


async def test_order_progress_moves_one_step_at_a_time_and_owners_are_told(world: World) -> None:
    sub = await world.subscribe("CAMERA", "CAMERA-1", "Y1")
    assert sub.progress is OrderProgress.ORDERED and sub.status is SubscriptionStatus.FUTURE
    advance = AdvanceProgress(world.uow, world.clock)
    with pytest.raises(PermissionDenied):
        await advance(AdvanceProgressRequest(OWNER, sub.id, OrderProgress.RECEIVED))
    with pytest.raises(InvalidInput):  # a step cannot be skipped
        await advance(AdvanceProgressRequest(AGENT, sub.id, OrderProgress.DEPLOYING))
    moved = await advance(AdvanceProgressRequest(AGENT, sub.id, OrderProgress.RECEIVED))
    assert moved.changed and moved.previous is OrderProgress.ORDERED
    assert [(r.chat_id, r.locale) for r in moved.notify] == [(int(OWNER), "vi")]
    [row] = outbox(world)
    assert (row.kind, row.chat_id, row.locale) == (NoticeKind.PROGRESS_CHANGED, int(OWNER), "vi")
    assert row.params == {"subscription": sub.code, "service": "CAMERA", "progress": "RECEIVED"}
    repeat = await advance(AdvanceProgressRequest(AGENT, sub.id, OrderProgress.RECEIVED))
    assert not repeat.changed and repeat.notify == ()  # a double tap tells nobody twice
    assert len(outbox(world)) == 1
    await advance(AdvanceProgressRequest(ADMIN, sub.id, OrderProgress.DEPLOYING))
    done = await advance(AdvanceProgressRequest(AGENT, sub.id, OrderProgress.COMPLETED))
    assert done.subscription.progress is OrderProgress.COMPLETED
    with pytest.raises(InvalidInput):  # completed is final
        await advance(AdvanceProgressRequest(AGENT, sub.id, OrderProgress.CANCELLED))

    other = await world.subscribe("CAMERA", "CAMERA-1", "Y1")
    cancelled = await advance(AdvanceProgressRequest(AGENT, other.id, OrderProgress.CANCELLED))
    assert cancelled.subscription.status is SubscriptionStatus.CANCELLED
    online = await world.subscribe()
    with pytest.raises(InvalidInput):
        await advance(AdvanceProgressRequest(AGENT, online.id, OrderProgress.RECEIVED))
    assert (await world.actions(sub)).count("progress.changed") == 3
    async with world.db.uow as uow:
        stored = await uow.subscriptions.get(other.id)
    assert stored is not None and stored.status is SubscriptionStatus.CANCELLED


async def test_the_list_pages_filters_and_reaches_businesses_by_tax_code(world: World) -> None:
    await world.bulk(20)
    waiting = await world.subscribe("CAMERA", "CAMERA-1", "Y1")
    await world.subscribe(enterprise=world.other)
    listing = ListSubscriptions(world.uow)
    first = await listing(ListRequest(OWNER, limit=8))
    assert first.page.total == 22 and len(first.page.items) == 8 and first.page.has_next
    assert first.page.items[0].id == waiting.id  # newest first
    assert [e.tax_code for e in first.enterprises] == [TAX_CODE]
    last = await listing(ListRequest(OWNER, offset=16, limit=8))
    assert len(last.page.items) == 6 and not last.page.has_next
    beyond = await listing(ListRequest(OWNER, offset=80, limit=8))
    assert beyond.page.items == () and beyond.page.total == 22
    future = await listing(ListRequest(OWNER, statuses=(SubscriptionStatus.FUTURE,)))
    assert [s.id for s in future.page.items] == [waiting.id] and future.page.total == 1

    by_agent = await listing(ListRequest(AGENT, tax_code="0100 233 488"))
    assert by_agent.page.total == 22 and by_agent.is_staff
    assert (await listing(ListRequest(AGENT))).needs_tax_code
    with pytest.raises(NotFound):
        await listing(ListRequest(AGENT, tax_code="0100112437"))
    with pytest.raises(InvalidInput):
        await listing(ListRequest(AGENT, tax_code="0100233489"))  # bad check digit
    for tax_code in (OTHER_TAX_CODE, "0100112437"):  # another's, and one that does not exist
        with pytest.raises(PermissionDenied):
            await listing(ListRequest(OWNER, tax_code=tax_code))
    with pytest.raises(PermissionDenied):
        await listing(ListRequest(OWNER, enterprise_id=world.other))
    nobody = await listing(ListRequest(STRANGER))
    assert nobody.enterprises == () and not nobody.needs_tax_code


async def test_details_payment_invoices_and_history_read_the_stored_records(world: World) -> None:
    sub = await world.subscribe(quantity=4)
    details = await GetSubscriptionDetails(world.uow)(TabRequest(MEMBER, sub.id))
    assert details.order.id == sub.order_id and details.order.quote["v"]
    assert details.registrant is not None and details.registrant.user_id == OWNER
    assert not details.registered_by_staff
    payment = await GetPaymentMethod(world.uow)(TabRequest(MEMBER, sub.id))
    assert payment.online is not None and payment.online.transaction_id is not None
    assert payment.pending == ()
    invoices = await ListInvoices(world.uow)(TabRequest(MEMBER, sub.id))
    [invoice] = invoices.invoices
    opened = await GetInvoice(world.uow)(InvoiceRequest(MEMBER, sub.id, invoice.id))
    assert opened.invoice.number == invoice.number and opened.order.id == sub.order_id
    history = await ListHistory(world.uow)(TabRequest(MEMBER, sub.id, 0, 2))
    assert history.page.total == 4 and [e.action for e in history.page.items] == [
        "invoice.paid",
        "subscription.activated",
    ]

    camera = await world.subscribe("CAMERA", "CAMERA-1", "Y1")
    cash = await GetPaymentMethod(world.uow)(TabRequest(OWNER, camera.id))
    assert cash.online is None and cash.pending_total == cash.invoices[0].total > 0
    [camera_invoice] = cash.invoices
    with pytest.raises(PermissionDenied):  # an invoice of another subscription
        await GetInvoice(world.uow)(InvoiceRequest(OWNER, sub.id, camera_invoice.id))
    with pytest.raises(PermissionDenied):
        await GetInvoice(world.uow)(InvoiceRequest(OWNER, sub.id, InvoiceId(99_999)))
    camera_history = await ListHistory(world.uow)(TabRequest(OWNER, camera.id))
    # the order's event from before the subscription existed is part of its history
    assert [e.action for e in camera_history.page.items] == [
        "subscription.created",
        "order.created",
    ]
