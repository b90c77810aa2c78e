"""Bước 1/2: the plan's promotion → add-ons → a promotion per ticked add-on that has one →
the invoice promotion → the step's summary with the price breakdown."""

from __future__ import annotations

from conversations.kit import breakdown, nav
from conversations.registration.context import Ctx, StepSpec, title
from conversations.registration.draft import Action, Pick, Step
from conversations.screens import Button, ButtonStyle, Cycle, Join, Money, Msg, Param, Plain, Screen
from domain.catalog import Promotion, PromotionScope
from domain.errors import NotFound
from domain.pricing import LineKind

# the question, the same for the plan, each add-on and the invoice


def promo_screen(
    header: Msg, promos: list[Promotion], chosen: str | None, action: Action
) -> Screen:
    """A Bước 1/2 promotion question: one button per promotion that applies (the chosen one
    ticked) and **Không áp dụng**."""
    rows = [
        (
            Button(
                Plain(p.name),
                action=action,
                arg=p.code,
                style=ButtonStyle.CHECKED if chosen == p.code else ButtonStyle.NORMAL,
            ),
        )
        for p in promos
    ]
    rows.append((Button(Msg("btn.no_promotion"), action=action, arg=""),))
    listing: Param = (
        Join(tuple(promo_line(p) for p in promos)) if promos else Msg("reg.no_promotions")
    )
    return Screen(Join((title(1), header, listing)), (*rows, nav()))


def promo_line(p: Promotion) -> Msg:
    if p.percent is not None:
        percent = Plain(f"{p.percent.normalize():f}")
        value: Param = Msg("promo.percent", {"percent": percent})
        if p.max_discount:
            value = Msg("promo.percent_cap", {"percent": percent, "cap": Money(p.max_discount)})
    else:
        value = Msg("promo.amount", {"amount": Money(p.amount or 0)})
    return Msg("promo.line", {"name": Plain(p.name), "value": value})


def _offered(code: str, promos: list[Promotion]) -> bool:
    return not code or code in {p.code for p in promos}


# the plan


def _plan_amount(c: Ctx) -> int:
    base = c.quote(promos=False)
    return next(line.base_amount for line in base.lines if line.kind is LineKind.PLAN)


async def _plan_promos(c: Ctx) -> list[Promotion]:
    return await c.promotions(PromotionScope.PLAN, c.plan().code, _plan_amount(c))


async def draw_plan_promo(c: Ctx) -> Screen:
    header = Msg("reg.plan_promo", {"plan": Plain(c.plan().name), "amount": Money(_plan_amount(c))})
    return promo_screen(header, await _plan_promos(c), c.d.plan_promo, Action.PLAN_PROMO)


async def choose_plan_promo(c: Ctx, arg: str) -> None:
    if arg and not _offered(arg, await _plan_promos(c)):
        c.refuse(Msg("reg.promo_unavailable"))
        return
    c.d.plan_promo = arg
    to_addons(c)


async def back_from_plan_promo(c: Ctx) -> None:
    if c.d.return_to_final:
        c.d.return_to_final = False
        c.go(Step.FINAL)
    elif c.d.picked is Pick.STAFF:
        c.go(Step.BUSINESS)
    else:
        c.go(Step.ENTERPRISE if c.d.picked else Step.REGISTER)


# add-ons


def to_addons(c: Ctx, *, backwards: bool = False) -> None:
    """The add-ons question, skipped when the plan offers none."""
    if c.addons():
        c.go(Step.ADDONS)
    elif backwards:
        c.go(Step.PLAN_PROMO)
    else:
        c.d.addons = []
        c.go(Step.INVOICE_PROMO)


async def draw_addons(c: Ctx) -> Screen:
    ticked = set(c.d.ticked)
    addons = c.addons()
    rows = [
        (
            Button(
                Plain(a.name),
                action=Action.TOGGLE_ADDON,
                arg=a.code,
                style=ButtonStyle.CHECKED if a.code in ticked else ButtonStyle.UNCHECKED,
            ),
        )
        for a in addons
    ]
    lines = tuple(
        Msg(
            "reg.addon_line",
            {
                "name": Plain(a.name),
                "price": Money(a.price),
                "type": Msg(
                    f"addon.{a.type.value}",
                    {"unit": Msg(f"unit.{a.unit.value}") if a.unit else ""},
                ),
            },
        )
        for a in addons
    )
    text = Join((title(1), Msg("reg.addons"), Join(lines)))
    rows.append((Button(Msg("btn.done"), action=Action.DONE),))
    return Screen(text, (*rows, nav()))


async def toggle_addon(c: Ctx, arg: str) -> None:
    allowed = {a.code for a in c.addons()}
    if arg not in allowed:
        raise NotFound("addon", code=arg)
    ticked = c.d.ticked
    if arg in ticked:
        ticked.remove(arg)
        if c.d.addon_promos is not None:
            c.d.addon_promos.pop(arg, None)
    else:
        ticked.append(arg)
    c.d.addons = [code for code in sorted(allowed) if code in ticked]


async def addons_done(c: Ctx, arg: str) -> None:
    await to_addon_promo(c, 0)


# a promotion per ticked add-on


async def _addon_promos(c: Ctx, code: str) -> list[Promotion]:
    base = c.quote(promos=False)
    line = next((x for x in base.lines if x.kind is LineKind.ADDON and x.code == code), None)
    if line is None:
        return []
    return await c.promotions(PromotionScope.ADDON, code, line.base_amount)


async def to_addon_promo(c: Ctx, index: int, *, backwards: bool = False) -> None:
    """Go to the first ticked add-on at or after ``index`` (before, when going back) that has
    a promotion to offer; past the ends go to the invoice promotion / add-ons."""
    ticked = c.d.ticked
    step = -1 if backwards else 1
    i = index
    while 0 <= i < len(ticked):
        if await _addon_promos(c, ticked[i]):
            c.d.addon_index = i
            c.go(Step.ADDON_PROMO)
            return
        c.d.addon_promos = {**(c.d.addon_promos or {}), ticked[i]: ""}
        i += step
    if backwards:
        to_addons(c, backwards=True)
    else:
        c.go(Step.INVOICE_PROMO)


def _current_addon(c: Ctx) -> tuple[int, str]:
    i = c.d.addon_index or 0
    return i, c.d.ticked[i]


async def draw_addon_promo(c: Ctx) -> Screen:
    _, code = _current_addon(c)
    addon = c.service().addon(code)
    assert addon is not None
    header = Msg("reg.addon_promo", {"addon": Plain(addon.name)})
    chosen = (c.d.addon_promos or {}).get(code)
    return promo_screen(header, await _addon_promos(c, code), chosen, Action.ADDON_PROMO)


async def choose_addon_promo(c: Ctx, arg: str) -> None:
    i, code = _current_addon(c)
    if arg and not _offered(arg, await _addon_promos(c, code)):
        c.refuse(Msg("reg.promo_unavailable"))
        return
    c.d.addon_promos = {**(c.d.addon_promos or {}), code: arg}
    await to_addon_promo(c, i + 1)


async def back_from_addon_promo(c: Ctx) -> None:
    await to_addon_promo(c, (c.d.addon_index or 0) - 1, backwards=True)


# the invoice


async def _invoice_promos(c: Ctx) -> list[Promotion]:
    before = c.quote(invoice=False)
    return await c.promotions(PromotionScope.INVOICE, c.plan().code, before.net_total)


async def draw_invoice_promo(c: Ctx) -> Screen:
    before = c.quote(invoice=False)
    header = Msg("reg.invoice_promo", {"amount": Money(before.net_total)})
    promos = await _invoice_promos(c)
    return promo_screen(header, promos, c.d.invoice_promo, Action.INVOICE_PROMO)


async def choose_invoice_promo(c: Ctx, arg: str) -> None:
    if arg and not _offered(arg, await _invoice_promos(c)):
        c.refuse(Msg("reg.promo_unavailable"))
        return
    c.d.invoice_promo = arg
    c.go(Step.STEP1_SUMMARY)


async def back_from_invoice_promo(c: Ctx) -> None:
    ticked = c.d.ticked
    if ticked:
        await to_addon_promo(c, len(ticked) - 1, backwards=True)
    else:
        to_addons(c, backwards=True)


# the summary of Bước 1/2


async def draw_step1_summary(c: Ctx) -> Screen:
    svc, plan = c.service(), c.plan()
    cycle = plan.cycle(c.d.cycle)
    assert cycle is not None
    text = Join(
        (
            title(1),
            Msg(
                "reg.step1_summary",
                {
                    "service": Plain(svc.name),
                    "plan": Plain(plan.name),
                    "cycle": Cycle(cycle.every, cycle.unit.value),
                },
            ),
            breakdown(c.quote()),
        )
    )
    label = "btn.back_to_summary" if c.d.return_to_final else "btn.next"
    return Screen(text, ((Button(Msg(label), action=Action.NEXT),), nav()))


async def step1_next(c: Ctx, arg: str) -> None:
    if c.d.return_to_final:
        c.d.return_to_final = False
        c.go(Step.FINAL)
    else:
        c.go(Step.INVOICE_INFO)


STEPS: dict[Step, StepSpec] = {
    Step.PLAN_PROMO: StepSpec(
        draw_plan_promo, {Action.PLAN_PROMO: choose_plan_promo}, back=back_from_plan_promo
    ),
    Step.ADDONS: StepSpec(
        draw_addons,
        {Action.TOGGLE_ADDON: toggle_addon, Action.DONE: addons_done},
        back=Step.PLAN_PROMO,
    ),
    Step.ADDON_PROMO: StepSpec(
        draw_addon_promo, {Action.ADDON_PROMO: choose_addon_promo}, back=back_from_addon_promo
    ),
    Step.INVOICE_PROMO: StepSpec(
        draw_invoice_promo,
        {Action.INVOICE_PROMO: choose_invoice_promo},
        back=back_from_invoice_promo,
    ),
    Step.STEP1_SUMMARY: StepSpec(
        draw_step1_summary, {Action.NEXT: step1_next}, back=Step.INVOICE_PROMO
    ),
}
