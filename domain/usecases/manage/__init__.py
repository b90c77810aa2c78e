"""Managing subscriptions (**Quản lý thuê bao**): the list, the detail tabs and their actions.

Who may do what is decided here, whatever a conversation shows or a callback claims:

- **see** a subscription and every tab: staff (agents, admins) any; owners and members those
  of their own businesses;
- **employees** (ON): owners and staff add, deactivate and reactivate; a unit-priced plan
  (price × quantity) allows at most ``quantity`` active employees;
- **notes** (free text): owners and staff; **credit/debit memos** and their status: staff;
- **order progress** (OS): staff move it ordered → received → deploying → completed, or
  cancel it; the business owners are to be told (the result lists whom).

A subscription the actor may not see is refused exactly like one that does not exist
(:class:`PermissionDenied` both times), so ids cannot be probed. Every object id that comes
with a request (employee, memo, invoice) is checked to belong to the subscription.

Cost: every read loads the subscription together with the actor's rights in ONE query
(``subscriptions.get_for_user``), then the tab's data in one to three more (pages carry their
total in the same query). Nothing depends on how many subscriptions the business holds.
Every change commits once and records a history event with who and when.

The use cases are grouped in modules: :mod:`.listing` (the list, finding by code),
:mod:`.views` (the detail tabs), :mod:`.employees`, :mod:`.notes` (notes and memos) and
:mod:`.progress`; :mod:`.common` holds what they share (the rights, the authorization and the
history event). Everything is importable from here, as before.
"""

from domain.usecases.manage.common import (
    Rights,
    SubscriptionView,
    TabRequest,
    employee_limit,
)
from domain.usecases.manage.employees import (
    AddEmployee,
    AddEmployeeRequest,
    EmployeeChange,
    EmployeeLimitReached,
    EmployeesView,
    ListEmployees,
    SetEmployeeActive,
    SetEmployeeActiveRequest,
)
from domain.usecases.manage.listing import (
    FindSubscription,
    ListRequest,
    ListSubscriptions,
    SubscriptionList,
)
from domain.usecases.manage.notes import (
    MAX_MEMO_AMOUNT,
    MAX_TEXT,
    AddMemo,
    AddMemoRequest,
    AddNote,
    AddNoteRequest,
    ListMemos,
    MemoChange,
    MemosView,
    SetMemoStatus,
    SetMemoStatusRequest,
    parse_memo_amount,
    validate_memo_text,
)
from domain.usecases.manage.progress import (
    PROGRESS_TRACK,
    AdvanceProgress,
    AdvanceProgressRequest,
    ProgressChanged,
    Recipient,
    next_progress,
)
from domain.usecases.manage.views import (
    DetailsView,
    GetInvoice,
    GetPaymentMethod,
    GetSubscription,
    GetSubscriptionDetails,
    HistoryView,
    InvoiceRequest,
    InvoicesView,
    InvoiceView,
    ListHistory,
    ListInvoices,
    PaymentView,
)

__all__ = [
    "MAX_MEMO_AMOUNT",
    "MAX_TEXT",
    "PROGRESS_TRACK",
    "AddEmployee",
    "AddEmployeeRequest",
    "AddMemo",
    "AddMemoRequest",
    "AddNote",
    "AddNoteRequest",
    "AdvanceProgress",
    "AdvanceProgressRequest",
    "DetailsView",
    "EmployeeChange",
    "EmployeeLimitReached",
    "EmployeesView",
    "FindSubscription",
    "GetInvoice",
    "GetPaymentMethod",
    "GetSubscription",
    "GetSubscriptionDetails",
    "HistoryView",
    "InvoiceRequest",
    "InvoiceView",
    "InvoicesView",
    "ListEmployees",
    "ListHistory",
    "ListInvoices",
    "ListMemos",
    "ListRequest",
    "ListSubscriptions",
    "MemoChange",
    "MemosView",
    "PaymentView",
    "ProgressChanged",
    "Recipient",
    "Rights",
    "SetEmployeeActive",
    "SetEmployeeActiveRequest",
    "SetMemoStatus",
    "SetMemoStatusRequest",
    "SubscriptionList",
    "SubscriptionView",
    "TabRequest",
    "employee_limit",
    "next_progress",
    "parse_memo_amount",
    "validate_memo_text",
]
