"""The subscription's life on its **Chi tiết** tab: **Gia hạn**, **Hủy gia hạn**, **Tiếp tục
gia hạn** and, for staff, **Hủy ngay**. Each is an entry button of the renewal flow
(``conversations.renewal``; arg: what to do and the subscription's code), which re-checks who
presses and what the status allows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from conversations.manage.context import iso_time, text_of
from conversations.screens import Button, Day, Money, Msg, Param, Plain
from domain.model import Subscription, SubscriptionStatus, amount_of
from domain.usecases.manage import Rights

#: the entry action of the renewal flow
RENEW_ENTRY: Final = "renew"

_S = SubscriptionStatus
#: a subscription that runs (an unpaid order is cancelled on its **Tiến trình** instead)
CANCELLABLE_NOW: Final = frozenset({_S.ACTIVE, _S.NON_RENEWING, _S.IN_TRIAL})


def lifecycle_rows(sub: Subscription, rights: Rights) -> tuple[tuple[Button, ...], ...]:
    """The buttons the presser may use now (none for a member)."""
    rows: list[tuple[Button, ...]] = []
    code = sub.code
    if rights.can_renew:
        if sub.status in (_S.ACTIVE, _S.NON_RENEWING, _S.EXPIRED):
            rows.append((Button(Msg("renew.btn.renew"), action=RENEW_ENTRY, arg=code),))
        if sub.status is _S.ACTIVE:
            rows.append((Button(Msg("renew.btn.end"), action=RENEW_ENTRY, arg=f"end.{code}"),))
        if sub.status is _S.NON_RENEWING:
            rows.append(
                (Button(Msg("renew.btn.resume"), action=RENEW_ENTRY, arg=f"resume.{code}"),)
            )
    if rights.can_cancel_now and sub.status in CANCELLABLE_NOW:
        rows.append(
            (Button(Msg("renew.btn.cancel_now"), action=RENEW_ENTRY, arg=f"cancel.{code}"),)
        )
    return tuple(rows)


def lifecycle_params(details: Mapping[str, Any]) -> dict[str, Param]:
    """What the **Lịch sử** texts of these events show (``manage.event.subscription.*``)."""

    def day(name: str) -> Param:
        moment = iso_time(details.get(name))
        return Day(moment) if moment is not None else Plain("—")

    days = details.get("days")
    return {
        "start": day("period_start"),
        "end": day("period_end"),
        "previous_end": day("previous_end"),
        "days": days if isinstance(days, int) and not isinstance(days, bool) else 0,
        "reason": Plain(text_of(details.get("reason")) or "—"),
        "order": Plain(text_of(details.get("order")) or "—"),
        "total": Money(amount_of(details.get("total"))),
        "grace": amount_of(details.get("grace_days")),
    }
