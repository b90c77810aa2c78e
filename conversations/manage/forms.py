"""The text prompts of a subscription's tabs: a new employee (name → e-mail → phone), a note,
a credit or debit memo (amount → reason). Each field is validated on arrival; the record is
saved by its use case once the last field is in."""

from __future__ import annotations

from typing import Final

from conversations.kit import retry_notice, unexpected
from conversations.manage.context import Ctx, StepSpec
from conversations.manage.draft import Action, Field, FormValues, Step, Tab
from conversations.screens import Button, Msg, Plain, Screen
from domain.errors import InvalidInput
from domain.model import MemoKind
from domain.usecases.manage import (
    AddEmployeeRequest,
    AddMemoRequest,
    AddNoteRequest,
    EmployeeLimitReached,
    MemoChange,
    parse_memo_amount,
    validate_memo_text,
)
from domain.validation import validate_contact_name, validate_email, validate_phone

#: validation reasons whose texts live in this flow's locale file (``manage.invalid.*``);
#: the others are the shared ``invalid.*`` texts (names, e-mails, phones, tax codes)
OWN_REASONS: Final = frozenset(
    {
        "money.format",
        "amount.range",
        "text.required",
        "text.too_long",
        "text.control_chars",
        "email.taken",
    }
)


def ask(c: Ctx, field: Field) -> None:
    c.d.step, c.d.prompt, c.d.failures = Step.FORM, field, 0


def back_to_tab(c: Ctx) -> None:
    c.d.prompt, c.d.values, c.d.memo_kind, c.d.failures = None, None, None, 0
    c.d.step = Step.DETAIL


def invalid(c: Ctx, exc: InvalidInput) -> None:
    """Why a typed value was refused (this flow's texts for its own reasons)."""
    c.d.failures += 1
    reason = str(exc.params.get("reason", "generic"))
    prefix = "manage.invalid" if reason in OWN_REASONS else "invalid"
    c.t.notice = retry_notice(
        exc, c.d.failures, key="manage.invalid_retry", prefix=prefix, blank="—"
    )


def _field(c: Ctx) -> Field:
    return c.d.prompt or Field.NOTE


def _values(c: Ctx) -> FormValues:
    if c.d.values is None:
        c.d.values = FormValues()
    return c.d.values


async def draw_form(c: Ctx) -> Screen:
    field = _field(c)
    kind = (c.d.memo_kind or MemoKind.CREDIT).value
    text = Msg(
        f"manage.ask.{field.value}",
        {"kind": Msg(f"manage.memo_kind.{kind}")}
        if field in (Field.MEMO_AMOUNT, Field.MEMO_REASON)
        else {},
    )
    rows: list[tuple[Button, ...]] = []
    if field is Field.EMP_PHONE:
        rows.append((Button(Msg("manage.btn.skip"), action=Action.SKIP),))
    rows.append(
        (
            Button(Msg("btn.back"), action=Action.BACK),
            Button(Msg("btn.cancel"), action="cancel"),
        )
    )
    return Screen(text, tuple(rows))


async def leave_form(c: Ctx, arg: str) -> None:
    back_to_tab(c)


async def skip_phone(c: Ctx, arg: str) -> None:
    if _field(c) is not Field.EMP_PHONE:
        raise unexpected()
    await _save_employee(c, "")
    if c.d.failures:  # refused: say why in an alert, the prompt stays usable
        c.t.answer, c.t.alert, c.t.notice = c.t.notice, True, None


async def accept(c: Ctx, raw: str) -> None:
    field, values = _field(c), _values(c)
    try:
        if field is Field.EMP_NAME:
            values.name = validate_contact_name(raw, field="name")
            ask(c, Field.EMP_EMAIL)
        elif field is Field.EMP_EMAIL:
            values.email = validate_email(raw)
            ask(c, Field.EMP_PHONE)
        elif field is Field.EMP_PHONE:
            validate_phone(raw)
            await _save_employee(c, raw)
        elif field is Field.NOTE:
            result = await c.backend.add_note(
                AddNoteRequest(c.t.user_id, c.subscription_id, validate_memo_text(raw))
            )
            _saved_memo(c, result)
        elif field is Field.MEMO_AMOUNT:
            values.amount = parse_memo_amount(raw)
            ask(c, Field.MEMO_REASON)
        else:
            reason = validate_memo_text(raw, name="reason")
            result = await c.backend.add_memo(
                AddMemoRequest(
                    c.t.user_id,
                    c.subscription_id,
                    c.d.memo_kind or MemoKind.CREDIT,
                    values.amount or 0,
                    reason,
                )
            )
            _saved_memo(c, result)
    except InvalidInput as exc:
        invalid(c, exc)


async def _save_employee(c: Ctx, phone: str) -> None:
    values = _values(c)
    try:
        result = await c.backend.add_employee(
            AddEmployeeRequest(
                c.t.user_id, c.subscription_id, values.name or "", values.email or "", phone
            )
        )
    except EmployeeLimitReached as exc:
        back_to_tab(c)
        c.t.notice = Msg("error.employee_limit", {"limit": exc.limit})
        return
    except InvalidInput as exc:
        if exc.params.get("reason") == "email.taken":
            ask(c, Field.EMP_EMAIL)
        invalid(c, exc)
        return
    back_to_tab(c)
    c.d.tab, c.d.tab_offset = Tab.EMPLOYEES, 0
    c.t.notice = Msg("manage.emp.added", {"name": Plain(result.employee.name)})


def _saved_memo(c: Ctx, result: MemoChange) -> None:
    back_to_tab(c)
    c.d.tab, c.d.tab_offset = Tab.MEMOS, 0
    kind = result.memo.kind.value
    c.t.notice = Msg("manage.memo.added", {"kind": Msg(f"manage.memo_kind.{kind}")})


STEPS: dict[Step, StepSpec] = {
    Step.FORM: StepSpec(draw_form, {Action.BACK: leave_form, Action.SKIP: skip_phone}, text=accept),
}
