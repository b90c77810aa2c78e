"""**Dùng thử** at the Đăng ký step: a plan with ``trial_days`` can be tried for free, once per
business and service (``docs/proration.md``). Whoever may register for the business
(``Permission.REGISTER``) may start it, as for **Đăng ký**: an owner of one business starts it
at once, of several is asked which; a staff member (agent, admin) finds or creates the business
through the business picker, as when registering on its behalf, and its owners are told. The
draft's ``tr`` key marks the business choice as a trial's."""

from __future__ import annotations

from typing import Final

from conversations.kit import unexpected
from conversations.registration.context import Ctx
from conversations.registration.draft import Action, Pick, Step
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
    picker = c.deps.business
    if access.is_staff and picker is not None:  # as Đăng ký: the business picker first
        c.d.other[TRIAL_KEY] = 1
        c.d.picked = Pick.STAFF
        c.go(Step.BUSINESS)
        c.save()
        picker.begin(c.t)
        c.reload()
        return
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
