"""**Gia hạn**, **Hủy gia hạn**, **Tiếp tục gia hạn** and the cancellation by staff, as one
flow started by the entry button ``renew`` (it works on any message: the reminder, the
subscription's **Chi tiết** tab); the button's arg names the subscription and what to do:

- ``TB-…``: **Gia hạn**: the plan's cycles at today's prices → a summary (the quote, the new
  period, the renewal promotions to tick) → **Xác nhận**: the VNPT Pay link (ON) or the
  order waiting for cash (OS).
- ``end.TB-…``: **Hủy gia hạn**, after a confirmation; ``resume.TB-…``: **Tiếp tục gia hạn**
  at once; ``cancel.TB-…`` (staff): asks the reason, then ends the subscription at once.

Entry args can be forged and buttons can be stale: the use cases behind
:class:`RenewalBackend` re-check who acts and what the status allows; a refusal is said, never
acted on. The draft holds the subscription's id and code, the chosen cycle and promotions, the
total shown and the idempotency key of **Xác nhận** only.
"""

from conversations.renewal.flow import (
    FLOW,
    RENEW_ACTION,
    RenewalBackend,
    RenewalFlow,
    ended_notice,
    reminder_notice,
    staff_cancelled_notice,
)

__all__ = [
    "FLOW",
    "RENEW_ACTION",
    "RenewalBackend",
    "RenewalFlow",
    "ended_notice",
    "reminder_notice",
    "staff_cancelled_notice",
]
