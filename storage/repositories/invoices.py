"""A subscription's invoices and memos."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Table, insert, select, update

from domain.model import (
    EnterpriseId,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Memo,
    MemoId,
    MemoKind,
    MemoStatus,
    OrderId,
    Page,
    PaymentMethod,
    SubscriptionId,
    UserId,
    invoice_counter,
    invoice_number,
)
from storage.models import InvoiceRow, MemoRow
from storage.repositories._common import SqlRepository, check_page, counted_page, rowcount
from storage.repositories.orders import SqlCounterRepository

_NO_SYNC = {"synchronize_session": False}


def to_invoice(row: Any) -> Invoice:
    return Invoice(
        id=InvoiceId(row.id),
        number=row.number,
        order_id=OrderId(row.order_id),
        subscription_id=SubscriptionId(row.subscription_id)
        if row.subscription_id is not None
        else None,
        enterprise_id=EnterpriseId(row.enterprise_id),
        status=InvoiceStatus(row.status),
        subtotal=row.subtotal,
        discount_total=row.discount_total,
        vat_total=row.vat_total,
        total=row.total,
        lines=dict(row.lines or {}),
        payment_method=PaymentMethod(row.payment_method),
        created_at=row.created_at,
        issued_at=row.issued_at,
        paid_at=row.paid_at,
        confirmed_by=UserId(row.confirmed_by) if row.confirmed_by is not None else None,
    )


def _invoice_changes(i: Invoice) -> dict[str, Any]:
    return {
        "subscription_id": i.subscription_id,
        "status": i.status.value,
        "issued_at": i.issued_at,
        "paid_at": i.paid_at,
        "confirmed_by": i.confirmed_by,
    }


#: the table, not the mapped class: a Core INSERT skips the ORM's bulk-insert machinery
_INVOICES = cast(Table, InvoiceRow.__table__)
#: built once, the values as execution parameters
_ADD_INVOICE = insert(_INVOICES).returning(_INVOICES.c.id)


class SqlInvoiceRepository(SqlRepository):
    __slots__ = ()

    async def add(self, invoice: Invoice) -> Invoice:
        i = invoice
        new_id = (
            await self._rows(
                _ADD_INVOICE,
                {
                    "number": i.number,
                    "order_id": i.order_id,
                    "enterprise_id": i.enterprise_id,
                    "subtotal": i.subtotal,
                    "discount_total": i.discount_total,
                    "vat_total": i.vat_total,
                    "total": i.total,
                    "lines": i.lines,
                    "payment_method": i.payment_method.value,
                    "created_at": i.created_at,
                    **_invoice_changes(i),
                },
                insert=True,
            )
        )[0][0]
        return replace(i, id=InvoiceId(new_id))

    async def get(self, invoice_id: InvoiceId, *, for_update: bool = False) -> Invoice | None:
        stmt = select(InvoiceRow).where(InvoiceRow.id == invoice_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_invoice(row) if row is not None else None

    async def get_by_number(self, number: str) -> Invoice | None:
        row = await self._session.scalar(select(InvoiceRow).where(InvoiceRow.number == number))
        return to_invoice(row) if row is not None else None

    async def for_subscription(self, subscription_id: SubscriptionId) -> list[Invoice]:
        rows = await self._session.scalars(
            select(InvoiceRow)
            .where(InvoiceRow.subscription_id == subscription_id)
            .order_by(InvoiceRow.created_at.desc(), InvoiceRow.id.desc())
        )
        return [to_invoice(r) for r in rows]

    async def for_order(self, order_id: OrderId) -> list[Invoice]:
        rows = await self._session.scalars(
            select(InvoiceRow).where(InvoiceRow.order_id == order_id).order_by(InvoiceRow.id)
        )
        return [to_invoice(r) for r in rows]

    async def assign_number(self, invoice_id: InvoiceId, year: int) -> str:
        current = await self._session.scalar(
            select(InvoiceRow.number).where(InvoiceRow.id == invoice_id).with_for_update()
        )
        if current is not None:
            return str(current)
        seq = await SqlCounterRepository(self._session).next(invoice_counter(year))
        number = invoice_number(year, seq)
        result = await self._session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice_id, InvoiceRow.number.is_(None))
            .values(number=number)
            .execution_options(**_NO_SYNC)
        )
        if rowcount(result) != 1:
            raise LookupError(f"invoice {invoice_id} does not exist")
        return number

    async def update(self, invoice: Invoice) -> None:
        await self._session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice.id)
            .values(_invoice_changes(invoice))
            .execution_options(**_NO_SYNC)
        )

    async def set_status(
        self,
        invoice_id: InvoiceId,
        status: InvoiceStatus,
        *,
        paid_at: Any = None,
        confirmed_by: UserId | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if paid_at is not None:
            values["paid_at"] = paid_at
        if confirmed_by is not None:
            values["confirmed_by"] = confirmed_by
        await self._session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice_id)
            .values(values)
            .execution_options(**_NO_SYNC)
        )


def to_memo(row: Any) -> Memo:
    return Memo(
        id=MemoId(row.id),
        subscription_id=SubscriptionId(row.subscription_id),
        kind=MemoKind(row.kind),
        text=row.text,
        amount=row.amount,
        status=MemoStatus(row.status) if row.status is not None else None,
        author_id=UserId(row.author_id),
        created_at=row.created_at,
    )


class SqlMemoRepository(SqlRepository):
    __slots__ = ()

    async def add(self, memo: Memo) -> Memo:
        new_id = (
            await self._session.execute(
                self._insert(MemoRow)
                .values(
                    subscription_id=memo.subscription_id,
                    kind=memo.kind.value,
                    text=memo.text,
                    amount=memo.amount,
                    status=memo.status.value if memo.status is not None else None,
                    author_id=memo.author_id,
                    created_at=memo.created_at,
                )
                .returning(MemoRow.id)
            )
        ).scalar_one()
        return replace(memo, id=MemoId(new_id))

    async def get(self, memo_id: MemoId) -> Memo | None:
        row = await self._session.scalar(select(MemoRow).where(MemoRow.id == memo_id))
        return to_memo(row) if row is not None else None

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        """Newest first."""
        check_page(offset, limit)
        stmt = (
            select(MemoRow)
            .where(MemoRow.subscription_id == subscription_id)
            .order_by(MemoRow.created_at.desc(), MemoRow.id.desc())
        )
        return await self._page(stmt, offset, limit, to_memo)

    async def set_status(self, memo_id: MemoId, status: MemoStatus) -> bool:
        result = await self._session.execute(
            update(MemoRow)
            .where(MemoRow.id == memo_id, MemoRow.kind != MemoKind.NOTE.value)
            .values(status=status.value)
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result) > 0

    async def page(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        stmt = (
            select(MemoRow)
            .where(MemoRow.subscription_id == subscription_id)
            .order_by(MemoRow.created_at.desc(), MemoRow.id.desc())
        )
        page, _ = await counted_page(self._session, stmt, offset, limit, to_memo)
        return page
