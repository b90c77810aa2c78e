"""An invoice as a PDF document, in Vietnamese or English, with every amount of its frozen quote.

The text is set in Roboto, shipped by the ``font-roboto`` package (a dependency, so
``pip install .`` brings it): it covers Vietnamese (every precomposed letter with its tone
mark, ``đ``/``Đ``, ``ư``/``ơ``) and ``₫``. fpdf2 embeds the subset of the font the document uses,
with a ToUnicode map, so the text can be selected, searched and extracted as written.

Nothing is recomputed: the lines, discounts, VAT per rate and totals are the invoice's snapshot
(``Invoice.lines``, a :meth:`domain.pricing.Quote.to_dict`), the buyer is the order's invoice
data as frozen at registration.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from bot.i18n import I18n
from conversations.kit import CHANGE_DEDUCTIONS
from domain.catalog import Catalog
from domain.formatting import format_date, format_datetime, format_money
from domain.model import Invoice
from domain.pricing import Quote
from domain.usecases.manage import InvoiceView

__all__ = ["FONT_FAMILY", "InvoicePdf", "InvoicePdfFile", "font_paths", "invoice_filename"]

log = logging.getLogger(__name__)

FONT_FAMILY = "Roboto"
_MARGIN = 15.0


@functools.cache
def font_paths() -> tuple[Path, Path]:
    """The regular and bold TTF files of the shipped font."""
    folder = resources.files("font_roboto") / "files"
    regular, bold = folder / "Roboto-Regular.ttf", folder / "Roboto-Bold.ttf"
    return Path(str(regular)), Path(str(bold))


def invoice_filename(invoice: Invoice) -> str:
    """``HD2026-000123.pdf``; an invoice without a number yet is named by its id."""
    return f"{invoice.number}.pdf" if invoice.number else f"hoa-don-{int(invoice.id)}.pdf"


class InvoicePdf:
    """Renders :class:`InvoiceView` documents; texts come from the locale files
    (``manage.pdf.*``)."""

    def __init__(self, i18n: I18n) -> None:
        self._i18n = i18n

    def render(self, view: InvoiceView, lang: str, service_name: str) -> bytes:
        doc = _Document(self._i18n, lang)
        return doc.build(view, service_name)


class InvoicePdfFile:
    """The manage conversation's ``invoice_pdf``: the chat is shown *sending a file…*
    (``sendChatAction`` ``upload_document``) while the PDF is laid out, then the file name
    and content are handed back (the renderer sends them)."""

    def __init__(self, catalog: Callable[[], Catalog], pdf: InvoicePdf, bot: Bot | None) -> None:
        self._catalog = catalog
        self._pdf = pdf
        self._bot = bot

    async def __call__(self, view: InvoiceView, lang: str, chat_id: int, /) -> tuple[str, bytes]:
        """Rendered in a worker thread: laying out and embedding the font takes tens of
        milliseconds, which other chats should not wait for."""
        if self._bot is not None:
            try:
                await self._bot.send_chat_action(chat_id=chat_id, action=ChatAction.UPLOAD_DOCUMENT)
            except TelegramAPIError as error:  # only a hint: the file is sent anyway
                log.info("sendChatAction failed in chat %s: %s", chat_id, error)
        service = self._catalog().service(view.subscription.service_code)
        name = service.name if service is not None else view.subscription.service_code
        content = await asyncio.to_thread(self._pdf.render, view, lang, name)
        return invoice_filename(view.invoice), content


class _Document:
    def __init__(self, i18n: I18n, lang: str) -> None:
        self.i18n = i18n
        self.lang = lang
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
        pdf.set_auto_page_break(auto=True, margin=_MARGIN)
        regular, bold = font_paths()
        pdf.add_font(FONT_FAMILY, "", str(regular))
        pdf.add_font(FONT_FAMILY, "B", str(bold))
        pdf.set_font(FONT_FAMILY, "", 10)
        self.pdf = pdf

    def t(self, key: str, **params: object) -> str:
        return self.i18n.t(self.lang, f"manage.pdf.{key}", **params)

    def money(self, amount: int) -> str:
        return format_money(amount, self.lang)

    def build(self, view: InvoiceView, service_name: str) -> bytes:
        invoice, order, subscription = view.invoice, view.order, view.subscription
        quote = Quote.from_dict(invoice.lines)
        pdf = self.pdf
        number = invoice.number or self.t("no_number")
        pdf.set_title(f"{self.t('title')} {number}")
        pdf.set_creator("onesme-bot")
        pdf.add_page()

        pdf.set_font(FONT_FAMILY, "B", 18)
        pdf.cell(0, 10, self.t("title"), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT_FAMILY, "", 10)
        pdf.cell(0, 6, self.t("subtitle"), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)

        issued = invoice.issued_at or invoice.created_at
        self.pairs(
            (
                (self.t("number"), number),
                (self.t("date"), format_date(issued, self.lang)),
                (self.t("status"), self.t(f"status_{invoice.status.value}")),
                (self.t("method"), self.t(f"method_{invoice.payment_method.value}")),
                (self.t("paid_at"), _when(invoice.paid_at, self.lang)),
                (self.t("subscription"), subscription.code),
                (self.t("order"), order.code),
                (self.t("service"), service_name),
            )
        )
        pdf.ln(2)
        self.heading(self.t("buyer"))
        buyer = order.invoice_info
        self.pairs(
            (
                (self.t("buyer_name"), str(buyer.get("company_name", "")) or "—"),
                (self.t("buyer_tax_code"), str(buyer.get("tax_code", "")) or "—"),
                (self.t("buyer_address"), str(buyer.get("address", "")) or "—"),
                (self.t("buyer_email"), str(buyer.get("email", "")) or "—"),
            )
        )
        pdf.ln(2)
        self.heading(self.t("lines"))
        self.lines_table(quote)
        if quote.invoice_discounts:
            pdf.ln(2)
            for code, amount in quote.invoice_discounts:
                deduction = (  # Đổi gói: the credit or charge of a change, not a promotion
                    self.i18n.t(self.lang, CHANGE_DEDUCTIONS[code], amount=self.money(amount))
                    if code in CHANGE_DEDUCTIONS
                    else self.t("invoice_discount", code=code, amount=self.money(amount))
                )
                pdf.cell(
                    0,
                    6,
                    deduction,
                    new_x=XPos.LMARGIN,
                    new_y=YPos.NEXT,
                )
        pdf.ln(2)
        self.heading(self.t("vat"))
        self.vat_table(quote)
        pdf.ln(3)
        self.totals(quote)
        pdf.ln(6)
        pdf.set_font(FONT_FAMILY, "", 8)
        pdf.multi_cell(0, 4, self.t("footer"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return bytes(pdf.output())

    def heading(self, text: str) -> None:
        self.pdf.set_font(FONT_FAMILY, "B", 11)
        self.pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.set_font(FONT_FAMILY, "", 10)

    def pairs(self, rows: tuple[tuple[str, str], ...]) -> None:
        pdf = self.pdf
        label_width = 48.0
        for label, value in rows:
            pdf.set_font(FONT_FAMILY, "B", 10)
            pdf.cell(label_width, 6, f"{label}:", new_x=XPos.RIGHT, new_y=YPos.TOP)
            pdf.set_font(FONT_FAMILY, "", 10)
            pdf.multi_cell(0, 6, value, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def lines_table(self, quote: Quote) -> None:
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, "", 9)
        header = (
            self.t("col_no"),
            self.t("col_item"),
            self.t("col_quantity"),
            self.t("col_amount"),
            self.t("col_discount"),
            self.t("col_net"),
            self.t("col_tax"),
        )
        right = ("RIGHT",) * 4
        with pdf.table(
            col_widths=(9, 62, 12, 27, 25, 27, 18),
            text_align=("CENTER", "LEFT", *right, "CENTER"),
            line_height=5,
            first_row_as_headings=True,
        ) as table:
            table.row(header)
            for n, line in enumerate(quote.lines, start=1):
                name = self.t("setup", name=line.name) if line.kind == "setup" else line.name
                if line.promotion_code:
                    name = f"{name}\n{self.t('promotion', code=line.promotion_code)}"
                table.row(
                    (
                        str(n),
                        name,
                        str(line.quantity),
                        self.money(line.base_amount),
                        self.money(line.line_discount + line.invoice_discount),
                        self.money(line.net_amount),
                        line.tax.value,
                    )
                )
        pdf.set_font(FONT_FAMILY, "", 10)

    def vat_table(self, quote: Quote) -> None:
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, "", 9)
        with pdf.table(
            col_widths=(40, 50, 50),
            width=140,
            align="LEFT",
            text_align=("CENTER", "RIGHT", "RIGHT"),
            line_height=5,
            first_row_as_headings=True,
        ) as table:
            table.row((self.t("col_tax"), self.t("col_base"), self.t("col_vat")))
            for tax, base, vat in quote.vat_groups:
                rate = self.t("kct") if tax.value == "KCT" else tax.value
                table.row((rate, self.money(base), self.money(vat)))
        pdf.set_font(FONT_FAMILY, "", 10)

    def totals(self, quote: Quote) -> None:
        pdf = self.pdf
        rows = (
            (self.t("subtotal"), quote.subtotal, False),
            (self.t("discounts"), quote.line_discount_total + quote.invoice_discount_total, False),
            (self.t("net_total"), quote.net_total, False),
            (self.t("vat_total"), quote.vat_total, False),
            (self.t("total"), quote.total, True),
        )
        for label, amount, strong in rows:
            pdf.set_font(FONT_FAMILY, "B" if strong else "", 12 if strong else 10)
            pdf.cell(130, 7, label, align=Align.R, new_x=XPos.RIGHT, new_y=YPos.TOP)
            pdf.cell(0, 7, self.money(amount), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT_FAMILY, "", 10)


def _when(moment: datetime | None, lang: str) -> str:
    return format_datetime(moment, lang) if moment is not None else "—"
