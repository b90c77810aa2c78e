"""The registration's state: its steps, the actions its buttons carry, and the typed draft.

The draft is stored as JSON with short keys (the stored session stays well under 1 KB); the
key of every field is in :data:`_KEYS`. The serialised form is the one the flow has always
stored, so a draft saved before a deploy loads unchanged. Keys that belong to a sub-step (the
staff's business picker keeps ``bz``/``bq``/``bn``) are carried through untouched.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

FLOW: Final = "reg"


class Step(enum.StrEnum):
    """The steps, by the value stored in the draft (``s``) and used by ``help.step.<value>``."""

    CATALOG = "cat"
    SERVICE = "svc"
    PLANS = "plans"
    CYCLES = "cyc"
    QUANTITY = "qty"
    REGISTER = "reg"
    ENTERPRISE = "ent"
    BUSINESS = "biz"  # staff: find or create the business to register for (a BusinessPicker)
    PLAN_PROMO = "pp"
    ADDONS = "ad"
    ADDON_PROMO = "ap"
    INVOICE_PROMO = "ip"
    STEP1_SUMMARY = "s1"
    INVOICE_INFO = "inv"
    CUSTOMER_INFO = "cus"
    FIELD = "fld"  # a text prompt for one field of a section (``RegDraft.prompt`` names it)
    CONTACT_NAME = "ctn"
    CONTACT_PHONE = "ctp"
    CONTACT_EMAIL = "cte"
    FINAL = "fin"
    TERMS = "terms"
    CONFIRM = "conf"


class Action(enum.StrEnum):
    """What a button of this flow asks for (the callback data's action; ``arg`` says which)."""

    BACK = "back"
    SERVICE = "svc"
    PRICING = "pricing"
    PLAN = "plan"
    CYCLE = "cyc"
    QUANTITY = "qty"
    REGISTER = "register"
    ENTERPRISE = "ent"
    PICK_BUSINESS = "bz"  # the business picker's buttons, handed to it as they come
    NEW_BUSINESS = "bnew"
    PLAN_PROMO = "pp"
    TOGGLE_ADDON = "tog"
    DONE = "done"
    ADDON_PROMO = "ap"
    INVOICE_PROMO = "ip"
    #: **Nhập mã khuyến mại** at a promotion step (arg ``""`` opens the prompt, ``off`` closes it)
    COUPON = "cpn"
    NEXT = "next"
    EDIT = "edit"
    KEEP = "keep"
    EDIT_SECTION = "ed"
    TERMS = "terms"
    AGREE = "agree"
    PAY = "pay"
    CONFIRM = "confirm"
    TRIAL = "trial"  # Dùng thử at Đăng ký (plans with trial_days)


class Section(enum.StrEnum):
    """What the final summary's edit buttons reopen (the ``arg`` of :attr:`Action.EDIT_SECTION`)."""

    PLAN = "plan"
    PROMOTIONS = "promo"
    INVOICE = "inv"
    CUSTOMER = "cus"
    CONTACT = "ct"


class Field(enum.StrEnum):
    """An editable field of a Bước 2/2 section: ``<section>.<name>``."""

    INV_NAME = "inv.name"
    INV_TAX = "inv.tax"
    INV_ADDR = "inv.addr"
    INV_EMAIL = "inv.email"
    CUS_NAME = "cus.name"
    CUS_ADDR = "cus.addr"
    CUS_PHONE = "cus.phone"
    CUS_EMAIL = "cus.email"

    @property
    def section(self) -> str:
        return self.value.split(".")[0]

    @property
    def name_in_section(self) -> str:
        return self.value.split(".")[1]

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of this one's section, in prompt order."""
        return INVOICE_FIELDS if self.section == "inv" else CUSTOMER_FIELDS


INVOICE_FIELDS: Final = (Field.INV_NAME, Field.INV_TAX, Field.INV_ADDR, Field.INV_EMAIL)
CUSTOMER_FIELDS: Final = (Field.CUS_NAME, Field.CUS_ADDR, Field.CUS_PHONE, Field.CUS_EMAIL)


class Pick(enum.IntEnum):
    """How the business was chosen (stored as ``pick``)."""

    OWN = 1  # the user chose among the businesses they own
    STAFF = 2  # a staff member found or created it through the BusinessPicker


#: ``pick`` when staff chose the business through the BusinessPicker
PICKED_BY_STAFF: Final = int(Pick.STAFF)
#: the stored value of ``ret``: an edit from the final summary returns there
_RETURN_TO_FINAL: Final = Step.FINAL.value


@dataclass
class RegDraft:
    """Ids and choices only (codes, values the user typed), never catalog rows. ``None`` is
    "not asked yet" and is not stored; an empty promotion code is "Không áp dụng"."""

    step: Step = Step.CATALOG
    service: str = ""
    plan: str = ""
    cycle: str = ""
    quantity: int | None = None
    business: int | None = None
    picked: Pick | None = None
    plan_promo: str | None = None
    addons: list[str] | None = None
    addon_promos: dict[str, str] | None = None
    #: the index in ``addons`` of the add-on whose promotion is being asked
    addon_index: int | None = None
    invoice_promo: str | None = None
    #: values typed over the business's stored details: name, tax, addr, email (invoice);
    #: name, addr, phone, email (customer); and the contact's name, phone, email
    invoice: dict[str, str] | None = None
    customer: dict[str, str] | None = None
    contact: dict[str, str] | None = None
    #: the field being asked at Step.FIELD
    prompt: Field | None = None
    return_to_final: bool = False
    agreed: bool | None = None
    idempotency_key: str | None = None
    total: int | None = None
    #: why the last confirmation was refused: (refusal reason, promotion code)
    price_changed: tuple[str, str] | None = None
    #: wrong typed answers in a row at this step
    failures: int = 0
    #: the promotion step asks for a typed coupon code
    coupon_prompt: bool = False
    #: keys of a sub-step (the business picker's), kept as they are
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def qty(self) -> int:
        return self.quantity if self.quantity is not None else 1

    @property
    def ticked(self) -> list[str]:
        return list(self.addons or [])

    @classmethod
    def load(cls, raw: dict[str, Any]) -> RegDraft:
        """The typed draft of the stored dict. Only the keys present are read (a key absent
        leaves the field's default, which is what reading it as absent gave); keys that are not
        the draft's go to :attr:`other`, in their order."""
        draft = cls()
        other = draft.other
        for key, value in raw.items():
            read = _READERS.get(key)
            if read is None:
                other[key] = value
            else:
                read(draft, value)
        return draft

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"s": self.step.value}
        values: dict[str, Any] = {
            "sv": self.service or None,
            "pl": self.plan or None,
            "cy": self.cycle or None,
            "q": self.quantity,
            "e": self.business,
            "pick": int(self.picked) if self.picked else None,
            "pp": self.plan_promo,
            "ad": self.addons,
            "ap": self.addon_promos,
            "ai": self.addon_index,
            "ip": self.invoice_promo,
            "inv": self.invoice,
            "cus": self.customer,
            "ct": self.contact,
            "fk": self.prompt.value if self.prompt else None,
            "ret": _RETURN_TO_FINAL if self.return_to_final else None,
            "tm": self.agreed,
            "ik": self.idempotency_key,
            "tot": self.total,
            "pc": list(self.price_changed) if self.price_changed else None,
            "fx": self.failures or None,
            "cpn": 1 if self.coupon_prompt else None,
        }
        out.update((k, v) for k, v in values.items() if v is not None)
        out.update(self.other)
        return out

    def save(self, raw: dict[str, Any]) -> None:
        """Write the draft into the session's dict (the same object: the engine saves it)."""
        raw.clear()
        raw.update(self.dump())


_KEYS: Final = frozenset(
    {
        "s",
        "sv",
        "pl",
        "cy",
        "q",
        "e",
        "pick",
        "pp",
        "ad",
        "ap",
        "ai",
        "ip",
        "inv",
        "cus",
        "ct",
        "fk",
        "ret",
        "tm",
        "ik",
        "tot",
        "pc",
        "fx",
        "cpn",
    }
)


_FIELD_KEYS: Final = frozenset(f.value for f in Field)


def _opt_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value))


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_section(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items()}


def _step(value: Any) -> Step:
    found = _STEPS.get(value) if type(value) is str else None
    return found if found is not None else Step(value)


_STEPS: Final[dict[object, Step]] = {step.value: step for step in Step}


def _price_changed(value: object) -> tuple[str, str] | None:
    if isinstance(value, list) and len(value) == 2:
        return (str(value[0]), str(value[1]))
    return None


def _set(name: str, read: Callable[[Any], Any]) -> Callable[[RegDraft, Any], None]:
    def reader(draft: RegDraft, value: Any) -> None:
        setattr(draft, name, read(value))

    return reader


#: how each stored key is read into its field (what ``load`` did for every key, present or not)
_READERS: Final[dict[str, Callable[[RegDraft, Any], None]]] = {
    "s": _set("step", _step),
    "sv": _set("service", str),
    "pl": _set("plan", str),
    "cy": _set("cycle", str),
    "q": _set("quantity", _opt_int),
    "e": _set("business", lambda v: _opt_int(v) or None),
    "pick": _set("picked", lambda v: Pick(int(v)) if v else None),
    "pp": _set("plan_promo", _opt_str),
    "ad": _set("addons", lambda v: [str(a) for a in v]),
    "ap": _set("addon_promos", lambda v: {str(a): str(p) for a, p in v.items()}),
    "ai": _set("addon_index", _opt_int),
    "ip": _set("invoice_promo", _opt_str),
    "inv": _set("invoice", _opt_section),
    "cus": _set("customer", _opt_section),
    "ct": _set("contact", _opt_section),
    "fk": _set("prompt", lambda v: Field(str(v)) if v in _FIELD_KEYS else None),
    "ret": _set("return_to_final", lambda v: v == _RETURN_TO_FINAL),
    "tm": _set("agreed", bool),
    "ik": _set("idempotency_key", _opt_str),
    "tot": _set("total", _opt_int),
    "pc": _set("price_changed", _price_changed),
    "fx": _set("failures", lambda v: int(v or 0)),
    "cpn": _set("coupon_prompt", bool),
}
