"""**Quản lý thuê bao**: the subscription list and one subscription's tabs, as a state machine.

list (paged newest first, status filter; staff type a tax code to reach any business) →
detail (header: code, service, plan, cycle, status, period) with tab buttons that redraw the
SAME message: **Danh sách nhân viên**, **Chi tiết**, **Ghi nhớ**, **Phương thức thanh toán**,
**Hóa đơn**, **Lịch sử**, and **Tiến trình** for OS orders. Adding an employee, a note or a
memo asks one field per text prompt, each validated on arrival.

Modules: :mod:`.listing` (the list and its filter), :mod:`.detail` (the header, the tab
buttons and what they change), :mod:`.tabs` and :mod:`.records` (what each tab shows),
:mod:`.forms` (the text prompts); each declares its steps in a table that :mod:`.flow` joins.

The draft (:mod:`.draft`) holds ids, offsets and the step only. Buttons carry ids
(subscription, employee, memo, invoice) as hints: the use cases behind :class:`ManageBackend`
re-check every one against the presser's rights, so a forged or stale id is refused, never
acted on. What a screen offers follows the rights the backend returned with the data (a member
sees the same tabs without the buttons that change anything).

Every list and tab is paged so one message stays well under Telegram's 4096 characters
(notes are at most 500 characters, five to a page).
"""

from conversations.manage.context import ManageBackend
from conversations.manage.detail import progress_notice
from conversations.manage.draft import (
    CASH_ENTRY,
    EMPLOYEE_PAGE,
    ENTRY,
    FLOW,
    HISTORY_PAGE,
    INVOICE_PAGE,
    LIST_PAGE,
    MEMO_PAGE,
    Action,
    ManageDraft,
    Step,
    Tab,
)
from conversations.manage.flow import STEPS, ManageFlow
from conversations.manage.records import KNOWN_EVENTS, event_text

__all__ = [
    "CASH_ENTRY",
    "EMPLOYEE_PAGE",
    "ENTRY",
    "FLOW",
    "HISTORY_PAGE",
    "INVOICE_PAGE",
    "KNOWN_EVENTS",
    "LIST_PAGE",
    "MEMO_PAGE",
    "STEPS",
    "Action",
    "ManageBackend",
    "ManageDraft",
    "ManageFlow",
    "Step",
    "Tab",
    "event_text",
    "progress_notice",
]
