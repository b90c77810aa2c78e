"""Bước 1/2: the plan's promotion → add-ons → a promotion per ticked add-on that has one →
the invoice promotion → the step's summary with the price breakdown.

**Coupon codes.** A promotion with a ``coupon_code`` in the catalog is never listed. While
the catalog has any, every promotion screen has **Nhập mã khuyến mại**, which asks for the
code (so a code typed at the wrong step or for another plan gets its precise reason); an
add-on's question is asked when a promotion is listed for it or a code may apply to it.
The typed code is matched case-insensitively and checked by the same rule as a listed
promotion (``CheckoutOffer.coupon``: scope, plan or add-on, window, minimum, quota, uses per
business); a refusal says why and leaves the step open (type another code, pick from the list
or **Không áp dụng**). An accepted code is chosen exactly like a listed promotion (its
promotion code goes into the draft, the summary and the order), and shows ticked on the
step's screen while it still applies; its quota is taken when the order is placed, under the
same lock as every promotion's."""

from __future__ import annotations

from conversations.kit import breakdown, coupon_refusal, nav
from conversations.registration.context import Ctx, StepSpec, title
from conversations.registration.draft import Action, Pick, Step
from conversations.screens import (
    Button,
    ButtonStyle,
    Cycle,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
)
from domain.catalog import Promotion, PromotionScope
from domain.errors import NotFound, PromotionNotApplicable
from domain.pricing import LineKind

# the question, the same for the plan, each add-on and the invoice


def promo_screen(
    header: Msg,
    promos: list[Promotion],
    chosen: str | None,
    action: Action,
    *,
    coupons: bool = False,
    prompt: bool = False,
) -> Screen:
    """A Bước 1/2 promotion question: one button per promotion that applies (the chosen one
    ticked), **Nhập mã khuyến mại** when ``coupons`` (with the prompt when ``prompt``) and
    **Không áp dụng**."""
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
    if coupons:
        rows.append(
            (Button(Msg("btn.coupon_close"), action=Action.COUPON, arg="off"),)
            if prompt
            else (Button(Msg("btn.coupon"), action=Action.COUPON, arg=""),)
        )
    rows.append((Button(Msg("btn.no_promotion"), action=action, arg=""),))
    listing: Param = (
        Join(tuple(promo_line(p) for p in promos)) if promos else Msg("reg.no_promotions")
    )
    parts: list[Param] = [title(1), header, listing]
    if coupons and prompt:
        parts.append(Msg("reg.coupon.prompt"))
    return Screen(Join(tuple(parts)), (*rows, nav()))


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


# coupon codes


def _coupon_for(c: Ctx, scope: PromotionScope, target: str) -> bool:
    """Some active promotion of ``scope`` that may apply to ``target`` (a plan or add-on
    code; any for the invoice) is used by typing its code."""
    return any(
        p.coupon_code and (p.applies_to is None or target in p.applies_to)
        for p in c.t.catalog.active_promotions(scope)
    )


async def _with_chosen_coupon(
    c: Ctx,
    listed: list[Promotion],
    chosen: str | None,
    scope: PromotionScope,
    target: str,
    amount: int,
) -> list[Promotion]:
    """The listed promotions, and the chosen one when it came from a coupon code and still
    applies (so it shows ticked and may be pressed)."""
    promo = c.t.catalog.promotion(chosen) if chosen else None
    if promo is None or not promo.coupon_code or any(p.code == promo.code for p in listed):
        return listed
    try:
        await c.coupon(promo.coupon_code, scope, target, amount)
    except PromotionNotApplicable:
        return listed
    return [*listed, promo]


async def toggle_coupon(c: Ctx, arg: str) -> None:
    """**Nhập mã khuyến mại** opens the prompt (``arg`` ``""``), its close button (``off``)
    closes it."""
    c.d.coupon_prompt = arg != "off"
    c.d.failures = 0


async def _typed_coupon(
    c: Ctx, typed: str, scope: PromotionScope, target: str, amount: int
) -> Promotion | None:
    """The promotion of the typed code, or None after telling why not (the step stays). A code
    typed without pressing **Nhập mã khuyến mại** first is taken too, where codes exist."""
    shown = Plain(typed.strip()[:40])
    if not c.d.coupon_prompt and not c.t.catalog.has_coupons():
        c.t.notice = Msg("reg.use_buttons")
        return None
    c.d.coupon_prompt = True
    try:
        promo = await c.coupon(typed, scope, target, amount)
    except PromotionNotApplicable as refused:
        c.d.failures += 1
        c.t.notice = Msg("reg.coupon.refused", {"why": _refusal(c, refused, shown, scope)})
        return None
    c.t.notice = Msg("reg.coupon.applied", {"code": shown, "name": Plain(promo.name)})
    return promo


def _refusal(c: Ctx, refused: PromotionNotApplicable, shown: Plain, scope: PromotionScope) -> Msg:
    return coupon_refusal(c.t.catalog, refused, shown, scope)


# the plan


def _plan_amount(c: Ctx) -> int:
    base = c.quote(promos=False)
    return next(line.base_amount for line in base.lines if line.kind is LineKind.PLAN)


async def _plan_promos(c: Ctx) -> list[Promotion]:
    code, amount = c.plan().code, _plan_amount(c)
    listed = await c.promotions(PromotionScope.PLAN, code, amount)
    return await _with_chosen_coupon(c, listed, c.d.plan_promo, PromotionScope.PLAN, code, amount)


async def draw_plan_promo(c: Ctx) -> Screen:
    header = Msg("reg.plan_promo", {"plan": Plain(c.plan().name), "amount": Money(_plan_amount(c))})
    return promo_screen(
        header,
        await _plan_promos(c),
        c.d.plan_promo,
        Action.PLAN_PROMO,
        coupons=c.t.catalog.has_coupons(),
        prompt=c.d.coupon_prompt,
    )


async def type_plan_coupon(c: Ctx, text: str) -> None:
    promo = await _typed_coupon(c, text, PromotionScope.PLAN, c.plan().code, _plan_amount(c))
    if promo is not None:
        c.d.plan_promo = promo.code
        to_addons(c)


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


def _addon_amount(c: Ctx, code: str) -> int | None:
    base = c.quote(promos=False)
    line = next((x for x in base.lines if x.kind is LineKind.ADDON and x.code == code), None)
    return line.base_amount if line is not None else None


async def _addon_promos(c: Ctx, code: str) -> list[Promotion]:
    amount = _addon_amount(c, code)
    if amount is None:
        return []
    listed = await c.promotions(PromotionScope.ADDON, code, amount)
    chosen = (c.d.addon_promos or {}).get(code)
    return await _with_chosen_coupon(c, listed, chosen, PromotionScope.ADDON, code, amount)


async def _asks_addon_promo(c: Ctx, code: str) -> bool:
    """The add-on's promotion question is asked when a promotion is listed for it or a coupon
    code may apply to it."""
    return _coupon_for(c, PromotionScope.ADDON, code) or bool(await _addon_promos(c, code))


async def to_addon_promo(c: Ctx, index: int, *, backwards: bool = False) -> None:
    """Go to the first ticked add-on at or after ``index`` (before, when going back) that has
    a promotion to offer; past the ends go to the invoice promotion / add-ons."""
    ticked = c.d.ticked
    step = -1 if backwards else 1
    i = index
    while 0 <= i < len(ticked):
        if await _asks_addon_promo(c, ticked[i]):
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
    return promo_screen(
        header,
        await _addon_promos(c, code),
        chosen,
        Action.ADDON_PROMO,
        coupons=c.t.catalog.has_coupons(),
        prompt=c.d.coupon_prompt,
    )


async def type_addon_coupon(c: Ctx, text: str) -> None:
    i, code = _current_addon(c)
    amount = _addon_amount(c, code)
    if amount is None:
        raise NotFound("addon", code=code)
    promo = await _typed_coupon(c, text, PromotionScope.ADDON, code, amount)
    if promo is not None:
        c.d.addon_promos = {**(c.d.addon_promos or {}), code: promo.code}
        await to_addon_promo(c, i + 1)


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
    plan, amount = c.plan().code, c.quote(invoice=False).net_total
    listed = await c.promotions(PromotionScope.INVOICE, plan, amount)
    chosen = c.d.invoice_promo
    return await _with_chosen_coupon(c, listed, chosen, PromotionScope.INVOICE, plan, amount)


async def draw_invoice_promo(c: Ctx) -> Screen:
    before = c.quote(invoice=False)
    header = Msg("reg.invoice_promo", {"amount": Money(before.net_total)})
    promos = await _invoice_promos(c)
    return promo_screen(
        header,
        promos,
        c.d.invoice_promo,
        Action.INVOICE_PROMO,
        coupons=c.t.catalog.has_coupons(),
        prompt=c.d.coupon_prompt,
    )


async def type_invoice_coupon(c: Ctx, text: str) -> None:
    amount = c.quote(invoice=False).net_total
    promo = await _typed_coupon(c, text, PromotionScope.INVOICE, c.plan().code, amount)
    if promo is not None:
        c.d.invoice_promo = promo.code
        c.go(Step.STEP1_SUMMARY)


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
        draw_plan_promo,
        {Action.PLAN_PROMO: choose_plan_promo, Action.COUPON: toggle_coupon},
        text=type_plan_coupon,
        back=back_from_plan_promo,
    ),
    Step.ADDONS: StepSpec(
        draw_addons,
        {Action.TOGGLE_ADDON: toggle_addon, Action.DONE: addons_done},
        back=Step.PLAN_PROMO,
    ),
    Step.ADDON_PROMO: StepSpec(
        draw_addon_promo,
        {Action.ADDON_PROMO: choose_addon_promo, Action.COUPON: toggle_coupon},
        text=type_addon_coupon,
        back=back_from_addon_promo,
    ),
    Step.INVOICE_PROMO: StepSpec(
        draw_invoice_promo,
        {Action.INVOICE_PROMO: choose_invoice_promo, Action.COUPON: toggle_coupon},
        text=type_invoice_coupon,
        back=back_from_invoice_promo,
    ),
    Step.STEP1_SUMMARY: StepSpec(
        draw_step1_summary, {Action.NEXT: step1_next}, back=Step.INVOICE_PROMO
    ),
}
