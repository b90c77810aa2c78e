"""The state of **Quản lý thuê bao**: its steps, tabs, prompts, the actions its buttons carry,
and the typed draft.

The draft is stored as JSON with short keys (the same as before the flow
was split into modules, so a stored draft loads unchanged). Only ``f: ""`` (the "all" filter,
written by older code) is not written back: it means the same as no filter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from domain.model import MemoKind, SubscriptionStatus

FLOW: Final = "manage"
#: the entry action of the payments flow's cash confirmation (arg: the subscription code)
CASH_ENTRY: Final = "cash"
#: the entry action that opens this flow (arg: "", a tax code or a subscription code)
ENTRY: Final = "subs"

LIST_PAGE: Final = 8
EMPLOYEE_PAGE: Final = 8
MEMO_PAGE: Final = 5
INVOICE_PAGE: Final = 6
HISTORY_PAGE: Final = 10


class Step(enum.StrEnum):
    LIST = "mlist"
    FILTER = "mfilter"
    DETAIL = "mdet"
    FORM = "mform"  # a text prompt; ``ManageDraft.prompt`` names the field
    CHANGE = "mchg"  # Đổi gói: choosing the plan, cycle, quantity and add-ons
    CHANGE_PREVIEW = "mchgp"  # Đổi gói: the cost, then Xác nhận
    CHANGE_DONE = "mchgd"  # Đổi gói / Thanh toán (trial): the outcome (a payment link)


class Tab(enum.StrEnum):
    OVERVIEW = "ov"
    EMPLOYEES = "emp"
    DETAILS = "det"
    MEMOS = "memo"
    PAYMENT = "pay"
    INVOICES = "inv"
    HISTORY = "hist"
    PROGRESS = "prog"


class Field(enum.StrEnum):
    EMP_NAME = "emp.name"
    EMP_EMAIL = "emp.email"
    EMP_PHONE = "emp.phone"
    NOTE = "note"
    MEMO_AMOUNT = "memo.amount"
    MEMO_REASON = "memo.reason"


class Action(enum.StrEnum):
    """What a button of this flow asks for; ids travel in the button's ``arg`` as hints that
    the use cases re-check."""

    BACK = "back"
    OPEN = "open"
    PAGE = "page"
    FILTER = "filter"
    SET_FILTER = "f"
    TAB = "tab"
    TAB_PAGE = "tpage"
    TO_LIST = "list"
    EMPLOYEE_ADD = "emp_add"
    EMPLOYEE_ON = "emp_on"
    EMPLOYEE_OFF = "emp_off"
    NOTE_ADD = "note_add"
    CREDIT_ADD = "credit_add"
    DEBIT_ADD = "debit_add"
    MEMO_APPLY = "memo_apply"
    MEMO_CANCEL = "memo_cancel"
    INVOICE_OPEN = "inv_open"
    INVOICE_BACK = "inv_back"
    INVOICE_PAY = "inv_pay"
    PROGRESS = "prog"
    SKIP = "skip"
    CHANGE = "chg"  # Đổi gói (arg: the subscription id, a hint)
    CHANGE_PLAN = "chg_plan"  # arg: a plan code
    CHANGE_CYCLE = "chg_cycle"  # arg: a cycle code
    CHANGE_QTY = "chg_qty"  # arg: "+1" or "-1"
    CHANGE_ADDON = "chg_addon"  # arg: an add-on code (toggled)
    CHANGE_PREVIEW = "chg_prev"
    CHANGE_CONFIRM = "chg_ok"
    CHANGE_BACK = "chg_back"  # back to the subscription
    TRIAL_PAY = "trial_pay"  # Thanh toán on a trial


@dataclass
class FormValues:
    """What the user typed so far in a multi-prompt form (``fv``)."""

    name: str | None = None
    email: str | None = None
    amount: int | None = None

    @classmethod
    def load(cls, raw: object) -> FormValues | None:
        if not isinstance(raw, dict):
            return None
        amount = raw.get("amount")
        return cls(
            name=_opt_str(raw.get("name")),
            email=_opt_str(raw.get("email")),
            amount=int(amount) if isinstance(amount, int | str) and str(amount) else None,
        )

    def dump(self) -> dict[str, Any]:
        values = {"name": self.name, "email": self.email, "amount": self.amount}
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class ChangeDraft:
    """The change being prepared (``chg``): the target, the key of its Xác nhận, the preview the
    user saw (amount and settlement, checked again at Xác nhận) and the outcome shown."""

    plan: str = ""
    cycle: str = ""
    quantity: int = 1
    addons: tuple[str, ...] = ()
    key: str = ""
    amount: int | None = None
    settlement: str = ""
    outcome: str = ""
    url: str = ""
    order: str = ""

    @classmethod
    def load(cls, raw: object) -> ChangeDraft | None:
        if not isinstance(raw, dict):
            return None
        addons = raw.get("a")
        amount = raw.get("m")
        return cls(
            plan=str(raw.get("p", "")),
            cycle=str(raw.get("c", "")),
            quantity=int(raw.get("q", 1) or 1),
            addons=tuple(str(a) for a in addons) if isinstance(addons, list) else (),
            key=str(raw.get("k", "")),
            amount=int(amount) if isinstance(amount, int) else None,
            settlement=str(raw.get("st", "")),
            outcome=str(raw.get("o", "")),
            url=str(raw.get("u", "")),
            order=str(raw.get("od", "")),
        )

    def dump(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "p": self.plan,
            "c": self.cycle,
            "q": self.quantity,
            "a": list(self.addons),
            "k": self.key,
            "m": self.amount,
            "st": self.settlement,
            "o": self.outcome,
            "u": self.url,
            "od": self.order,
        }
        return {k: v for k, v in values.items() if v not in (None, "", [])}


@dataclass
class ManageDraft:
    """Ids, offsets and the step only: every id is a hint the use cases re-check."""

    step: Step = Step.LIST
    #: the business picked by tax code (staff, or an owner of several)
    business: int | None = None
    status_filter: SubscriptionStatus | None = None
    #: the list's offset
    offset: int | None = None
    #: the open subscription, its tab and the tab's offset
    subscription: int | None = None
    tab: Tab | None = None
    tab_offset: int | None = None
    #: the open invoice, and whether its PDF is sent with the next draw
    invoice: int | None = None
    send_pdf: bool = False
    prompt: Field | None = None
    values: FormValues | None = None
    memo_kind: MemoKind | None = None
    #: wrong typed answers in a row
    failures: int = 0
    #: Đổi gói being prepared
    change: ChangeDraft | None = None

    @classmethod
    def load(cls, raw: dict[str, Any]) -> ManageDraft:
        f, tab, fk, mk = raw.get("f"), raw.get("tab"), raw.get("fk"), raw.get("mk")
        return cls(
            step=Step(raw.get("s", Step.LIST)),
            business=_opt_int(raw.get("e")) or None,
            status_filter=SubscriptionStatus(f) if f else None,
            offset=_opt_int(raw.get("o")),
            subscription=_opt_int(raw.get("sid")),
            tab=Tab(tab) if tab else None,
            tab_offset=_opt_int(raw.get("to")),
            invoice=_opt_int(raw.get("inv")) or None,
            send_pdf=bool(raw.get("pdf")),
            prompt=Field(fk) if fk else None,
            values=FormValues.load(raw.get("fv")),
            memo_kind=MemoKind(mk) if mk else None,
            failures=int(raw.get("fx", 0) or 0),
            change=ChangeDraft.load(raw.get("chg")),
        )

    def dump(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "s": self.step.value,
            "e": self.business,
            "f": self.status_filter.value if self.status_filter else None,
            "o": self.offset,
            "sid": self.subscription,
            "tab": self.tab.value if self.tab else None,
            "to": self.tab_offset,
            "inv": self.invoice,
            "pdf": 1 if self.send_pdf else None,
            "fk": self.prompt.value if self.prompt else None,
            "fv": self.values.dump() if self.values is not None else None,
            "mk": self.memo_kind.value if self.memo_kind else None,
            "fx": self.failures or None,
            "chg": self.change.dump() if self.change is not None else None,
        }
        return {k: v for k, v in values.items() if v is not None}

    def save(self, raw: dict[str, Any]) -> None:
        """Write the draft into the session's dict (the same object: the engine saves it)."""
        raw.clear()
        raw.update(self.dump())


def _opt_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value))


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
