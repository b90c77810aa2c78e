"""The overview's buttons of **Đổi gói** (:mod:`.change`): a module of its own so the tabs can
show them without importing the steps (which import the tabs)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from conversations.manage.draft import Action
from conversations.screens import Button, Cycle, Day, Msg, Param, Plain
from domain.catalog import Service
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


def change_event_text(
    action: str, details: Mapping[str, object], service: Service | None = None
) -> Msg:
    """The event in words; plans by their names in ``service`` (the subscription's, looked up
    once for the page) and the cycle in words, the codes only for what the catalog lost."""

    def text(name: str) -> Plain:
        value = details.get(name)
        return Plain(value if isinstance(value, str) and value else "—")

    def plan_name(name: str) -> Plain:
        code = details.get(name)
        plan = service.plan(code) if service is not None and isinstance(code, str) else None
        return Plain(plan.name) if plan is not None else text(name)

    def cycle(plan_key: str, cycle_key: str) -> Param:
        code, cycle_code = details.get(plan_key), details.get(cycle_key)
        plan = service.plan(code) if service is not None and isinstance(code, str) else None
        found = plan.cycle(cycle_code) if plan is not None and isinstance(cycle_code, str) else None
        return Cycle(found.every, found.unit.value) if found is not None else text(cycle_key)

    def number(name: str, default: int) -> int:
        value = details.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    params: dict[str, Param] = {
        "from": plan_name("from_plan"),
        "to": plan_name("to_plan"),
        "to_cycle": cycle("to_plan", "to_cycle"),
        "quantity": number("to_quantity", 1),
        "plan": plan_name("plan"),
        "days": number("days", 0),
    }
    end = details.get("period_end") or details.get("effective_at")
    params["end"] = Day(datetime.fromisoformat(end)) if isinstance(end, str) and end else Plain("—")
    return Msg(f"chg.event.{action}", params)
