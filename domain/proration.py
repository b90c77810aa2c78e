"""Changing a subscription mid-period: what the change costs or credits (``docs/proration.md``).

Pure functions, no I/O. The rule, in short:

* **Days** are Vietnam calendar days (Asia/Ho_Chi_Minh). The period holds
  ``total = end_date − start_date`` days; the change date counts as a day of the NEW
  configuration, so ``remaining = end_date − change_date`` days (between 0 and ``total``).
* **Lines** are priced at the catalog's list prices (no promotions): the plan line by its
  pricing strategy (:func:`domain.pricing.line_base_amount`) and each periodic add-on
  (:func:`domain.pricing.addon_base_amount`). Setup fees are never charged again and once
  add-ons already held are never charged again nor credited.
* **Credit**: each line of the current configuration, ``full × remaining / total`` rounded
  half-up to whole đồng.
* **Charge**, same cycle length: each line of the new configuration pro rata the same way;
  a once add-on that is new is charged in full. **Cycle length changed**: a new period starts
  on the change date, every new line is charged in full (no proration), and the credit of the
  old period is still given.
* **Settlement**: the larger side's lines make an invoice; the smaller side's total is an
  invoice-level deduction spread over them pro rata exactly like an invoice promotion
  (:func:`domain.pricing` step 4), then VAT per tax-rate group on the net amounts, rounded
  half-up. Charge ≥ credit: the owner pays that invoice's total; otherwise that total is the
  credit memo's amount.
* **Downgrade**: the new configuration costs less per day (30/360 convention for comparing
  lengths). If the current plan says ``downgrade: at_period_end`` the change is only scheduled:
  nothing is paid or credited now and it takes effect when the period ends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from domain.billing import DAYS_30_360
from domain.catalog import (
    AddonType,
    BillingCycle,
    Catalog,
    DowngradePolicy,
    Plan,
    Service,
    TaxCategory,
)
from domain.constants import VN_TZ
from domain.errors import InvalidInput, NotFound
from domain.pricing import (
    InvoiceDiscount,
    LineKind,
    Quote,
    QuoteLine,
    addon_base_amount,
    line_base_amount,
)
from domain.pricing.model import _round_ratio
from domain.pricing.quoting import _spread, _vat_groups

#: the code of the invoice-level deduction that carries the credit for the unused part
CREDIT_CODE = "CREDIT"
#: the code of the deduction on a credit settlement: the charge for the new configuration
CHARGE_CODE = "CHARGE"


@dataclass(frozen=True, slots=True)
class Configuration:
    """What a subscription holds (or would hold): plan, cycle, quantity and add-ons."""

    plan_code: str
    cycle_code: str
    quantity: int = 1
    addon_codes: tuple[str, ...] = ()


class Settlement(enum.StrEnum):
    PAY = "pay"  # the owner pays ``amount``
    CREDIT = "credit"  # ``amount`` is recorded as a credit memo
    NONE = "none"  # nothing to pay or credit
    AT_PERIOD_END = "at_period_end"  # scheduled; nothing now


@dataclass(frozen=True, slots=True)
class ProratedLine:
    kind: LineKind
    code: str
    name: str
    tax: TaxCategory
    quantity: int
    unit_price: int
    full_amount: int  # the line for a whole period
    amount: int  # the part counted (pro rata, or the whole amount)


@dataclass(frozen=True, slots=True)
class ChangeQuote:
    """The price of a change. ``quote`` is the settlement invoice (``None`` when scheduled)."""

    settlement: Settlement
    days_total: int
    days_remaining: int
    new_period: bool  # the cycle length changes: a new period starts on the change date
    downgrade: bool
    credit_lines: tuple[ProratedLine, ...]
    charge_lines: tuple[ProratedLine, ...]
    quote: Quote | None

    @property
    def credit_net(self) -> int:
        return sum(line.amount for line in self.credit_lines)

    @property
    def charge_net(self) -> int:
        return sum(line.amount for line in self.charge_lines)

    @property
    def amount(self) -> int:
        """What is paid (PAY) or credited (CREDIT), VAT included; 0 otherwise."""
        if self.quote is None or self.settlement in (Settlement.NONE, Settlement.AT_PERIOD_END):
            return 0
        return self.quote.total


def vn_days(start: datetime, end: datetime, at: datetime) -> tuple[int, int]:
    """``(total, remaining)`` whole Vietnam days of the period ``[start, end)`` at ``at``.

    ``total`` = end date − start date (at least 1); ``remaining`` = end date − the date of
    ``at``, kept within ``[0, total]``: the change day itself is a remaining day.
    """
    start_d = start.astimezone(VN_TZ).date()
    end_d = end.astimezone(VN_TZ).date()
    at_d = at.astimezone(VN_TZ).date()
    total = max((end_d - start_d).days, 1)
    remaining = min(max((end_d - at_d).days, 0), total)
    return total, remaining


def _find(
    catalog: Catalog, service_code: str, config: Configuration
) -> tuple[Service, Plan, BillingCycle]:
    service = catalog.service(service_code)
    if service is None:
        raise NotFound(field="service_code", code=service_code, reason="unknown")
    plan = service.plan(config.plan_code)
    if plan is None:
        raise NotFound(field="plan_code", code=config.plan_code, reason="unknown")
    cycle = plan.cycle(config.cycle_code)
    if cycle is None:
        raise NotFound(field="cycle_code", code=config.cycle_code, reason="unknown")
    return service, plan, cycle


def full_lines(
    catalog: Catalog, service_code: str, config: Configuration
) -> tuple[ProratedLine, ...]:
    """The lines of ``config`` for one whole period, at list prices: the plan, then each
    add-on in the order given (once add-ons included; setup fees never)."""
    service, plan, cycle = _find(catalog, service_code, config)
    unit_price = cycle.price
    base = line_base_amount(plan, cycle, config.quantity)
    lines = [
        ProratedLine(
            LineKind.PLAN, plan.code, plan.name, plan.tax, config.quantity, unit_price, base, base
        )
    ]
    for code in config.addon_codes:
        addon = service.addon(code)
        if addon is None:
            raise NotFound(field="addon_codes", code=code, reason="unknown")
        amount = addon_base_amount(addon, cycle)
        lines.append(
            ProratedLine(
                LineKind.ADDON, addon.code, addon.name, addon.tax, 1, addon.price, amount, amount
            )
        )
    return tuple(lines)


def _is_once(catalog: Catalog, service_code: str, line: ProratedLine) -> bool:
    if line.kind is not LineKind.ADDON:
        return False
    service = catalog.service(service_code)
    addon = service.addon(line.code) if service is not None else None
    return addon is not None and addon.type is AddonType.ONCE


def _pro_rata(line: ProratedLine, remaining: int, total: int) -> ProratedLine:
    amount = _round_ratio(line.full_amount * remaining, total)
    return ProratedLine(
        line.kind,
        line.code,
        line.name,
        line.tax,
        line.quantity,
        line.unit_price,
        line.full_amount,
        amount,
    )


def _cycle_days(cycle: BillingCycle) -> int:
    return cycle.every * DAYS_30_360[cycle.unit]


def _settle(lines: tuple[ProratedLine, ...], deduction: int, code: str) -> Quote:
    amounts = [line.amount for line in lines]
    nets = _spread(amounts, sum(amounts) - deduction)
    quote_lines = tuple(
        QuoteLine(
            kind=line.kind,
            code=line.code,
            name=line.name,
            tax=line.tax,
            quantity=line.quantity,
            unit_price=line.unit_price,
            base_amount=line.amount,
            promotion_code=None,
            line_discount=0,
            invoice_discount=line.amount - net,
            net_amount=net,
        )
        for line, net in zip(lines, nets, strict=True)
    )
    discounts = (InvoiceDiscount(code, deduction),) if deduction else ()
    return Quote(
        lines=quote_lines,
        invoice_discounts=discounts,
        vat_groups=_vat_groups([(line.tax, line.net_amount) for line in quote_lines]),
    )


def prorate_change(
    catalog: Catalog,
    service_code: str,
    current: Configuration,
    new: Configuration,
    *,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> ChangeQuote:
    """The price of changing ``current`` into ``new`` at ``at`` (see the module doc).

    Raises ``NotFound`` for a code missing from the catalog, ``InvalidInput`` for a quantity
    the plan does not accept (``line_base_amount``) or ``field="change", reason="same"`` when
    nothing changes.
    """
    if new == current or (
        new.plan_code == current.plan_code
        and new.cycle_code == current.cycle_code
        and new.quantity == current.quantity
        and sorted(new.addon_codes) == sorted(current.addon_codes)
    ):
        raise InvalidInput(field="change", reason="same")
    if len(set(new.addon_codes)) != len(new.addon_codes):
        raise InvalidInput(field="addon_codes", reason="duplicate")
    _, old_plan, old_cycle = _find(catalog, service_code, current)
    _, new_plan, new_cycle = _find(catalog, service_code, new)
    for code in new.addon_codes:
        if code not in new_plan.addons:
            raise InvalidInput(field="addon_codes", reason="not_allowed", code=code)
    total, remaining = vn_days(period_start, period_end, at)
    new_period = _cycle_days(old_cycle) != _cycle_days(new_cycle)

    old_full = full_lines(catalog, service_code, current)
    new_full = full_lines(catalog, service_code, new)
    old_recurring = [line for line in old_full if not _is_once(catalog, service_code, line)]
    credit = tuple(_pro_rata(line, remaining, total) for line in old_recurring)
    held = set(current.addon_codes)
    charge_list: list[ProratedLine] = []
    for line in new_full:
        if _is_once(catalog, service_code, line):
            if line.code not in held:
                charge_list.append(line)  # a new one-off: in full
        elif new_period:
            charge_list.append(line)
        else:
            charge_list.append(_pro_rata(line, remaining, total))
    charge = tuple(charge_list)

    old_value = sum(line.full_amount for line in old_recurring)
    new_value = sum(
        line.full_amount for line in new_full if not _is_once(catalog, service_code, line)
    )
    # per day, lengths compared under 30/360: new/new_days < old/old_days
    downgrade = new_value * _cycle_days(old_cycle) < old_value * _cycle_days(new_cycle)
    if downgrade and old_plan.downgrade is DowngradePolicy.AT_PERIOD_END:
        return ChangeQuote(
            Settlement.AT_PERIOD_END, total, remaining, new_period, True, credit, charge, None
        )
    credit_net = sum(line.amount for line in credit)
    charge_net = sum(line.amount for line in charge)
    if charge_net >= credit_net:
        quote = _settle(charge, credit_net, CREDIT_CODE)
        settlement = Settlement.PAY if quote.total > 0 else Settlement.NONE
    else:
        quote = _settle(credit, charge_net, CHARGE_CODE)
        settlement = Settlement.CREDIT if quote.total > 0 else Settlement.NONE
    return ChangeQuote(settlement, total, remaining, new_period, downgrade, credit, charge, quote)
