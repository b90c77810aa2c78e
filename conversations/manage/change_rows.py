"""The overview's buttons of **Đổi gói** (:mod:`.change`): a module of its own so the tabs can
show them without importing the steps (which import the tabs)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from conversations.manage.draft import Action
from conversations.screens import Button, Day, Msg, Param, Plain
from domain.model import Subscription, SubscriptionStatus
from domain.usecases.changes.common import may_change
from domain.usecases.manage.common import Rights


def change_rows(sub: Subscription, rights: Rights) -> tuple[tuple[Button, ...], ...]:
    """**Đổi gói** on an active subscription, **Thanh toán** on a trial; owners and staff."""
    if not may_change(rights):
        return ()
    if sub.status is SubscriptionStatus.ACTIVE:
        return ((Button(Msg("chg.btn.change"), action=Action.CHANGE),),)
    if sub.status is SubscriptionStatus.IN_TRIAL:
        return ((Button(Msg("chg.btn.pay_trial"), action=Action.TRIAL_PAY),),)
    return ()


#: the history events of Đổi gói and Dùng thử, shown in words in the Lịch sử tab
CHANGE_EVENTS = frozenset(
    {
        "subscription.changed",
        "subscription.change_scheduled",
        "trial.started",
        "trial.converted",
        "trial.reminded",
        "trial.ended",
    }
)


def change_event_text(action: str, details: Mapping[str, object]) -> Msg:
    def text(name: str) -> Plain:
        value = details.get(name)
        return Plain(value if isinstance(value, str) and value else "—")

    def number(name: str, default: int) -> int:
        value = details.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    params: dict[str, Param] = {
        "from": text("from_plan"),
        "to": text("to_plan"),
        "to_cycle": text("to_cycle"),
        "quantity": number("to_quantity", 1),
        "plan": text("plan"),
        "days": number("days", 0),
    }
    end = details.get("period_end") or details.get("effective_at")
    params["end"] = Day(datetime.fromisoformat(end)) if isinstance(end, str) and end else Plain("—")
    return Msg(f"chg.event.{action}", params)
