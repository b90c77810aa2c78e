"""What every registration step works with: the update (:class:`Turn`), the typed draft, the
flow's collaborators, and the catalog rows and prices the draft names.

A step is data (:class:`StepSpec`): how it is drawn, what each of its actions does, what a
typed answer does, and where **Quay lại** goes. The flow looks a step up in its table; no
handler is found by its name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from conversations.registration.draft import Action, RegDraft, Step
from conversations.screens import Msg, Screen
from conversations.turn import Turn
from domain.catalog import Addon, Plan, Promotion, PromotionScope, Service
from domain.errors import NotFound
from domain.pricing import CheckoutOffer, Quote, Selection
from domain.registration import (
    ContactInfo,
    CustomerInfo,
    DetailEdits,
    InvoiceInfo,
    OrderOutcome,
)
from domain.validation import display_phone


class BusinessPicker(Protocol):
    """The :attr:`Step.BUSINESS` step: a staff member finds (or creates) the business they
    register for. It keeps its sub-state in the draft; ``button``/``text`` return True once
    ``draft["e"]`` names the business, and ``back`` False when the step should be left."""

    def begin(self, t: Turn) -> None: ...

    async def screen(self, t: Turn) -> Screen: ...

    async def button(self, t: Turn, action: str, arg: str) -> bool: ...

    async def text(self, t: Turn, text: str) -> bool: ...

    def back(self, t: Turn) -> bool: ...


OrderPlaced = Callable[[Turn, OrderOutcome], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Collaborators:
    """``order_placed`` is told of every order placed; ``business`` lets staff pick the
    business they register for (without it staff cannot register)."""

    order_placed: OrderPlaced | None = None
    business: BusinessPicker | None = None


@dataclass
class Ctx:
    """One update at one step: ``d`` is the typed draft, written back to ``t.draft`` when the
    update is done (and around a call into the business picker, which works on the dict)."""

    t: Turn
    d: RegDraft
    deps: Collaborators

    @classmethod
    def load(cls, t: Turn, deps: Collaborators) -> Ctx:
        return cls(t, RegDraft.load(t.draft), deps)

    def save(self) -> None:
        self.d.save(self.t.draft)

    def reload(self) -> None:
        self.d = RegDraft.load(self.t.draft)

    def go(self, step: Step) -> None:
        self.d.step = step
        self.d.failures = 0
        self.d.coupon_prompt = False

    def refuse(self, answer: Msg) -> None:
        """Say no in an alert; the draft does not move."""
        self.t.answer = answer
        self.t.alert = True

    # the catalog rows the draft names

    def service(self) -> Service:
        svc = self.t.catalog.service(self.d.service)
        if svc is None or not svc.active:
            raise NotFound("service", code=self.d.service)
        return svc

    def plan(self) -> Plan:
        plan = self.service().plan(self.d.plan)
        if plan is None or not plan.active:
            raise NotFound("plan", code=self.d.plan)
        return plan

    def addons(self) -> list[Addon]:
        """The active add-ons the chosen plan offers."""
        service, plan = self.service(), self.plan()
        out = []
        for code in plan.addons:
            addon = service.addon(code)
            if addon is not None and addon.active:
                out.append(addon)
        return out

    # prices

    def selection(self, *, promos: bool = True, invoice: bool = True) -> Selection:
        d = self.d
        return Selection(
            service_code=d.service,
            plan_code=d.plan,
            cycle_code=d.cycle,
            quantity=d.qty,
            addon_codes=tuple(d.ticked),
            plan_promotion=(d.plan_promo or None) if promos else None,
            addon_promotions=tuple((a, p) for a, p in (d.addon_promos or {}).items() if p)
            if promos
            else (),
            invoice_promotions=(d.invoice_promo,) if d.invoice_promo and invoice and promos else (),
        )

    def quote(self, *, promos: bool = True, invoice: bool = True) -> Quote:
        """The prices shown (the uses of promotions are checked again at Xác nhận)."""
        offer = CheckoutOffer(self.t.catalog, self.t.today)
        return offer.quote(self.selection(promos=promos, invoice=invoice))

    async def promotions(self, scope: PromotionScope, target: str, amount: int) -> list[Promotion]:
        """The promotions of ``scope`` this business may use on ``amount`` today."""
        return (await self.t.offer(self.d.business)).promotions(scope, target, amount)

    async def coupon(
        self, typed: str, scope: PromotionScope, target: str, amount: int
    ) -> Promotion:
        """The promotion of a typed coupon code if this business may use it on ``amount``
        today; raises ``PromotionNotApplicable`` with the reason otherwise."""
        return (await self.t.offer(self.d.business)).coupon(typed, scope, target, amount)

    # the business and what the user typed over its details

    async def stored(self) -> CustomerInfo:
        if self.d.business is None:
            raise NotFound("enterprise", code="")
        return await self.t.customer(self.d.business)

    def edits(self) -> DetailEdits:
        return DetailEdits(self.d.invoice or {}, self.d.customer or {})

    async def invoice_info(self) -> InvoiceInfo:
        return self.edits().invoice_info(await self.stored())

    async def customer_info(self) -> CustomerInfo:
        return self.edits().customer_info(await self.stored())

    def contact(self) -> ContactInfo:
        c = self.d.contact or {}
        return ContactInfo(
            name=c.get("name", ""), phone=c.get("phone", ""), email=c.get("email", "")
        )

    def set_contact(self, name: str, value: str) -> None:
        self.d.contact = {**(self.d.contact or {}), name: value}


Handler = Callable[[Ctx, str], Awaitable[None]]
Draw = Callable[[Ctx], Awaitable[Screen]]
TextHandler = Callable[[Ctx, str], Awaitable[None]]
BackHandler = Callable[[Ctx], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step as data. ``on`` maps each action the step's buttons carry to its handler
    (called with the button's ``arg``); ``text`` accepts a typed answer (steps without one
    ask the user to use the buttons); ``back`` is the step **Quay lại** goes to, or a
    handler when that depends on the draft; ``None`` stays put."""

    draw: Draw
    on: Mapping[Action, Handler] = field(default_factory=dict)
    text: TextHandler | None = None
    back: Step | BackHandler | None = None


def title(step_no: int) -> Msg:
    return Msg("reg.checkout_title", {"step": step_no})


def phone_text(phone: str) -> str:
    return display_phone(phone) if phone.startswith("+84") else phone
