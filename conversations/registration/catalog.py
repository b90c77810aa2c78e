"""Choosing what to buy and for whom: catalog → service → Bảng giá (plans) → cycle
(→ quantity) → Đăng ký → [which business] → Bước 1/2."""

from __future__ import annotations

from conversations.kit import nav, unexpected
from conversations.registration.context import Ctx, StepSpec
from conversations.registration.draft import Action, Pick, Step
from conversations.registration.trial import (
    forget_trial,
    start_trial,
    trial_for,
    trial_rows,
    wants_trial,
)
from conversations.screens import Button, Cycle, Join, Money, Msg, Param, Plain, Screen
from domain.constants import MAX_QUANTITY
from domain.errors import InvalidInput, NotFound

# catalog and service


async def draw_catalog(c: Ctx) -> Screen:
    services = list(c.t.catalog.active_services())
    rows = tuple((Button(Plain(s.name), action=Action.SERVICE, arg=s.code),) for s in services)
    lines: list[Param] = [Msg("reg.catalog_title")]
    for s in services:
        lines.append(
            Msg("reg.catalog_item", {"name": Plain(s.name), "kind": Msg(f"kind.{s.kind.value}")})
        )
    if not services:
        lines.append(Msg("reg.catalog_empty"))
    return Screen(Join(tuple(lines)), (*rows, nav(back=False)))


async def choose_service(c: Ctx, arg: str) -> None:
    if c.t.catalog.service(arg) is None:
        raise NotFound("service", code=arg)
    c.d.service = arg
    c.go(Step.SERVICE)


async def draw_service(c: Ctx) -> Screen:
    svc = c.service()
    text = Msg(
        "reg.service_details",
        {
            "name": Plain(svc.name),
            "code": Plain(svc.code),
            "kind": Msg(f"kind.{svc.kind.value}"),
            "description": Plain(svc.description or "—"),
            "payment": Msg(f"kind.payment.{svc.kind.value}"),
        },
    )
    return Screen(text, ((Button(Msg("btn.pricing"), action=Action.PRICING),), nav()))


async def show_pricing(c: Ctx, arg: str) -> None:
    c.go(Step.PLANS)


# plan, cycle, quantity


async def draw_plans(c: Ctx) -> Screen:
    svc = c.service()
    plans = [p for p in svc.plans if p.active]
    lines: list[Param] = [Msg("reg.pricing_title", {"service": Plain(svc.name)})]
    for p in plans:
        prices = Join(
            tuple(
                Msg(
                    "reg.pricing_cycle",
                    {"cycle": Cycle(cy.every, cy.unit.value), "price": Money(cy.price)},
                )
                for cy in p.cycles
            ),
            sep="; ",
        )
        lines.append(
            Msg(
                "reg.pricing_plan",
                {
                    "name": Plain(p.name),
                    "features": Plain(", ".join(p.features) or "—"),
                    "prices": prices,
                    "tax": Plain(p.tax.value),
                    "per_unit": Msg(f"pricing.{p.pricing.value}"),
                    "cycles": Msg("reg.multi_cycle" if p.is_multi_cycle else "reg.one_cycle"),
                },
            )
        )
    rows = tuple((Button(Plain(p.name), action=Action.PLAN, arg=p.code),) for p in plans)
    return Screen(Join(tuple(lines)), (*rows, nav()))


async def choose_plan(c: Ctx, arg: str) -> None:
    plan = c.service().plan(arg)
    if plan is None or not plan.active:
        raise NotFound("plan", code=arg)
    d = c.d
    d.cycle, d.quantity, d.plan_promo, d.addons = "", None, None, None
    d.addon_promos, d.invoice_promo, d.addon_index = None, None, None
    d.plan = arg
    c.go(Step.CYCLES)


async def draw_cycles(c: Ctx) -> Screen:
    svc, plan = c.service(), c.plan()
    unit = Msg(f"pricing.unit_suffix.{plan.pricing.value}")
    rows = tuple(
        (
            Button(
                Msg(
                    "reg.cycle_button",
                    {
                        "cycle": Cycle(cy.every, cy.unit.value),
                        "price": Money(cy.price),
                        "unit": unit,
                    },
                ),
                action=Action.CYCLE,
                arg=cy.code,
            ),
        )
        for cy in plan.cycles
    )
    text = Msg(
        "reg.choose_cycle",
        {
            "service": Plain(svc.name),
            "plan": Plain(plan.name),
            "features": Plain("\n".join(f"• {f}" for f in plan.features)),
        },
    )
    return Screen(text, (*rows, nav()))


async def choose_cycle(c: Ctx, arg: str) -> None:
    plan = c.plan()
    if plan.cycle(arg) is None:
        raise NotFound("cycle", code=arg)
    c.d.cycle = arg
    if plan.pricing.uses_quantity:
        if c.d.quantity is None:
            c.d.quantity = 1
        c.go(Step.QUANTITY)
    else:
        c.d.quantity = 1
        c.go(Step.REGISTER)


async def draw_quantity(c: Ctx) -> Screen:
    plan = c.plan()
    quick = tuple(
        Button(Plain(str(n)), action=Action.QUANTITY, arg=str(n)) for n in (1, 5, 10, 20, 50)
    )
    text = Msg("reg.ask_quantity", {"plan": Plain(plan.name), "max": MAX_QUANTITY})
    return Screen(text, (quick, nav()))


async def accept_quantity(c: Ctx, raw: str) -> None:
    digits = raw.strip().replace(".", "").replace(",", "").replace(" ", "")
    if not digits.isdigit() or not 1 <= int(digits) <= MAX_QUANTITY:
        raise InvalidInput("quantity", field="quantity", reason="quantity.range", example="5")
    c.d.quantity = int(digits)
    c.go(Step.REGISTER)


async def back_from_register(c: Ctx) -> None:
    c.go(Step.QUANTITY if c.plan().pricing.uses_quantity else Step.CYCLES)


# Đăng ký, and for which business


async def draw_register(c: Ctx) -> Screen:
    svc, plan = c.service(), c.plan()
    cycle = plan.cycle(c.d.cycle)
    assert cycle is not None
    q = c.quote(promos=False)
    text = Msg(
        "reg.register_summary",
        {
            "service": Plain(svc.name),
            "plan": Plain(plan.name),
            "cycle": Cycle(cycle.every, cycle.unit.value),
            "quantity": c.d.qty,
            "amount": Money(q.subtotal),
        },
    )
    rows = ((Button(Msg("btn.register"), action=Action.REGISTER),), *trial_rows(c), nav())
    return Screen(text, rows)


async def register(c: Ctx, arg: str) -> None:
    forget_trial(c)  # Đăng ký after a Dùng thử that was not finished
    access = await c.t.services.registrants.access(c.t.user_id)
    owned = access.owned
    picker = c.deps.business
    if access.is_staff and picker is not None:
        c.d.picked = Pick.STAFF
        c.go(Step.BUSINESS)
        c.save()
        picker.begin(c.t)
        c.reload()
        return
    if access.is_staff and not owned:
        c.refuse(Msg("reg.agent_pick_later"))
        return
    if not owned:
        c.refuse(Msg("reg.no_permission"))
        c.t.notice = Msg("reg.no_permission_help")
        return
    if len(owned) == 1:
        c.d.business = owned[0].id
        c.d.picked = None
        enter_step1(c)
    else:
        c.d.picked = Pick.OWN
        c.go(Step.ENTERPRISE)


async def draw_enterprise(c: Ctx) -> Screen:
    access = await c.t.services.registrants.access(c.t.user_id)
    rows = tuple(
        (Button(Plain(f"{e.name} ({e.tax_code})"), action=Action.ENTERPRISE, arg=str(e.id)),)
        for e in access.owned
    )
    return Screen(Msg("reg.choose_enterprise"), (*rows, nav()))


async def choose_enterprise(c: Ctx, arg: str) -> None:
    access = await c.t.services.registrants.access(c.t.user_id)
    if not arg.isdigit() or not access.can_register_for(int(arg)):
        raise NotFound("enterprise", code=arg)
    if wants_trial(c):  # Dùng thử: the business chosen, the trial starts
        await trial_for(c, int(arg))
        return
    c.d.business = int(arg)
    enter_step1(c)


async def draw_business(c: Ctx) -> Screen:
    if c.deps.business is None:
        raise unexpected()
    return await c.deps.business.screen(c.t)


async def _picker_button(c: Ctx, action: Action, arg: str) -> None:
    if c.deps.business is None:
        raise unexpected()
    c.save()
    chosen = await c.deps.business.button(c.t, action.value, arg)
    c.reload()
    if chosen:
        enter_step1(c)


async def pick_business(c: Ctx, arg: str) -> None:
    await _picker_button(c, Action.PICK_BUSINESS, arg)


async def new_business(c: Ctx, arg: str) -> None:
    await _picker_button(c, Action.NEW_BUSINESS, arg)


async def business_typed(c: Ctx, raw: str) -> None:
    if c.deps.business is None:
        return
    c.save()
    chosen = await c.deps.business.text(c.t, raw)
    c.reload()
    if chosen:
        enter_step1(c)


async def back_from_business(c: Ctx) -> None:
    """The picker goes back through its own sub-steps first, then to Đăng ký."""
    c.save()
    stays = c.deps.business is not None and c.deps.business.back(c.t)
    c.reload()
    if not stays:
        c.go(Step.REGISTER)


def enter_step1(c: Ctx) -> None:
    """The business is known: Bước 1/2 starts with the plan's promotion."""
    if c.d.addons is None:
        c.d.addons = []
    if c.d.addon_promos is None:
        c.d.addon_promos = {}
    c.go(Step.PLAN_PROMO)


STEPS: dict[Step, StepSpec] = {
    Step.CATALOG: StepSpec(draw_catalog, {Action.SERVICE: choose_service}),
    Step.SERVICE: StepSpec(draw_service, {Action.PRICING: show_pricing}, back=Step.CATALOG),
    Step.PLANS: StepSpec(draw_plans, {Action.PLAN: choose_plan}, back=Step.SERVICE),
    Step.CYCLES: StepSpec(draw_cycles, {Action.CYCLE: choose_cycle}, back=Step.PLANS),
    Step.QUANTITY: StepSpec(
        draw_quantity, {Action.QUANTITY: accept_quantity}, text=accept_quantity, back=Step.CYCLES
    ),
    Step.REGISTER: StepSpec(
        draw_register,
        {Action.REGISTER: register, Action.TRIAL: start_trial},
        back=back_from_register,
    ),
    Step.ENTERPRISE: StepSpec(
        draw_enterprise, {Action.ENTERPRISE: choose_enterprise}, back=Step.REGISTER
    ),
    Step.BUSINESS: StepSpec(
        draw_business,
        {Action.PICK_BUSINESS: pick_business, Action.NEW_BUSINESS: new_business},
        text=business_typed,
        back=back_from_business,
    ),
}
