"""The registration (checkout) conversation: the seed's steps 2–9 as a state machine.

catalog → service → Bảng giá (plans) → cycle (→ quantity) → Đăng ký → [business] →
Bước 1/2: plan promotion → add-ons → a promotion per ticked add-on → invoice promotion →
summary → Bước 2/2: invoice info → customer info → contact name, phone, e-mail →
final summary (edit any section, terms) → Thanh toán → Xác nhận.

One module per screen group (:mod:`.catalog`, :mod:`.promotions`, :mod:`.details`,
:mod:`.final`), each declaring its steps in a table; :mod:`.flow` joins the tables. The draft
(:mod:`.draft`) holds ids and choices only, never catalog rows. Every screen is computed from
the draft and the in-memory catalog; nothing here does I/O except through
:class:`RegistrationServices` (the use cases, each through a small role).
"""

from conversations.registration.context import BusinessPicker
from conversations.registration.draft import FLOW, PICKED_BY_STAFF, Action, RegDraft, Step
from conversations.registration.final import result_screen
from conversations.registration.flow import STEPS, RegistrationFlow
from conversations.turn import RegistrationBackend, RegistrationServices, Turn

__all__ = [
    "FLOW",
    "PICKED_BY_STAFF",
    "STEPS",
    "Action",
    "BusinessPicker",
    "RegDraft",
    "RegistrationBackend",
    "RegistrationFlow",
    "RegistrationServices",
    "Step",
    "Turn",
    "result_screen",
]
