"""Outbox notices (``domain.outbox.Notice``) as screens: the bot renders a notice when it
delivers it, so its text follows the locale files of the running version.

Each kind's params are what its use case wrote (see ``domain.usecases.notices`` and the use
cases of accounts and management); the screens are the ones the conversations show for the same
events, with entry buttons (they work on any message, whatever the chat is doing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from conversations.accounts.invite import invitation_received_screen
from conversations.accounts.signup import join_request_screen
from conversations.payment import expired_screen, failure_screen, success_screen
from conversations.refunds import refund_button
from conversations.registration import result_screen
from conversations.renewal import (
    RENEW_ACTION,
    ended_notice,
    reminder_notice,
    staff_cancelled_notice,
)
from conversations.screens import (
    Button,
    Cycle,
    Day,
    Delivery,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
    money_in,
    notice,
)
from domain.catalog import Catalog
from domain.model import PaymentMethod, Role
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.registration import OrderOutcome, OrderOutcomeKind
from domain.usecases.accounts import BusinessView, JoinRequested, JoinStatus
from domain.usecases.payments import (
    ConfirmStatus,
    FailureStatus,
    OrderExpired,
    PaymentConfirmed,
    PaymentFailed,
)

__all__ = ["notice_screen"]

_MANAGE_ENTRY = "subs"

Params = Mapping[str, JsonValue]


def _str(params: Params, name: str) -> str:
    value = params.get(name)
    return "" if value is None else str(value)


def _int(params: Params, name: str) -> int:
    value = params.get(name)
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else 0


def _moment(params: Params, name: str) -> datetime | None:
    value = params.get(name)
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _business(params: Params) -> BusinessView:
    return BusinessView(0, _str(params, "business"), _str(params, "tax_code"))


def _business_params(params: Params) -> dict[str, Param]:
    return {
        "business": Plain(_str(params, "business")),
        "tax_code": Plain(_str(params, "tax_code")),
    }


def _payment_succeeded(params: Params, _: Catalog) -> Screen:
    method = _str(params, "method")
    return success_screen(
        PaymentConfirmed(
            ConfirmStatus.APPLIED,
            order_code=_str(params, "order"),
            method=PaymentMethod(method) if method else None,
            total=_int(params, "total"),
            subscription_code=_str(params, "subscription"),
            invoice_number=_str(params, "invoice"),
            period_start=_moment(params, "period_start"),
            period_end=_moment(params, "period_end"),
            purpose=_str(params, "purpose") or "NEW",
        )
    )


def _payment_failed(params: Params, _: Catalog) -> Screen:
    code = params.get("code")
    return failure_screen(
        PaymentFailed(
            FailureStatus.RECORDED,
            "",
            order_code=_str(params, "order"),
            response_code=str(code) if code is not None else None,
            cancelled=bool(params.get("cancelled")),
            total=_int(params, "total"),
            can_retry=bool(params.get("can_retry")),
        )
    )


def _refund_due(params: Params, _: Catalog) -> Screen:
    """A renewal or change paid for a subscription that could not take it (to the owners:
    the money will be refunded; to the staff member who ended it: refund the customer)."""
    code = _str(params, "subscription")
    what = "change" if _str(params, "purpose") == "CHANGE" else "renewal"
    status = _str(params, "status")
    method = _str(params, "method")
    shown: dict[str, Param] = {
        "code": Plain(code),
        "order": Plain(_str(params, "order")),
        "total": Money(_int(params, "total")),
        "status": Msg(f"manage.status.{status}") if status else Plain("—"),
        "what": Msg(f"renew_notice.what_{what}"),
        "method": Msg(f"manage.method.{'BY_CASH' if method == 'BY_CASH' else 'VNPTPAY'}"),
    }
    audience = "staff" if _str(params, "audience") == "staff" else "owner"
    rows: list[tuple[Button, ...]] = []
    if audience == "staff":  # once the money is back: record it (the owners are told)
        rows.append((refund_button(_str(params, "order")),))
    rows.append((Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),))
    return notice(Msg(f"renew_notice.refund_due_{audience}", shown), *rows)


def _duplicate(params: Params, _: Catalog) -> Screen:
    """An order already paid was paid again (to the owners: the money will be refunded; to
    the staff: refund it, then record it with the button)."""
    order = _str(params, "order")
    code = _str(params, "subscription")
    shown: dict[str, Param] = {
        "order": Plain(order),
        "total": Money(_int(params, "total")),
        "transaction": Plain(_str(params, "transaction") or "—"),
    }
    audience = "staff" if _str(params, "audience") == "staff" else "owner"
    rows: list[tuple[Button, ...]] = []
    if audience == "staff":
        rows.append((refund_button(order),))
    if code:
        rows.append((Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),))
    return notice(Msg(f"payment_notice.duplicate_{audience}", shown), *rows)


def _amount_mismatch(params: Params, _: Catalog) -> Screen:
    """The gateway reported a success in another amount or currency than the order's; nothing
    was applied (to the owners: support will check; to the staff: check it with the gateway)."""
    currency = _str(params, "currency") or "VND"
    shown: dict[str, Param] = {
        "order": Plain(_str(params, "order")),
        "total": Money(_int(params, "total")),
        "reported": money_in(_int(params, "reported"), currency),
        "reference": Plain(_str(params, "reference") or "—"),
        "transaction": Plain(_str(params, "transaction") or "—"),
    }
    audience = "staff" if _str(params, "audience") == "staff" else "owner"
    return notice(Msg(f"payment_notice.mismatch_{audience}", shown))


def _refunded(params: Params, _: Catalog) -> Screen:
    """Support recorded that an amount due was given back (to the business owners)."""
    shown: dict[str, Param] = {
        "order": Plain(_str(params, "order")),
        "total": Money(_int(params, "total")),
    }
    code = _str(params, "subscription")
    rows = ((Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),),)
    return notice(Msg("refund.notice", shown), *(rows if code else ()))


def _order_expired(params: Params, _: Catalog) -> Screen:
    code = _str(params, "subscription")
    if code and _str(params, "purpose") == "RENEWAL":  # not renewed: Gia hạn again
        return notice(
            Msg(
                "renew_notice.order_expired",
                {
                    "order": Plain(_str(params, "order")),
                    "total": Money(_int(params, "total")),
                    "code": Plain(code),
                },
            ),
            (Button(Msg("renew.btn.renew"), action=RENEW_ACTION, arg=code),),
            (Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),),
        )
    if code:  # a CHANGE order: the subscription keeps its plan; Đổi gói again from it
        return notice(
            Msg(
                "chg.notice.expired",
                {
                    "order": Plain(_str(params, "order")),
                    "total": Money(_int(params, "total")),
                    "subscription": Plain(code),
                },
            ),
            (Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),),
        )
    return expired_screen(
        OrderExpired(0, _str(params, "order"), _int(params, "total"), None, "", 0, 0)
    )


def _join_requested(params: Params, _: Catalog) -> Screen:
    return join_request_screen(
        JoinRequested(
            JoinStatus.CREATED,
            _business(params),
            request_id=_int(params, "request"),
            requester_name=_str(params, "name"),
            requester_phone=_str(params, "phone"),
        )
    )


def _join_decided(params: Params, _: Catalog) -> Screen:
    shown: dict[str, Param] = {"name": Plain(_str(params, "name")), **_business_params(params)}
    if params.get("accepted"):
        return notice(
            Msg("acc.join_accepted_you", shown),
            (Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY),),
        )
    return notice(Msg("acc.join_refused_you", shown))


def _invitation_used(params: Params, _: Catalog) -> Screen:
    role = Role(_str(params, "role") or Role.MEMBER.value)
    return notice(
        Msg(
            "acc.invitation_used_by",
            {
                "name": Plain(_str(params, "name")),
                "role": Msg(f"acc.role.{role.value}"),
                **_business_params(params),
            },
        )
    )


def _invitation_received(params: Params, _: Catalog) -> Screen:
    token = _str(params, "token")
    if not token:
        raise ValueError("an invitation without its token")
    return invitation_received_screen(
        _str(params, "name"),
        _business(params),
        Role(_str(params, "role") or Role.MEMBER.value),
        datetime.fromisoformat(_str(params, "expires")),
        token,
    )


def _progress_changed(params: Params, catalog: Catalog) -> Screen:
    code = _str(params, "subscription")
    service = catalog.service(_str(params, "service"))
    progress = _str(params, "progress") or "ORDERED"
    return Screen(
        Msg(
            "manage.progress.notice",
            {
                "code": Plain(code),
                "service": Plain(service.name if service is not None else _str(params, "service")),
                "progress": Msg(f"manage.progress.{progress}"),
            },
        ),
        ((Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),),),
        delivery=Delivery.NEW,
    )


def _agent_registered(params: Params, catalog: Catalog) -> Screen:
    """What the staff member saw after **Xác nhận**, headed by who registered what."""
    code = _str(params, "service")
    service = catalog.service(code)
    outcome = OrderOutcome(
        OrderOutcomeKind.CREATED,
        order_code=_str(params, "order"),
        kind_of_service=_str(params, "kind"),
        total=_int(params, "total"),
        subscription_code=_str(params, "subscription"),
        payment_url=_str(params, "url"),
    )
    heading = Msg(
        "acc.agent_registered",
        {
            "agent": Plain(_str(params, "agent")),
            "service": Plain(service.name if service is not None else code),
            **_business_params(params),
        },
    )
    return replace(result_screen(outcome), notice=heading)


def _trial(key: str) -> Callable[[Params, Catalog], Screen]:
    """A trial started by staff for the business, ends soon (with Thanh toán through the
    subscription) or has ended."""

    def screen(params: Params, catalog: Catalog) -> Screen:
        code = _str(params, "subscription")
        service = catalog.service(_str(params, "service"))
        plan = service.plan(_str(params, "plan")) if service is not None else None
        ends = _moment(params, "ends_at")
        return notice(
            Msg(
                key,
                {
                    "subscription": Plain(code),
                    "service": Plain(service.name if service is not None else ""),
                    "plan": Plain(plan.name if plan is not None else _str(params, "plan")),
                    "end": Day(ends, with_time=True) if ends is not None else Plain("—"),
                    "agent": Plain(_str(params, "agent")),
                    **_business_params(params),
                },
            ),
            (Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),),
        )

    return screen


def _change_paid(params: Params, catalog: Catalog) -> Screen:
    """A CHANGE order paid: old → new plan, cycle and quantity, from when, the amount and the
    invoice; a trial's payment says the trial became a paid subscription."""
    code = _str(params, "subscription")
    service = catalog.service(_str(params, "service"))

    def plan_name(key: str) -> Param:
        plan = service.plan(_str(params, key)) if service is not None else None
        return Plain(plan.name if plan is not None else _str(params, key))

    def cycle(plan_key: str, cycle_key: str) -> Param:
        plan = service.plan(_str(params, plan_key)) if service is not None else None
        found = plan.cycle(_str(params, cycle_key)) if plan is not None else None
        return Cycle(found.every, found.unit.value) if found else Plain(_str(params, cycle_key))

    effective = _moment(params, "effective_at")
    shown: dict[str, Param] = {
        "subscription": Plain(code),
        "service": Plain(service.name if service is not None else _str(params, "service")),
        "from_plan": plan_name("from_plan"),
        "from_cycle": cycle("from_plan", "from_cycle"),
        "from_quantity": _int(params, "from_quantity"),
        "to_plan": plan_name("to_plan"),
        "to_cycle": cycle("to_plan", "to_cycle"),
        "to_quantity": _int(params, "to_quantity"),
        "from": Day(effective, with_time=True) if effective is not None else Plain("—"),
        "order": Plain(_str(params, "order")),
        "total": Money(_int(params, "total")),
        "invoice": Plain(_str(params, "invoice") or "—"),
    }
    key = "chg.notice.trial_paid" if params.get("trial") else "chg.notice.paid"
    parts: list[Param] = [Msg(key, shown)]
    start, end = _moment(params, "period_start"), _moment(params, "period_end")
    if start is not None and end is not None:
        parts.append(Msg("pay.period", {"start": Day(start), "end": Day(end)}))
    return notice(
        Join(tuple(parts)),
        (Button(Msg("btn.manage_subscriptions"), action=_MANAGE_ENTRY, arg=code),),
    )


_SCREENS: dict[NoticeKind, Callable[[Params, Catalog], Screen]] = {
    NoticeKind.PAYMENT_SUCCEEDED: _payment_succeeded,
    NoticeKind.PAYMENT_FAILED: _payment_failed,
    NoticeKind.ORDER_EXPIRED: _order_expired,
    NoticeKind.JOIN_REQUESTED: _join_requested,
    NoticeKind.JOIN_DECIDED: _join_decided,
    NoticeKind.INVITATION_USED: _invitation_used,
    NoticeKind.INVITATION_RECEIVED: _invitation_received,
    NoticeKind.PROGRESS_CHANGED: _progress_changed,
    NoticeKind.AGENT_REGISTERED: _agent_registered,
    NoticeKind.RENEWAL_REMINDER: reminder_notice,
    NoticeKind.SUBSCRIPTION_ENDED: ended_notice,
    NoticeKind.SUBSCRIPTION_CANCELLED: staff_cancelled_notice,
    NoticeKind.TRIAL_STARTED: _trial("chg.trial.started_by_staff"),
    NoticeKind.TRIAL_ENDING: _trial("chg.trial.ending"),
    NoticeKind.TRIAL_ENDED: _trial("chg.trial.ended"),
    NoticeKind.CHANGE_PAID: _change_paid,
    NoticeKind.PAYMENT_REFUND_DUE: _refund_due,
    NoticeKind.PAYMENT_DUPLICATE: _duplicate,
    NoticeKind.PAYMENT_REFUNDED: _refunded,
    NoticeKind.PAYMENT_AMOUNT_MISMATCH: _amount_mismatch,
}


def notice_screen(notice: Notice, catalog: Catalog) -> Screen:
    """The screen of ``notice``. Raises ``ValueError`` for params it cannot read (a row that
    can never be sent: the worker closes it as failed)."""
    try:
        return _SCREENS[notice.kind](notice.params, catalog)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"unreadable {notice.kind.value} notice: {error}") from error
