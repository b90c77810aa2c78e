"""The subscription-management conversation's backend: each question is one use case of
:mod:`domain.usecases.manage` (which checks who asks), and invoices are rendered as PDF here.

A tab costs the session's load and save plus one to four queries of its use case, whatever
the number of subscriptions (see the use cases' docs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.invoice_pdf import InvoicePdf, invoice_filename
from domain.catalog import Catalog
from domain.ports import Clock, UnitOfWork
from domain.usecases.manage import (
    AddEmployee,
    AddEmployeeRequest,
    AddMemo,
    AddMemoRequest,
    AddNote,
    AddNoteRequest,
    AdvanceProgress,
    AdvanceProgressRequest,
    DetailsView,
    EmployeeChange,
    EmployeesView,
    FindSubscription,
    GetInvoice,
    GetPaymentMethod,
    GetSubscription,
    GetSubscriptionDetails,
    HistoryView,
    InvoiceRequest,
    InvoicesView,
    InvoiceView,
    ListEmployees,
    ListHistory,
    ListInvoices,
    ListMemos,
    ListRequest,
    ListSubscriptions,
    MemoChange,
    MemosView,
    PaymentView,
    ProgressChanged,
    SetEmployeeActive,
    SetEmployeeActiveRequest,
    SetMemoStatus,
    SetMemoStatusRequest,
    SubscriptionList,
    SubscriptionView,
    TabRequest,
)

__all__ = ["DatabaseManageBackend"]


class DatabaseManageBackend:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        catalog: Callable[[], Catalog],
        clock: Clock,
        pdf: InvoicePdf,
        *,
        default_locale: str = "vi",
    ) -> None:
        self._catalog = catalog
        self._pdf = pdf
        self._list = ListSubscriptions(uow)
        self._find = FindSubscription(uow)
        self._overview = GetSubscription(uow)
        self._employees = ListEmployees(uow, catalog)
        self._details = GetSubscriptionDetails(uow)
        self._memos = ListMemos(uow)
        self._payment = GetPaymentMethod(uow)
        self._invoices = ListInvoices(uow)
        self._invoice = GetInvoice(uow)
        self._history = ListHistory(uow)
        self._add_employee = AddEmployee(uow, catalog, clock)
        self._set_employee_active = SetEmployeeActive(uow, catalog, clock)
        self._add_note = AddNote(uow, clock)
        self._add_memo = AddMemo(uow, clock)
        self._set_memo_status = SetMemoStatus(uow, clock)
        self._advance_progress = AdvanceProgress(uow, clock, default_locale)

    async def subscriptions(self, req: ListRequest) -> SubscriptionList:
        return await self._list(req)

    async def find(self, actor_id: int, code: str) -> SubscriptionView:
        return await self._find(actor_id, code)

    async def overview(self, req: TabRequest) -> SubscriptionView:
        return await self._overview(req)

    async def employees(self, req: TabRequest) -> EmployeesView:
        return await self._employees(req)

    async def details(self, req: TabRequest) -> DetailsView:
        return await self._details(req)

    async def memos(self, req: TabRequest) -> MemosView:
        return await self._memos(req)

    async def payment(self, req: TabRequest) -> PaymentView:
        return await self._payment(req)

    async def invoices(self, req: TabRequest) -> InvoicesView:
        return await self._invoices(req)

    async def invoice(self, req: InvoiceRequest) -> InvoiceView:
        return await self._invoice(req)

    async def invoice_pdf(self, view: InvoiceView, lang: str) -> tuple[str, bytes]:
        """Rendered in a worker thread: laying out and embedding the font takes tens of
        milliseconds, which other chats should not wait for."""
        service = self._catalog().service(view.subscription.service_code)
        name = service.name if service is not None else view.subscription.service_code
        content = await asyncio.to_thread(self._pdf.render, view, lang, name)
        return invoice_filename(view.invoice), content

    async def history(self, req: TabRequest) -> HistoryView:
        return await self._history(req)

    async def add_employee(self, req: AddEmployeeRequest) -> EmployeeChange:
        return await self._add_employee(req)

    async def set_employee_active(self, req: SetEmployeeActiveRequest) -> EmployeeChange:
        return await self._set_employee_active(req)

    async def add_note(self, req: AddNoteRequest) -> MemoChange:
        return await self._add_note(req)

    async def add_memo(self, req: AddMemoRequest) -> MemoChange:
        return await self._add_memo(req)

    async def set_memo_status(self, req: SetMemoStatusRequest) -> MemoChange:
        return await self._set_memo_status(req)

    async def advance_progress(self, req: AdvanceProgressRequest) -> ProgressChanged:
        return await self._advance_progress(req)
