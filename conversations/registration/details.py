"""Bước 2/2: the invoice details → the customer details (each shown from the business's stored
details, editable one field per prompt) → the contact's name, phone and e-mail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from conversations.kit import nav, unexpected
from conversations.registration.context import Ctx, StepSpec, phone_text, title
from conversations.registration.draft import (
    CUSTOMER_FIELDS,
    INVOICE_FIELDS,
    Action,
    Field,
    Step,
)
from conversations.screens import Button, Join, Msg, Plain, ReplyKeyboard, Screen
from domain.errors import InvalidInput
from domain.validation import (
    validate_address,
    validate_company_name,
    validate_contact_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

VALIDATORS: Final[dict[Field, Callable[[str], str]]] = {
    Field.INV_NAME: validate_company_name,
    Field.INV_TAX: validate_tax_code,
    Field.INV_ADDR: validate_address,
    Field.INV_EMAIL: validate_email,
    Field.CUS_NAME: validate_company_name,
    Field.CUS_ADDR: validate_address,
    Field.CUS_PHONE: validate_phone,
    Field.CUS_EMAIL: validate_email,
}


def _section_rows() -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(Msg("btn.edit"), action=Action.EDIT), Button(Msg("btn.next"), action=Action.NEXT)),
        nav(),
    )


def _keep_rows(current: str) -> tuple[tuple[Button, ...], ...]:
    """**Giữ nguyên** when there is a value to keep, then the navigation row."""
    rows: list[tuple[Button, ...]] = []
    if current:
        rows.append((Button(Msg("btn.keep"), action=Action.KEEP),))
    return (*rows, nav())


def ask_field(c: Ctx, key: Field) -> None:
    c.d.prompt = key
    c.go(Step.FIELD)


# the invoice section


async def draw_invoice_info(c: Ctx) -> Screen:
    info = await c.invoice_info()
    text = Join(
        (
            title(2),
            Msg(
                "reg.invoice_info",
                {
                    "name": Plain(info.company_name),
                    "tax_code": Plain(info.tax_code),
                    "address": Plain(info.address or "—"),
                    "email": Plain(info.email or "—"),
                },
            ),
        )
    )
    return Screen(text, _section_rows())


async def edit_invoice(c: Ctx, arg: str) -> None:
    ask_field(c, INVOICE_FIELDS[0])


async def invoice_next(c: Ctx, arg: str) -> None:
    info = await c.invoice_info()
    if not info.address or not info.email:
        c.refuse(Msg("reg.invoice_incomplete"))
        ask_field(c, Field.INV_ADDR if not info.address else Field.INV_EMAIL)
        return
    c.go(Step.CUSTOMER_INFO)


# the customer section


async def draw_customer_info(c: Ctx) -> Screen:
    info = await c.customer_info()
    text = Join(
        (
            title(2),
            Msg(
                "reg.customer_info",
                {
                    "name": Plain(info.name),
                    "tax_code": Plain(info.tax_code),
                    "address": Plain(info.address or "—"),
                    "phone": Plain(phone_text(info.phone) or "—"),
                    "email": Plain(info.email or "—"),
                },
            ),
        )
    )
    return Screen(text, _section_rows())


async def edit_customer(c: Ctx, arg: str) -> None:
    ask_field(c, CUSTOMER_FIELDS[0])


async def customer_next(c: Ctx, arg: str) -> None:
    if c.d.return_to_final and (c.d.contact or {}).get("email"):
        c.d.return_to_final = False
        c.go(Step.FINAL)
    else:
        c.go(Step.CONTACT_NAME)


# one field of a section


def _field(c: Ctx) -> Field:
    return c.d.prompt or INVOICE_FIELDS[0]


async def _field_current(c: Ctx, key: Field) -> str:
    inv, cus = await c.invoice_info(), await c.customer_info()
    values = {
        Field.INV_NAME: inv.company_name,
        Field.INV_TAX: inv.tax_code,
        Field.INV_ADDR: inv.address,
        Field.INV_EMAIL: inv.email,
        Field.CUS_NAME: cus.name,
        Field.CUS_ADDR: cus.address,
        Field.CUS_PHONE: phone_text(cus.phone),
        Field.CUS_EMAIL: cus.email,
    }
    return values[key]


async def draw_field(c: Ctx) -> Screen:
    key = _field(c)
    current = await _field_current(c, key)
    section = "reg.section.invoice" if key.section == "inv" else "reg.section.customer"
    text = Join(
        (
            title(2),
            Msg(
                "reg.ask_field",
                {
                    "section": Msg(section),
                    "field": Msg(f"field.{key.value}"),
                    "current": Plain(current or "—"),
                    "example": Msg(f"example.{key.value}"),
                },
            ),
        )
    )
    return Screen(text, _keep_rows(current))


async def keep_field(c: Ctx, arg: str) -> None:
    if not await _field_current(c, _field(c)):
        raise InvalidInput("empty", field="field", reason="field.empty")
    _next_field(c)


async def field_typed(c: Ctx, raw: str) -> None:
    key = _field(c)
    value = VALIDATORS[key](raw.strip())
    if key.section == "inv":
        c.d.invoice = {**(c.d.invoice or {}), key.name_in_section: value}
    else:
        c.d.customer = {**(c.d.customer or {}), key.name_in_section: value}
    _next_field(c)


def _next_field(c: Ctx) -> None:
    key = _field(c)
    fields = key.fields
    i = fields.index(key)
    if i + 1 < len(fields):
        ask_field(c, fields[i + 1])
        return
    c.d.prompt = None
    if c.d.return_to_final:
        c.d.return_to_final = False
        c.go(Step.FINAL)
    else:
        c.go(Step.INVOICE_INFO if fields is INVOICE_FIELDS else Step.CUSTOMER_INFO)


async def back_from_field(c: Ctx) -> None:
    """To the previous field of the section; from its first field to the section (or to the
    final summary when the edit started there)."""
    key = _field(c)
    fields = key.fields
    i = fields.index(key)
    if i > 0:
        ask_field(c, fields[i - 1])
    elif c.d.return_to_final:
        c.d.return_to_final = False
        c.go(Step.FINAL)
    else:
        c.go(Step.INVOICE_INFO if fields is INVOICE_FIELDS else Step.CUSTOMER_INFO)


# the contact


def _current(c: Ctx, name: str) -> str:
    return (c.d.contact or {}).get(name, "")


async def draw_contact_name(c: Ctx) -> Screen:
    current = _current(c, "name")
    text = Join((title(2), Msg("reg.ask_contact_name", {"current": Plain(current or "—")})))
    return Screen(text, _keep_rows(_current(c, "name")))


async def draw_contact_phone(c: Ctx) -> Screen:
    current = phone_text(_current(c, "phone"))
    text = Join((title(2), Msg("reg.ask_contact_phone", {"current": Plain(current or "—")})))
    return Screen(
        text, _keep_rows(_current(c, "phone")), reply_keyboard=ReplyKeyboard(share_contact=True)
    )


async def draw_contact_email(c: Ctx) -> Screen:
    current = _current(c, "email")
    text = Join((title(2), Msg("reg.ask_contact_email", {"current": Plain(current or "—")})))
    return Screen(text, _keep_rows(_current(c, "email")))


def _keep(c: Ctx, name: str) -> None:
    if not _current(c, name):
        raise unexpected()


async def keep_contact_name(c: Ctx, arg: str) -> None:
    _keep(c, "name")
    c.go(Step.CONTACT_PHONE)


async def keep_contact_phone(c: Ctx, arg: str) -> None:
    _keep(c, "phone")
    c.go(Step.CONTACT_EMAIL)


async def keep_contact_email(c: Ctx, arg: str) -> None:
    _keep(c, "email")
    _contact_done(c)


async def contact_name_typed(c: Ctx, raw: str) -> None:
    c.set_contact("name", validate_contact_name(raw.strip()))
    c.go(Step.CONTACT_PHONE)


async def contact_phone_typed(c: Ctx, raw: str) -> None:
    c.set_contact("phone", validate_phone(raw.strip()))
    c.go(Step.CONTACT_EMAIL)


async def contact_email_typed(c: Ctx, raw: str) -> None:
    c.set_contact("email", validate_email(raw.strip()))
    _contact_done(c)


def _contact_done(c: Ctx) -> None:
    c.d.return_to_final = False
    c.go(Step.FINAL)


async def back_from_contact_name(c: Ctx) -> None:
    if c.d.return_to_final:
        c.d.return_to_final = False
        c.go(Step.FINAL)
    else:
        c.go(Step.CUSTOMER_INFO)


STEPS: dict[Step, StepSpec] = {
    Step.INVOICE_INFO: StepSpec(
        draw_invoice_info,
        {Action.EDIT: edit_invoice, Action.NEXT: invoice_next},
        back=Step.STEP1_SUMMARY,
    ),
    Step.CUSTOMER_INFO: StepSpec(
        draw_customer_info,
        {Action.EDIT: edit_customer, Action.NEXT: customer_next},
        back=Step.INVOICE_INFO,
    ),
    Step.FIELD: StepSpec(
        draw_field, {Action.KEEP: keep_field}, text=field_typed, back=back_from_field
    ),
    Step.CONTACT_NAME: StepSpec(
        draw_contact_name,
        {Action.KEEP: keep_contact_name},
        text=contact_name_typed,
        back=back_from_contact_name,
    ),
    Step.CONTACT_PHONE: StepSpec(
        draw_contact_phone,
        {Action.KEEP: keep_contact_phone},
        text=contact_phone_typed,
        back=Step.CONTACT_NAME,
    ),
    Step.CONTACT_EMAIL: StepSpec(
        draw_contact_email,
        {Action.KEEP: keep_contact_email},
        text=contact_email_typed,
        back=Step.CONTACT_PHONE,
    ),
}
