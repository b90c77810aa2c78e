"""The subscription-management conversation's use cases, built once: each question or change
is one use case of :mod:`domain.usecases.manage` (which checks who asks), called by the
conversation directly; invoices are rendered as PDF here.

A tab costs the session's load and save plus one to four queries of its use case, whatever
the number of subscriptions (see the use cases' docs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.invoice_pdf import InvoicePdf, invoice_filename
from conversations.manage import ManageBackend
from domain.catalog import Catalog
from domain.ports import Clock, UnitOfWork
from domain.usecases.manage import (
    AddEmployee,
    AddMemo,
    AddNote,
    AdvanceProgress,
    FindSubscription,
    GetInvoice,
    GetPaymentMethod,
    GetSubscription,
    GetSubscriptionDetails,
    InvoiceView,
    ListEmployees,
    ListHistory,
    ListInvoices,
    ListMemos,
    ListSubscriptions,
    SetEmployeeActive,
    SetMemoStatus,
)
from domain.usecases.manage.paying import PayInvoice

__all__ = ["InvoicePdfFile", "manage_backend"]


class InvoicePdfFile:
    def __init__(self, catalog: Callable[[], Catalog], pdf: InvoicePdf) -> None:
        self._catalog = catalog
        self._pdf = pdf

    async def __call__(self, view: InvoiceView, lang: str, /) -> tuple[str, bytes]:
        """Rendered in a worker thread: laying out and embedding the font takes tens of
        milliseconds, which other chats should not wait for."""
        service = self._catalog().service(view.subscription.service_code)
        name = service.name if service is not None else view.subscription.service_code
        content = await asyncio.to_thread(self._pdf.render, view, lang, name)
        return invoice_filename(view.invoice), content


def manage_backend(
    uow: Callable[[], UnitOfWork],
    catalog: Callable[[], Catalog],
    clock: Clock,
    pdf: InvoicePdf,
    *,
    default_locale: str = "vi",
    pay_invoice: PayInvoice | None = None,
) -> ManageBackend:
    """``pay_invoice``: **Thanh toán** on open invoices (built with the payment use cases;
    without it the button is not offered)."""
    return ManageBackend(
        subscriptions=ListSubscriptions(uow),
        find=FindSubscription(uow),
        overview=GetSubscription(uow),
        employees=ListEmployees(uow, catalog),
        details=GetSubscriptionDetails(uow),
        memos=ListMemos(uow),
        payment=GetPaymentMethod(uow),
        invoices=ListInvoices(uow),
        invoice=GetInvoice(uow),
        invoice_pdf=InvoicePdfFile(catalog, pdf),
        history=ListHistory(uow),
        add_employee=AddEmployee(uow, catalog, clock),
        set_employee_active=SetEmployeeActive(uow, catalog, clock),
        add_note=AddNote(uow, clock),
        add_memo=AddMemo(uow, clock),
        set_memo_status=SetMemoStatus(uow, clock),
        advance_progress=AdvanceProgress(uow, clock, default_locale),
        pay_invoice=pay_invoice,
    )
