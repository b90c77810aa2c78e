"""**Dùng thử** at the Đăng ký step: a plan with ``trial_days`` can be tried for free, once per
business and service (``docs/proration.md``). Owners only: one business starts it at once,
several are asked which (the draft's ``tr`` key marks the choice as a trial's)."""

from __future__ import annotations

from typing import Final

from conversations.kit import unexpected
from conversations.registration.context import Ctx
from conversations.registration.draft import Action, Step
from conversations.screens import Button, Day, Delivery, Msg, Plain, Screen
from domain.usecases.changes.trials import StartTrialRequest, TrialStatus

#: the draft key that marks the business choice as a trial's
TRIAL_KEY: Final = "tr"


def trial_rows(c: Ctx) -> tuple[tuple[Button, ...], ...]:
    plan = c.plan()
    if plan.trial_days <= 0 or c.t.services.trial is None:
        return ()
    return ((Button(Msg("chg.trial.btn", {"days": plan.trial_days}), action=Action.TRIAL),),)


async def start_trial(c: Ctx, arg: str) -> None:
    if not trial_rows(c):
        raise unexpected()
    access = await c.t.services.registrants.access(c.t.user_id)
    owned = access.owned
    if not owned:
        c.refuse(Msg("chg.trial.owners_only"))
        return
    if len(owned) == 1:
        await trial_for(c, owned[0].id)
        return
    c.d.other[TRIAL_KEY] = 1
    c.go(Step.ENTERPRISE)


def wants_trial(c: Ctx) -> bool:
    return bool(c.d.other.get(TRIAL_KEY))


def forget_trial(c: Ctx) -> None:
    c.d.other.pop(TRIAL_KEY, None)


async def trial_for(c: Ctx, enterprise_id: int) -> None:
    trials = c.t.services.trial
    if trials is None:
        raise unexpected()
    forget_trial(c)
    started = await trials(
        StartTrialRequest(
            actor_id=c.t.user_id,
            enterprise_id=enterprise_id,
            service_code=c.d.service,
            plan_code=c.d.plan,
            cycle_code=c.d.cycle,
            quantity=c.d.qty,
            chat_id=c.t.chat_id,
            locale=c.t.lang,
        )
    )
    if started.status is not TrialStatus.STARTED:
        c.refuse(Msg(f"chg.trial.{started.status.value}"))
        c.go(Step.REGISTER)
        return
    c.t.done = True
    c.t.extra.append(
        Screen(
            Msg(
                "chg.trial.started",
                {
                    "subscription": Plain(started.subscription_code),
                    "days": started.days,
                    "end": Day(started.ends_at) if started.ends_at else Plain("—"),
                },
            ),
            (
                (
                    Button(
                        Msg("btn.manage_subscriptions"),
                        action="subs",
                        arg=started.subscription_code,
                    ),
                ),
            ),
            delivery=Delivery.EDIT,
            final=True,
        )
    )
