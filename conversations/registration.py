"""The registration (checkout) conversation: the seed's steps 2–9 as a state machine.

catalog → service → Bảng giá (plans) → cycle (→ quantity) → Đăng ký → [business] →
Bước 1/2: plan promotion → add-ons → a promotion per ticked add-on → invoice promotion →
summary → Bước 2/2: invoice info → customer info → contact name, phone, e-mail →
final summary (edit any section, terms) → Thanh toán → Xác nhận.

The draft holds ids and choices only (codes, overrides the user typed), never catalog rows.
Every screen is computed from the draft and the in-memory catalog; nothing here does I/O
except through :class:`RegistrationBackend`.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from conversations.screens import (
    Button,
    ButtonStyle,
    Cycle,
    Delivery,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    ReplyKeyboard,
    Screen,
)
from conversations.session import Actor, Outgoing
from domain.catalog import Addon, Catalog, Plan, PromotionScope, Service, ServiceKind
from domain.errors import DomainError, InvalidInput, NotFound, PromotionNotApplicable
from domain.pricing import PromotionUsage, Quote, Selection, eligible_promotions, quote
from domain.registration import (
    Access,
    ContactInfo,
    CustomerInfo,
    EnterpriseRef,
    InvoiceInfo,
    OrderOutcome,
    OrderOutcomeKind,
    OrderRequest,
)
from domain.validation import (
    display_phone,
    validate_address,
    validate_company_name,
    validate_contact_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FLOW = "reg"
MAX_FAILURES = 3
MAX_QUANTITY = 10_000


class Step(enum.StrEnum):
    CATALOG = "cat"
    SERVICE = "svc"
    PLANS = "plans"
    CYCLES = "cyc"
    QUANTITY = "qty"
    REGISTER = "reg"
    ENTERPRISE = "ent"
    PLAN_PROMO = "pp"
    ADDONS = "ad"
    ADDON_PROMO = "ap"
    INVOICE_PROMO = "ip"
    STEP1_SUMMARY = "s1"
    INVOICE_INFO = "inv"
    CUSTOMER_INFO = "cus"
    FIELD = "fld"  # a text prompt for one field of a section (draft["fk"] names it)
    CONTACT_NAME = "ctn"
    CONTACT_PHONE = "ctp"
    CONTACT_EMAIL = "cte"
    FINAL = "fin"
    TERMS = "terms"
    CONFIRM = "conf"
    BUSINESS = "biz"  # staff: find or create the business to register for (a BusinessPicker)


#: editable fields of the two step-2 sections, in prompt order: (field key, draft slot)
INVOICE_FIELDS = ("inv.name", "inv.tax", "inv.addr", "inv.email")
CUSTOMER_FIELDS = ("cus.name", "cus.addr", "cus.phone", "cus.email")
TEXT_STEPS = {
    Step.QUANTITY,
    Step.FIELD,
    Step.CONTACT_NAME,
    Step.CONTACT_PHONE,
    Step.CONTACT_EMAIL,
    Step.BUSINESS,
}
#: draft["pick"] when staff chose the business through the BusinessPicker
PICKED_BY_STAFF = 2


class BusinessPicker(Protocol):
    """The :attr:`Step.BUSINESS` step: a staff member finds (or creates) the business they
    register for. It keeps its sub-state in the draft; ``button``/``text`` return True once
    ``draft["e"]`` names the business, and ``back`` False when the step should be left."""

    def begin(self, t: Turn) -> None: ...

    async def screen(self, t: Turn) -> Screen: ...

    async def button(self, t: Turn, action: str, arg: str) -> bool: ...

    async def text(self, t: Turn, text: str) -> bool: ...

    def back(self, t: Turn) -> bool: ...


class RegistrationBackend(Protocol):
    async def access(self, user_id: int) -> Access: ...

    async def enterprise(self, enterprise_id: int) -> CustomerInfo: ...

    async def usage(self, enterprise_id: int) -> PromotionUsage: ...

    async def place_order(self, request: OrderRequest) -> OrderOutcome: ...


@dataclass
class Turn:
    """One update being handled: the draft (mutable), what the user is, and caches so a screen
    that needs the same data twice asks the backend once."""

    draft: dict[str, Any]
    user_id: int
    chat_id: int
    lang: str
    now: datetime
    catalog: Catalog
    backend: RegistrationBackend
    #: messages for other chats (e.g. the business owners when an agent registers)
    outgoing: list[Outgoing] = field(default_factory=list)
    #: who sends the update (names as Telegram tells them); None in tests that need none
    actor: Actor | None = None
    _usage: PromotionUsage | None = None
    _customer: CustomerInfo | None = None
    notice: Msg | None = None
    answer: Msg | None = None
    alert: bool = False
    delivery: Delivery = Delivery.EDIT
    done: bool = False
    extra: list[Screen] = field(default_factory=list)

    @property
    def today(self) -> date:
        return self.now.astimezone(VN_TZ).date()

    @property
    def step(self) -> Step:
        return Step(self.draft.get("s", Step.CATALOG))

    def go(self, step: Step) -> None:
        self.draft["s"] = step.value
        self.draft.pop("fx", None)

    async def usage(self) -> PromotionUsage:
        if self._usage is None:
            ent = self.draft.get("e")
            self._usage = await self.backend.usage(int(ent)) if ent else PromotionUsage()
        return self._usage

    async def customer(self) -> CustomerInfo:
        if self._customer is None:
            self._customer = await self.backend.enterprise(int(self.draft["e"]))
        return self._customer


# --- helpers on the draft ----------------------------------------------------------------


def _service(t: Turn) -> Service:
    svc = t.catalog.service(t.draft.get("sv", ""))
    if svc is None or not svc.active:
        raise NotFound("service", code=t.draft.get("sv", ""))
    return svc


def _plan(t: Turn) -> Plan:
    plan = _service(t).plan(t.draft.get("pl", ""))
    if plan is None or not plan.active:
        raise NotFound("plan", code=t.draft.get("pl", ""))
    return plan


def _addons_for(service: Service, plan: Plan) -> list[Addon]:
    out = []
    for code in plan.addons:
        addon = service.addon(code)
        if addon is not None and addon.active:
            out.append(addon)
    return out


def _selection(d: dict[str, Any], *, promos: bool = True, invoice: bool = True) -> Selection:
    return Selection(
        service_code=d["sv"],
        plan_code=d["pl"],
        cycle_code=d["cy"],
        quantity=int(d.get("q", 1)),
        addon_codes=tuple(d.get("ad", [])),
        plan_promotion=(d.get("pp") or None) if promos else None,
        addon_promotions=tuple((a, p) for a, p in d.get("ap", {}).items() if p and promos)
        if promos
        else (),
        invoice_promotions=((d["ip"],) if d.get("ip") and invoice and promos else ()),
    )


def _quote(t: Turn, usage: PromotionUsage | None = None, **kw: bool) -> Quote:
    return quote(
        t.catalog, _selection(t.draft, **kw), today=t.today, usage=usage or PromotionUsage()
    )


def _invoice_info(t: Turn, cust: CustomerInfo) -> InvoiceInfo:
    o = t.draft.get("inv", {})
    return InvoiceInfo(
        company_name=o.get("name", cust.name),
        tax_code=o.get("tax", cust.tax_code),
        address=o.get("addr", cust.address),
        email=o.get("email", cust.email),
    )


def _customer_info(t: Turn, cust: CustomerInfo) -> CustomerInfo:
    o = t.draft.get("cus", {})
    return CustomerInfo(
        name=o.get("name", cust.name),
        tax_code=cust.tax_code,
        address=o.get("addr", cust.address),
        phone=o.get("phone", cust.phone),
        email=o.get("email", cust.email),
    )


def _contact(t: Turn) -> ContactInfo:
    c = t.draft.get("ct", {})
    return ContactInfo(name=c.get("name", ""), phone=c.get("phone", ""), email=c.get("email", ""))


def _nav(*, back: bool = True) -> tuple[Button, ...]:
    row = []
    if back:
        row.append(Button(Msg("btn.back"), action="back"))
    row.append(Button(Msg("btn.cancel"), action="cancel"))
    return tuple(row)


def _title(step_no: int) -> Msg:
    return Msg("reg.checkout_title", {"step": step_no})


def _phone_text(phone: str) -> str:
    return display_phone(phone) if phone.startswith("+84") else phone


# --- the flow --------------------------------------------------------------------------


class RegistrationFlow:
    """Handles the registration steps. ``start`` opens the catalog; ``button``/``text``/
    ``contact`` move the draft; ``screen`` draws the current step."""

    def __init__(
        self,
        *,
        order_placed: Callable[[Turn, OrderOutcome], Awaitable[None]] | None = None,
        business: BusinessPicker | None = None,
    ) -> None:
        """``order_placed`` is told of every order placed; ``business`` lets staff pick the
        business they register for (without it staff cannot register)."""
        self._order_placed = order_placed
        self._business = business

    # entry points

    async def start(self, t: Turn, arg: str = "") -> None:
        service_code = arg or None
        t.draft.clear()
        t.draft["s"] = Step.CATALOG.value
        if service_code and t.catalog.service(service_code):
            t.draft["sv"] = service_code
            t.go(Step.SERVICE)

    async def screen(self, t: Turn) -> Screen:
        draw = getattr(self, f"_draw_{t.step.name.lower()}")
        result: Screen = await draw(t)
        return result

    async def button(self, t: Turn, action: str, arg: str) -> None:
        if action == "back":
            await self._back(t)
            return
        handler = getattr(self, f"_on_{t.step.name.lower()}", None)
        if handler is None:
            raise InvalidInput("unexpected button", field="button", reason="button.unexpected")
        await handler(t, action, arg)

    async def text(self, t: Turn, text: str) -> None:
        step = t.step
        if step not in TEXT_STEPS:
            t.notice = Msg("reg.use_buttons")
            t.delivery = Delivery.NEW
            return
        t.delivery = Delivery.NEW
        try:
            await self._accept_text(t, step, text)
        except InvalidInput as exc:
            failures = int(t.draft.get("fx", 0)) + 1
            t.draft["fx"] = failures
            t.notice = Msg(
                "invalid.retry",
                {
                    "reason": Msg(
                        f"invalid.{exc.params.get('reason', 'generic')}",
                        {"max_len": int(exc.params.get("max_len", 0))},
                    ),
                    "example": Plain(str(exc.params.get("example", ""))),
                },
            )
            if failures >= MAX_FAILURES:
                t.notice = Msg("invalid.too_many", {"first": t.notice})

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        if t.step is not Step.CONTACT_PHONE:
            t.notice = Msg("reg.use_buttons")
            return
        await self.text(t, phone)

    # navigation backwards

    async def _back(self, t: Turn) -> None:
        step = t.step
        d = t.draft
        if d.get("ret") == Step.FINAL.value and step in {
            Step.FIELD,
            Step.PLAN_PROMO,
            Step.CONTACT_NAME,
        }:
            first = step is not Step.FIELD or d.get("fk") in (INVOICE_FIELDS[0], CUSTOMER_FIELDS[0])
            if first:
                d.pop("ret", None)
                t.go(Step.FINAL)
                return
        prev: dict[Step, Step] = {
            Step.SERVICE: Step.CATALOG,
            Step.PLANS: Step.SERVICE,
            Step.CYCLES: Step.PLANS,
            Step.QUANTITY: Step.CYCLES,
            Step.ENTERPRISE: Step.REGISTER,
            Step.ADDONS: Step.PLAN_PROMO,
            Step.STEP1_SUMMARY: Step.INVOICE_PROMO,
            Step.INVOICE_INFO: Step.STEP1_SUMMARY,
            Step.CUSTOMER_INFO: Step.INVOICE_INFO,
            Step.CONTACT_NAME: Step.CUSTOMER_INFO,
            Step.CONTACT_PHONE: Step.CONTACT_NAME,
            Step.CONTACT_EMAIL: Step.CONTACT_PHONE,
            Step.FINAL: Step.CONTACT_EMAIL,
            Step.TERMS: Step.FINAL,
            Step.CONFIRM: Step.FINAL,
        }
        if step is Step.CATALOG:
            return
        if step is Step.REGISTER:
            t.go(Step.QUANTITY if _plan(t).pricing.uses_quantity else Step.CYCLES)
        elif step is Step.PLAN_PROMO:
            if d.get("pick") == PICKED_BY_STAFF:
                t.go(Step.BUSINESS)
            else:
                t.go(Step.ENTERPRISE if d.get("pick") else Step.REGISTER)
        elif step is Step.BUSINESS:
            if self._business is None or not self._business.back(t):
                t.go(Step.REGISTER)
        elif step is Step.ADDON_PROMO:
            await self._to_addon_promo(t, int(d.get("ai", 0)) - 1, backwards=True)
        elif step is Step.INVOICE_PROMO:
            ticked = list(d.get("ad", []))
            if ticked:
                await self._to_addon_promo(t, len(ticked) - 1, backwards=True)
            else:
                self._to_addons(t, backwards=True)
        elif step is Step.FIELD:
            key = d.get("fk", "")
            fields = INVOICE_FIELDS if key.startswith("inv.") else CUSTOMER_FIELDS
            i = fields.index(key) if key in fields else 0
            if i == 0:
                t.go(Step.INVOICE_INFO if fields is INVOICE_FIELDS else Step.CUSTOMER_INFO)
            else:
                d["fk"] = fields[i - 1]
                t.go(Step.FIELD)
        else:
            t.go(prev[step])

    # step 0: browsing the catalog

    async def _draw_catalog(self, t: Turn) -> Screen:
        services = list(t.catalog.active_services())
        rows = tuple((Button(Plain(s.name), action="svc", arg=s.code),) for s in services)
        lines: list[Param] = [Msg("reg.catalog_title")]
        for s in services:
            lines.append(
                Msg(
                    "reg.catalog_item", {"name": Plain(s.name), "kind": Msg(f"kind.{s.kind.value}")}
                )
            )
        if not services:
            lines.append(Msg("reg.catalog_empty"))
        return Screen(Join(tuple(lines)), (*rows, (Button(Msg("btn.cancel"), action="cancel"),)))

    async def _on_catalog(self, t: Turn, action: str, arg: str) -> None:
        if action != "svc" or t.catalog.service(arg) is None:
            raise NotFound("service", code=arg)
        t.draft["sv"] = arg
        t.go(Step.SERVICE)

    async def _draw_service(self, t: Turn) -> Screen:
        svc = _service(t)
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
        return Screen(text, ((Button(Msg("btn.pricing"), action="pricing"),), _nav()))

    async def _on_service(self, t: Turn, action: str, arg: str) -> None:
        if action != "pricing":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        t.go(Step.PLANS)

    async def _draw_plans(self, t: Turn) -> Screen:
        svc = _service(t)
        plans = [p for p in svc.plans if p.active]
        lines: list[Param] = [Msg("reg.pricing_title", {"service": Plain(svc.name)})]
        for p in plans:
            prices = Join(
                tuple(
                    Msg(
                        "reg.pricing_cycle",
                        {"cycle": Cycle(c.every, c.unit.value), "price": Money(c.price)},
                    )
                    for c in p.cycles
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
        rows = tuple((Button(Plain(p.name), action="plan", arg=p.code),) for p in plans)
        return Screen(Join(tuple(lines)), (*rows, _nav()))

    async def _on_plans(self, t: Turn, action: str, arg: str) -> None:
        plan = _service(t).plan(arg)
        if action != "plan" or plan is None or not plan.active:
            raise NotFound("plan", code=arg)
        for k in ("cy", "q", "pp", "ad", "ap", "ip", "ai"):
            t.draft.pop(k, None)
        t.draft["pl"] = arg
        t.go(Step.CYCLES)

    async def _draw_cycles(self, t: Turn) -> Screen:
        svc, plan = _service(t), _plan(t)
        unit = Msg(f"pricing.unit_suffix.{plan.pricing.value}")
        rows = tuple(
            (
                Button(
                    Msg(
                        "reg.cycle_button",
                        {
                            "cycle": Cycle(c.every, c.unit.value),
                            "price": Money(c.price),
                            "unit": unit,
                        },
                    ),
                    action="cyc",
                    arg=c.code,
                ),
            )
            for c in plan.cycles
        )
        text = Msg(
            "reg.choose_cycle",
            {
                "service": Plain(svc.name),
                "plan": Plain(plan.name),
                "features": Plain("\n".join(f"• {f}" for f in plan.features)),
            },
        )
        return Screen(text, (*rows, _nav()))

    async def _on_cycles(self, t: Turn, action: str, arg: str) -> None:
        plan = _plan(t)
        if action != "cyc" or plan.cycle(arg) is None:
            raise NotFound("cycle", code=arg)
        t.draft["cy"] = arg
        if plan.pricing.uses_quantity:
            t.draft.setdefault("q", 1)
            t.go(Step.QUANTITY)
        else:
            t.draft["q"] = 1
            t.go(Step.REGISTER)

    async def _draw_quantity(self, t: Turn) -> Screen:
        plan = _plan(t)
        quick = tuple(Button(Plain(str(n)), action="qty", arg=str(n)) for n in (1, 5, 10, 20, 50))
        text = Msg("reg.ask_quantity", {"plan": Plain(plan.name), "max": MAX_QUANTITY})
        return Screen(text, (quick, _nav()))

    async def _on_quantity(self, t: Turn, action: str, arg: str) -> None:
        await self._accept_text(t, Step.QUANTITY, arg)

    async def _draw_register(self, t: Turn) -> Screen:
        svc, plan = _service(t), _plan(t)
        cycle = plan.cycle(t.draft["cy"])
        assert cycle is not None
        q = _quote(t, promos=False)
        text = Msg(
            "reg.register_summary",
            {
                "service": Plain(svc.name),
                "plan": Plain(plan.name),
                "cycle": Cycle(cycle.every, cycle.unit.value),
                "quantity": int(t.draft.get("q", 1)),
                "amount": Money(q.subtotal),
            },
        )
        return Screen(text, ((Button(Msg("btn.register"), action="register"),), _nav()))

    async def _on_register(self, t: Turn, action: str, arg: str) -> None:
        if action != "register":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        access = await t.backend.access(t.user_id)
        owned = access.owned
        if access.is_staff and self._business is not None:
            t.draft["pick"] = PICKED_BY_STAFF
            t.go(Step.BUSINESS)
            self._business.begin(t)
            return
        if access.is_staff and not owned:
            t.answer = Msg("reg.agent_pick_later")
            t.alert = True
            return
        if not owned:
            t.answer = Msg("reg.no_permission")
            t.alert = True
            t.notice = Msg("reg.no_permission_help")
            return
        if len(owned) == 1:
            t.draft["e"] = owned[0].id
            t.draft.pop("pick", None)
            await self._enter_step1(t)
        else:
            t.draft["pick"] = 1
            t.go(Step.ENTERPRISE)

    async def _draw_business(self, t: Turn) -> Screen:
        assert self._business is not None
        return await self._business.screen(t)

    async def _on_business(self, t: Turn, action: str, arg: str) -> None:
        assert self._business is not None
        if await self._business.button(t, action, arg):
            await self._enter_step1(t)

    async def _draw_enterprise(self, t: Turn) -> Screen:
        access = await t.backend.access(t.user_id)
        rows = tuple(
            (Button(Plain(f"{e.name} ({e.tax_code})"), action="ent", arg=str(e.id)),)
            for e in access.owned
        )
        return Screen(Msg("reg.choose_enterprise"), (*rows, _nav()))

    async def _on_enterprise(self, t: Turn, action: str, arg: str) -> None:
        access = await t.backend.access(t.user_id)
        if action != "ent" or not arg.isdigit() or not access.can_register_for(int(arg)):
            raise NotFound("enterprise", code=arg)
        t.draft["e"] = int(arg)
        await self._enter_step1(t)

    async def _enter_step1(self, t: Turn) -> None:
        t.draft.setdefault("ad", [])
        t.draft.setdefault("ap", {})
        t.go(Step.PLAN_PROMO)

    # step 1: promotions and add-ons

    async def _promos(self, t: Turn, scope: PromotionScope, target: str, amount: int) -> list[Any]:
        return eligible_promotions(t.catalog, scope, target, amount, t.today, await t.usage())

    async def _draw_plan_promo(self, t: Turn) -> Screen:
        plan = _plan(t)
        base = _quote(t, promos=False)
        plan_line = next(line for line in base.lines if line.kind == "plan")
        promos = await self._promos(t, PromotionScope.PLAN, plan.code, plan_line.base_amount)
        header = Msg(
            "reg.plan_promo", {"plan": Plain(plan.name), "amount": Money(plan_line.base_amount)}
        )
        return self._promo_screen(header, promos, t.draft.get("pp"), "pp")

    def _promo_screen(
        self, header: Msg, promos: list[Any], chosen: str | None, action: str
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
            Join(tuple(self._promo_line(p) for p in promos)) if promos else Msg("reg.no_promotions")
        )
        return Screen(Join((_title(1), header, listing)), (*rows, _nav()))

    def _promo_line(self, p: Any) -> Msg:
        if p.percent is not None:
            value: Param = Msg("promo.percent", {"percent": Plain(f"{p.percent.normalize():f}")})
            if p.max_discount:
                value = Msg(
                    "promo.percent_cap",
                    {"percent": Plain(f"{p.percent.normalize():f}"), "cap": Money(p.max_discount)},
                )
        else:
            value = Msg("promo.amount", {"amount": Money(p.amount or 0)})
        return Msg("promo.line", {"name": Plain(p.name), "value": value})

    async def _on_plan_promo(self, t: Turn, action: str, arg: str) -> None:
        if action != "pp":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        if arg:
            plan = _plan(t)
            base = _quote(t, promos=False)
            amount = next(line.base_amount for line in base.lines if line.kind == "plan")
            promos = await self._promos(t, PromotionScope.PLAN, plan.code, amount)
            if arg not in {p.code for p in promos}:
                t.answer = Msg("reg.promo_unavailable")
                t.alert = True
                return
        t.draft["pp"] = arg
        self._to_addons(t)

    def _to_addons(self, t: Turn, *, backwards: bool = False) -> None:
        if _addons_for(_service(t), _plan(t)):
            t.go(Step.ADDONS)
        elif backwards:
            t.go(Step.PLAN_PROMO)
        else:
            t.draft["ad"] = []
            t.go(Step.INVOICE_PROMO)

    async def _draw_addons(self, t: Turn) -> Screen:
        svc, plan = _service(t), _plan(t)
        ticked = set(t.draft.get("ad", []))
        rows = [
            (
                Button(
                    Plain(a.name),
                    action="tog",
                    arg=a.code,
                    style=ButtonStyle.CHECKED if a.code in ticked else ButtonStyle.UNCHECKED,
                ),
            )
            for a in _addons_for(svc, plan)
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
            for a in _addons_for(svc, plan)
        )
        text = Join((_title(1), Msg("reg.addons"), Join(lines)))
        rows.append((Button(Msg("btn.done"), action="done"),))
        return Screen(text, (*rows, _nav()))

    async def _on_addons(self, t: Turn, action: str, arg: str) -> None:
        allowed = {a.code for a in _addons_for(_service(t), _plan(t))}
        if action == "tog":
            if arg not in allowed:
                raise NotFound("addon", code=arg)
            ticked: list[str] = list(t.draft.get("ad", []))
            if arg in ticked:
                ticked.remove(arg)
                t.draft.get("ap", {}).pop(arg, None)
            else:
                ticked.append(arg)
            t.draft["ad"] = [c for c in sorted(allowed) if c in ticked]
        elif action == "done":
            await self._to_addon_promo(t, 0)
        else:
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")

    async def _addon_promos(self, t: Turn, code: str) -> list[Any]:
        base = _quote(t, promos=False)
        line = next((x for x in base.lines if x.kind == "addon" and x.code == code), None)
        if line is None:
            return []
        return await self._promos(t, PromotionScope.ADDON, code, line.base_amount)

    async def _to_addon_promo(self, t: Turn, index: int, *, backwards: bool = False) -> None:
        """Go to the first ticked add-on at or after ``index`` (before, when going back) that
        has a promotion to offer; past the ends go to the invoice promotion / add-ons."""
        ticked: list[str] = list(t.draft.get("ad", []))
        step = -1 if backwards else 1
        i = index
        while 0 <= i < len(ticked):
            if await self._addon_promos(t, ticked[i]):
                t.draft["ai"] = i
                t.go(Step.ADDON_PROMO)
                return
            t.draft.setdefault("ap", {})[ticked[i]] = ""
            i += step
        if backwards:
            self._to_addons(t, backwards=True)
        else:
            t.go(Step.INVOICE_PROMO)

    async def _draw_addon_promo(self, t: Turn) -> Screen:
        ticked: list[str] = list(t.draft.get("ad", []))
        code = ticked[int(t.draft.get("ai", 0))]
        addon = _service(t).addon(code)
        assert addon is not None
        promos = await self._addon_promos(t, code)
        header = Msg("reg.addon_promo", {"addon": Plain(addon.name)})
        return self._promo_screen(header, promos, t.draft.get("ap", {}).get(code), "ap")

    async def _on_addon_promo(self, t: Turn, action: str, arg: str) -> None:
        if action != "ap":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        ticked: list[str] = list(t.draft.get("ad", []))
        i = int(t.draft.get("ai", 0))
        code = ticked[i]
        if arg and arg not in {p.code for p in await self._addon_promos(t, code)}:
            t.answer = Msg("reg.promo_unavailable")
            t.alert = True
            return
        t.draft.setdefault("ap", {})[code] = arg
        await self._to_addon_promo(t, i + 1)

    async def _invoice_promos(self, t: Turn) -> list[Any]:
        before = _quote(t, invoice=False)
        return await self._promos(t, PromotionScope.INVOICE, _plan(t).code, before.net_total)

    async def _draw_invoice_promo(self, t: Turn) -> Screen:
        before = _quote(t, invoice=False)
        promos = await self._invoice_promos(t)
        header = Msg("reg.invoice_promo", {"amount": Money(before.net_total)})
        return self._promo_screen(header, promos, t.draft.get("ip"), "ip")

    async def _on_invoice_promo(self, t: Turn, action: str, arg: str) -> None:
        if action != "ip":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        if arg and arg not in {p.code for p in await self._invoice_promos(t)}:
            t.answer = Msg("reg.promo_unavailable")
            t.alert = True
            return
        t.draft["ip"] = arg
        t.go(Step.STEP1_SUMMARY)

    def breakdown(self, q: Quote) -> Join:
        """The price breakdown shown on both summaries: every line, its discounts, the
        invoice discounts, VAT per rate and the totals."""
        parts: list[Param] = []
        for line in q.lines:
            parts.append(
                Msg(
                    f"quote.line.{line.kind}",
                    {
                        "name": Plain(line.name),
                        "quantity": line.quantity,
                        "amount": Money(line.base_amount),
                        "tax": Plain(line.tax.value),
                    },
                )
            )
            if line.line_discount:
                parts.append(
                    Msg(
                        "quote.line_discount",
                        {
                            "promotion": Plain(line.promotion_code or ""),
                            "amount": Money(line.line_discount),
                        },
                    )
                )
        parts.append(Msg("quote.subtotal", {"amount": Money(q.subtotal - q.line_discount_total)}))
        for code, amount in q.invoice_discounts:
            parts.append(
                Msg("quote.invoice_discount", {"promotion": Plain(code), "amount": Money(amount)})
            )
        parts.append(Msg("quote.net_total", {"amount": Money(q.net_total)}))
        for tax, base, vat in q.vat_groups:
            key = "quote.vat_kct" if tax.value == "KCT" else "quote.vat"
            parts.append(
                Msg(key, {"rate": Plain(tax.value), "base": Money(base), "amount": Money(vat)})
            )
        parts.append(Msg("quote.total", {"amount": Money(q.total)}))
        return Join(tuple(parts))

    async def _draw_step1_summary(self, t: Turn) -> Screen:
        svc, plan = _service(t), _plan(t)
        cycle = plan.cycle(t.draft["cy"])
        assert cycle is not None
        q = _quote(t)
        text = Join(
            (
                _title(1),
                Msg(
                    "reg.step1_summary",
                    {
                        "service": Plain(svc.name),
                        "plan": Plain(plan.name),
                        "cycle": Cycle(cycle.every, cycle.unit.value),
                    },
                ),
                self.breakdown(q),
            )
        )
        label = "btn.back_to_summary" if t.draft.get("ret") == Step.FINAL.value else "btn.next"
        return Screen(text, ((Button(Msg(label), action="next"),), _nav()))

    async def _on_step1_summary(self, t: Turn, action: str, arg: str) -> None:
        if action != "next":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        if t.draft.pop("ret", None) == Step.FINAL.value:
            t.go(Step.FINAL)
        else:
            t.go(Step.INVOICE_INFO)

    # step 2: invoice, customer, contact

    async def _draw_invoice_info(self, t: Turn) -> Screen:
        info = _invoice_info(t, await t.customer())
        text = Join(
            (
                _title(2),
                Msg(
                    "reg.invoice_info",
                    {
                        "name": Plain(info.company_name),
                        "tax_code": Plain(info.tax_code),
                        "address": Plain(info.address or "—"),
                        "email": Plain(info.email or "—"),
                    },
                ),
            )
        )
        return Screen(
            text,
            (
                (Button(Msg("btn.edit"), action="edit"), Button(Msg("btn.next"), action="next")),
                _nav(),
            ),
        )

    async def _on_invoice_info(self, t: Turn, action: str, arg: str) -> None:
        if action == "edit":
            t.draft["fk"] = INVOICE_FIELDS[0]
            t.go(Step.FIELD)
        elif action == "next":
            info = _invoice_info(t, await t.customer())
            missing = [k for k, v in (("address", info.address), ("email", info.email)) if not v]
            if missing:
                t.answer = Msg("reg.invoice_incomplete")
                t.alert = True
                t.draft["fk"] = "inv.addr" if "address" in missing else "inv.email"
                t.go(Step.FIELD)
                return
            t.go(Step.CUSTOMER_INFO)
        else:
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")

    async def _draw_customer_info(self, t: Turn) -> Screen:
        info = _customer_info(t, await t.customer())
        text = Join(
            (
                _title(2),
                Msg(
                    "reg.customer_info",
                    {
                        "name": Plain(info.name),
                        "tax_code": Plain(info.tax_code),
                        "address": Plain(info.address or "—"),
                        "phone": Plain(_phone_text(info.phone) or "—"),
                        "email": Plain(info.email or "—"),
                    },
                ),
            )
        )
        return Screen(
            text,
            (
                (Button(Msg("btn.edit"), action="edit"), Button(Msg("btn.next"), action="next")),
                _nav(),
            ),
        )

    async def _on_customer_info(self, t: Turn, action: str, arg: str) -> None:
        if action == "edit":
            t.draft["fk"] = CUSTOMER_FIELDS[0]
            t.go(Step.FIELD)
        elif action == "next":
            if t.draft.get("ret") == Step.FINAL.value and t.draft.get("ct", {}).get("email"):
                t.draft.pop("ret", None)
                t.go(Step.FINAL)
            else:
                t.go(Step.CONTACT_NAME)
        else:
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")

    async def _field_current(self, t: Turn, key: str) -> str:
        cust = await t.customer()
        inv, cus = _invoice_info(t, cust), _customer_info(t, cust)
        values = {
            "inv.name": inv.company_name,
            "inv.tax": inv.tax_code,
            "inv.addr": inv.address,
            "inv.email": inv.email,
            "cus.name": cus.name,
            "cus.addr": cus.address,
            "cus.phone": _phone_text(cus.phone),
            "cus.email": cus.email,
        }
        return values.get(key, "")

    async def _draw_field(self, t: Turn) -> Screen:
        key = t.draft.get("fk", INVOICE_FIELDS[0])
        current = await self._field_current(t, key)
        section = "reg.section.invoice" if key.startswith("inv.") else "reg.section.customer"
        text = Join(
            (
                _title(2),
                Msg(
                    "reg.ask_field",
                    {
                        "section": Msg(section),
                        "field": Msg(f"field.{key}"),
                        "current": Plain(current or "—"),
                        "example": Msg(f"example.{key}"),
                    },
                ),
            )
        )
        rows: list[tuple[Button, ...]] = []
        if current:
            rows.append((Button(Msg("btn.keep"), action="keep"),))
        return Screen(text, (*rows, _nav()))

    async def _on_field(self, t: Turn, action: str, arg: str) -> None:
        if action != "keep":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        if not await self._field_current(t, t.draft.get("fk", "")):
            raise InvalidInput("empty", field="field", reason="field.empty")
        self._next_field(t)

    def _next_field(self, t: Turn) -> None:
        key = t.draft.get("fk", "")
        fields = INVOICE_FIELDS if key.startswith("inv.") else CUSTOMER_FIELDS
        i = fields.index(key)
        if i + 1 < len(fields):
            t.draft["fk"] = fields[i + 1]
            t.go(Step.FIELD)
        else:
            t.draft.pop("fk", None)
            if t.draft.get("ret") == Step.FINAL.value:
                t.draft.pop("ret", None)
                t.go(Step.FINAL)
            else:
                t.go(Step.INVOICE_INFO if fields is INVOICE_FIELDS else Step.CUSTOMER_INFO)

    async def _draw_contact_name(self, t: Turn) -> Screen:
        current = t.draft.get("ct", {}).get("name", "")
        text = Join((_title(2), Msg("reg.ask_contact_name", {"current": Plain(current or "—")})))
        rows: list[tuple[Button, ...]] = []
        if current:
            rows.append((Button(Msg("btn.keep"), action="keep"),))
        return Screen(text, (*rows, _nav()))

    async def _on_contact_name(self, t: Turn, action: str, arg: str) -> None:
        if action != "keep" or not t.draft.get("ct", {}).get("name"):
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        t.go(Step.CONTACT_PHONE)

    async def _draw_contact_phone(self, t: Turn) -> Screen:
        current = t.draft.get("ct", {}).get("phone", "")
        text = Join(
            (
                _title(2),
                Msg("reg.ask_contact_phone", {"current": Plain(_phone_text(current) or "—")}),
            )
        )
        rows: list[tuple[Button, ...]] = []
        if current:
            rows.append((Button(Msg("btn.keep"), action="keep"),))
        return Screen(
            text,
            (*rows, _nav()),
            reply_keyboard=ReplyKeyboard(share_contact=True),
        )

    async def _on_contact_phone(self, t: Turn, action: str, arg: str) -> None:
        if action != "keep" or not t.draft.get("ct", {}).get("phone"):
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        t.go(Step.CONTACT_EMAIL)

    async def _draw_contact_email(self, t: Turn) -> Screen:
        current = t.draft.get("ct", {}).get("email", "")
        text = Join((_title(2), Msg("reg.ask_contact_email", {"current": Plain(current or "—")})))
        rows: list[tuple[Button, ...]] = []
        if current:
            rows.append((Button(Msg("btn.keep"), action="keep"),))
        return Screen(text, (*rows, _nav()))

    async def _on_contact_email(self, t: Turn, action: str, arg: str) -> None:
        if action != "keep" or not t.draft.get("ct", {}).get("email"):
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        t.draft.pop("ret", None)
        t.go(Step.FINAL)

    async def _accept_text(self, t: Turn, step: Step, raw: str) -> None:
        text = raw.strip()
        d = t.draft
        if step is Step.QUANTITY:
            digits = text.replace(".", "").replace(",", "").replace(" ", "")
            if not digits.isdigit() or not 1 <= int(digits) <= MAX_QUANTITY:
                raise InvalidInput(
                    "quantity", field="quantity", reason="quantity.range", example="5"
                )
            d["q"] = int(digits)
            t.go(Step.REGISTER)
        elif step is Step.FIELD:
            key = d.get("fk", "")
            validators: dict[str, Callable[[str], str]] = {
                "inv.name": validate_company_name,
                "inv.tax": validate_tax_code,
                "inv.addr": validate_address,
                "inv.email": validate_email,
                "cus.name": validate_company_name,
                "cus.addr": validate_address,
                "cus.phone": validate_phone,
                "cus.email": validate_email,
            }
            value = validators[key](text)
            section, name = key.split(".")
            d.setdefault(section, {})[name] = value
            self._next_field(t)
        elif step is Step.CONTACT_NAME:
            d.setdefault("ct", {})["name"] = validate_contact_name(text)
            t.go(Step.CONTACT_PHONE)
        elif step is Step.CONTACT_PHONE:
            d.setdefault("ct", {})["phone"] = validate_phone(text)
            t.go(Step.CONTACT_EMAIL)
        elif step is Step.CONTACT_EMAIL:
            d.setdefault("ct", {})["email"] = validate_email(text)
            t.draft.pop("ret", None)
            t.go(Step.FINAL)
        elif (
            step is Step.BUSINESS
            and self._business is not None
            and await self._business.text(t, raw)
        ):
            await self._enter_step1(t)

    # final summary, terms, payment, confirmation

    async def _draw_final(self, t: Turn) -> Screen:
        svc, plan = _service(t), _plan(t)
        cycle = plan.cycle(t.draft["cy"])
        assert cycle is not None
        cust = await t.customer()
        inv, cus, ct = _invoice_info(t, cust), _customer_info(t, cust), _contact(t)
        q = _quote(t)
        agreed = bool(t.draft.get("tm"))
        warning: Param = self._price_changed_msg(t.draft["pc"]) if t.draft.get("pc") else ""
        text = Join(
            (
                warning,
                Msg("reg.final_title"),
                Msg(
                    "reg.final_plan",
                    {
                        "service": Plain(svc.name),
                        "kind": Msg(f"kind.{svc.kind.value}"),
                        "plan": Plain(plan.name),
                        "cycle": Cycle(cycle.every, cycle.unit.value),
                        "quantity": int(t.draft.get("q", 1)),
                    },
                ),
                self.breakdown(q),
                Msg(
                    "reg.final_invoice",
                    {
                        "name": Plain(inv.company_name),
                        "tax_code": Plain(inv.tax_code),
                        "address": Plain(inv.address),
                        "email": Plain(inv.email),
                    },
                ),
                Msg(
                    "reg.final_customer",
                    {
                        "name": Plain(cus.name),
                        "tax_code": Plain(cus.tax_code),
                        "address": Plain(cus.address or "—"),
                        "phone": Plain(_phone_text(cus.phone) or "—"),
                        "email": Plain(cus.email or "—"),
                    },
                ),
                Msg(
                    "reg.final_contact",
                    {
                        "name": Plain(ct.name),
                        "phone": Plain(_phone_text(ct.phone)),
                        "email": Plain(ct.email),
                    },
                ),
                Msg("reg.final_payment", {"method": Msg(f"kind.payment.{svc.kind.value}")}),
            )
        )
        rows = (
            (
                Button(Msg("btn.edit_plan"), action="ed", arg="plan"),
                Button(Msg("btn.edit_promos"), action="ed", arg="promo"),
            ),
            (
                Button(Msg("btn.edit_invoice"), action="ed", arg="inv"),
                Button(Msg("btn.edit_customer"), action="ed", arg="cus"),
            ),
            (
                Button(Msg("btn.edit_contact"), action="ed", arg="ct"),
                Button(Msg("btn.terms_view"), action="terms"),
            ),
            (
                Button(
                    Msg("btn.agree_terms"),
                    action="agree",
                    style=ButtonStyle.CHECKED if agreed else ButtonStyle.UNCHECKED,
                ),
            ),
            (Button(Msg("btn.pay"), action="pay"),),
            _nav(),
        )
        return Screen(text, rows)

    async def _on_final(self, t: Turn, action: str, arg: str) -> None:
        d = t.draft
        d.pop("pc", None)
        if action == "agree":
            d["tm"] = not d.get("tm")
        elif action == "terms":
            t.go(Step.TERMS)
        elif action == "pay":
            if not d.get("tm"):
                t.answer = Msg("reg.terms_required")
                t.alert = True
                return
            d["ik"] = secrets.token_urlsafe(12)
            d["tot"] = _quote(t).total
            t.go(Step.CONFIRM)
        elif action == "ed":
            d["ret"] = Step.FINAL.value
            d.pop("tm", None)
            if arg == "plan":
                d.pop("ret", None)
                t.go(Step.PLANS)
            elif arg == "promo":
                t.go(Step.PLAN_PROMO)
            elif arg == "inv":
                d["fk"] = INVOICE_FIELDS[0]
                t.go(Step.FIELD)
            elif arg == "cus":
                d["fk"] = CUSTOMER_FIELDS[0]
                t.go(Step.FIELD)
            elif arg == "ct":
                t.go(Step.CONTACT_NAME)
            else:
                raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        else:
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")

    async def _draw_terms(self, t: Turn) -> Screen:
        svc = _service(t)
        return Screen(
            Msg("reg.terms_text", {"service": Plain(svc.name)}),
            (
                (
                    Button(
                        Msg("btn.agree_terms"),
                        action="agree",
                        style=ButtonStyle.CHECKED if t.draft.get("tm") else ButtonStyle.UNCHECKED,
                    ),
                ),
                _nav(),
            ),
        )

    async def _on_terms(self, t: Turn, action: str, arg: str) -> None:
        if action != "agree":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        t.draft["tm"] = not t.draft.get("tm")
        t.go(Step.FINAL)

    async def _draw_confirm(self, t: Turn) -> Screen:
        svc = _service(t)
        text = Msg(
            "reg.confirm",
            {
                "total": Money(int(t.draft.get("tot", 0))),
                "method": Msg(f"kind.payment.{svc.kind.value}"),
                "service": Plain(svc.name),
            },
        )
        return Screen(text, ((Button(Msg("btn.confirm"), action="confirm"),), _nav()))

    async def _on_confirm(self, t: Turn, action: str, arg: str) -> None:
        if action != "confirm":
            raise InvalidInput("unexpected", field="button", reason="button.unexpected")
        d = t.draft
        cust = await t.customer()
        request = OrderRequest(
            actor_id=t.user_id,
            enterprise_id=int(d["e"]),
            selection=_selection(d),
            invoice=_invoice_info(t, cust),
            customer=_customer_info(t, cust),
            contact=_contact(t),
            expected_total=int(d.get("tot", 0)),
            idempotency_key=str(d.get("ik", "")),
            locale=t.lang,
            chat_id=t.chat_id,
        )
        outcome = await t.backend.place_order(request)
        if outcome.kind is OrderOutcomeKind.PRICE_CHANGED:
            self._price_changed(t, outcome)
            return
        if outcome.kind is OrderOutcomeKind.REFUSED:
            t.answer = Msg(outcome.reason or "reg.no_permission", dict(outcome.reason_params or {}))
            t.alert = True
            return
        t.done = True
        t.extra.append(result_screen(outcome))
        if self._order_placed is not None:
            await self._order_placed(t, outcome)

    def _price_changed(self, t: Turn, outcome: OrderOutcome) -> None:
        """Something changed since the summary: drop what no longer applies, show the new
        summary with the reason on top, and make the user agree and confirm again."""
        d = t.draft
        params = outcome.reason_params or {}
        code = str(params.get("code", ""))
        if outcome.reason == PromotionNotApplicable.key and code:
            if d.get("pp") == code:
                d["pp"] = ""
            if d.get("ip") == code:
                d["ip"] = ""
            for a, p in list(d.get("ap", {}).items()):
                if p == code:
                    d["ap"][a] = ""
        d.pop("tm", None)
        d.pop("ik", None)
        d["pc"] = [str(params.get("reason", "changed")), code]
        t.answer = self._price_changed_msg(d["pc"])
        t.alert = True
        t.delivery = Delivery.NEW
        t.go(Step.FINAL)

    @staticmethod
    def _price_changed_msg(pc: list[str]) -> Msg:
        reason, code = [*pc, "", ""][:2]
        return Msg("reg.price_changed", {"reason": Msg(f"refusal.{reason}", {"code": Plain(code)})})


def result_screen(outcome: OrderOutcome) -> Screen:
    """The message after Xác nhận: the payment link (ON) or registration success (OS). It
    replaces the confirmation message, so no Xác nhận button is left to press."""
    if outcome.kind_of_service == ServiceKind.ON.value and not outcome.payment_url:
        return Screen(
            Msg(
                "reg.pay_link_failed",
                {"order": Plain(outcome.order_code), "total": Money(outcome.total)},
            ),
            ((Button(Msg("btn.pay_again"), action="repay", arg=outcome.order_code),),),
            delivery=Delivery.EDIT,
            final=True,
        )
    if outcome.kind_of_service == ServiceKind.ON.value:
        return Screen(
            Msg(
                "reg.pay_link", {"order": Plain(outcome.order_code), "total": Money(outcome.total)}
            ),
            ((Button(Msg("btn.pay_vnptpay"), url=outcome.payment_url),),),
            delivery=Delivery.EDIT,
            qr=outcome.payment_url,
            final=True,
        )
    parts: list[Param] = [
        Msg(
            "reg.success_cash",
            {
                "subscription": Plain(outcome.subscription_code),
                "order": Plain(outcome.order_code),
                "total": Money(outcome.total),
            },
        )
    ]
    if outcome.cash_vat_warning:
        parts.append(Msg("reg.cash_vat_warning", {"limit": Money(5_000_000)}))
    return Screen(
        Join(tuple(parts)),
        ((Button(Msg("btn.manage_subscriptions"), action="subs"),),),
        delivery=Delivery.EDIT,
        final=True,
    )


def is_domain_error(exc: BaseException) -> bool:
    return isinstance(exc, DomainError)


__all__ = [
    "FLOW",
    "PICKED_BY_STAFF",
    "BusinessPicker",
    "EnterpriseRef",
    "RegistrationBackend",
    "RegistrationFlow",
    "Step",
    "Turn",
    "result_screen",
]
