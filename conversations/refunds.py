"""``/refund <order code>``: support records that money due for refund was given back;
``/refund`` alone lists what is still due across orders (a button per order).

A one-turn flow, started afresh by the engine, from the command or from the **Đã hoàn tiền**
button of the staff notice that a refund is due (entry action ``refund``, arg = order code).
It lists what the order has due (a renewal or change paid for a subscription that could not
take it, a second payment of an order already paid), each with its state, and a button per
amount still due. That button (arg ``ok.<due event id>.<order code>``) records the refund:
the use case checks who acts, records it once and tells the business owners.

Entry buttons can be pressed by anyone who sees (or forges) them: nothing is decided here.
"""

from __future__ import annotations

from typing import Final, Protocol

from conversations.payment import OneTurnFlow
from conversations.screens import (
    Button,
    Day,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
    notice,
)
from conversations.turn import Turn
from domain.errors import NotFound, PermissionDenied
from domain.usecases.refunds import (
    RecordRefundRequest,
    RefundDue,
    RefundNotDue,
    RefundRecorded,
    RefundStatus,
)

__all__ = ["REFUND_ACTION", "REFUND_FLOW", "RefundFlow", "Refunds", "refund_button"]

REFUND_FLOW: Final = "refund"
#: the entry action of the refund buttons (arg: an order code, or ``ok.<event id>.<order>``)
REFUND_ACTION: Final = "refund"
_OK: Final = "ok."


class Refunds(Protocol):
    """The refund use cases (``domain.usecases.refunds``). All raise ``PermissionDenied``;
    ``dues`` and ``record`` also ``NotFound``, ``record`` also ``RefundNotDue``."""

    async def pending(self, actor_id: int) -> tuple[RefundDue, ...]: ...

    async def dues(self, actor_id: int, order_code: str) -> tuple[RefundDue, ...]: ...

    async def record(self, req: RecordRefundRequest) -> RefundRecorded: ...


def refund_button(order_code: str) -> Button:
    """**✅ Đã hoàn tiền** on the staff notice: the order's amounts due, to confirm one."""
    return Button(Msg("btn.refund"), action=REFUND_ACTION, arg=order_code)


def _due_params(due: RefundDue) -> dict[str, Param]:
    return {
        "total": Money(due.amount),
        "reason": Msg(f"refund.reason.{'duplicate' if due.duplicate else 'not_applied'}"),
        "due": Day(due.due_at),
    }


def _due_line(due: RefundDue) -> Msg:
    params = _due_params(due)
    if due.refunded_at is not None:
        return Msg("refund.line_refunded", {**params, "refunded": Day(due.refunded_at)})
    return Msg("refund.line_due", params)


def dues_screen(order_code: str, dues: tuple[RefundDue, ...]) -> Screen:
    """The order's amounts due for refund, with a button per amount still due."""
    order = Plain(order_code)
    if not dues:
        return notice(Msg("refund.none", {"order": order}))
    open_dues = [d for d in dues if not d.refunded]
    parts: list[Param] = [Msg("refund.title", {"order": order})]
    parts.extend(_due_line(d) for d in dues)
    parts.append(Msg("refund.confirm_hint" if open_dues else "refund.all_done"))
    rows = tuple(
        (
            Button(
                Msg("btn.refund_confirm", {"total": Money(d.amount)}),
                action=REFUND_ACTION,
                arg=f"{_OK}{d.event_id}.{order_code}",
            ),
        )
        for d in open_dues
    )
    return notice(Join(tuple(parts)), *rows)


def pending_screen(dues: tuple[RefundDue, ...]) -> Screen:
    """What is still due across orders, newest first, with a button per order (its dues, to
    confirm one)."""
    if not dues:
        return notice(Msg("refund.pending_none"))
    parts: list[Param] = [Msg("refund.pending_title", {"count": len(dues)})]
    parts.extend(
        Msg("refund.pending_line", {"order": Plain(d.order_code), **_due_params(d)}) for d in dues
    )
    parts.append(Msg("refund.pending_hint"))
    orders = dict.fromkeys(d.order_code for d in dues)
    rows = tuple(
        (Button(Msg("btn.refund_open", {"order": Plain(code)}), action=REFUND_ACTION, arg=code),)
        for code in orders
    )
    return notice(Join(tuple(parts)), *rows)


def recorded_screen(result: RefundRecorded) -> Screen:
    due = result.due
    params: dict[str, Param] = {"order": Plain(due.order_code), "total": Money(due.amount)}
    if result.status is RefundStatus.ALREADY:
        refunded = due.refunded_at
        return notice(
            Msg("refund.already", {**params, "refunded": Day(refunded) if refunded else Plain("—")})
        )
    key = "refund.recorded" if result.owners_told else "refund.recorded_untold"
    return notice(Msg(key, params))


class RefundFlow(OneTurnFlow):
    """``/refund <order code>`` and its buttons (see the module doc)."""

    def __init__(self, refunds: Refunds) -> None:
        self._refunds = refunds

    async def start(self, t: Turn, arg: str) -> None:
        t.draft["s"] = REFUND_FLOW
        t.done = True
        arg = arg.strip()
        if not arg:  # /refund alone: what is still due, across orders
            try:
                t.extra.append(pending_screen(await self._refunds.pending(t.user_id)))
            except PermissionDenied:
                t.extra.append(notice(Msg("refund.staff_only")))
            return
        event_id: int | None = None
        code = arg
        if arg.startswith(_OK):
            event, _, code = arg[len(_OK) :].partition(".")
            event_id = int(event) if event.isdigit() else None
            if event_id is None:
                code = ""
        code = code.strip().upper()
        if not code:
            t.extra.append(notice(Msg("refund.usage")))
            return
        order = Plain(code)
        try:
            if event_id is None:
                t.extra.append(dues_screen(code, await self._refunds.dues(t.user_id, code)))
                return
            result = await self._refunds.record(RecordRefundRequest(t.user_id, code, event_id))
        except PermissionDenied:
            t.extra.append(notice(Msg("refund.staff_only")))
            return
        except NotFound:
            t.extra.append(notice(Msg("refund.order_not_found", {"order": order})))
            return
        except RefundNotDue:
            t.extra.append(notice(Msg("refund.not_due", {"order": order})))
            return
        t.extra.append(recorded_screen(result))
