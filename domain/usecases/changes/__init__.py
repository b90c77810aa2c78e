"""**Đổi gói** (plan, cycle, quantity, add-ons) and **Dùng thử** (trials) of a subscription;
the rule is ``docs/proration.md`` and :mod:`domain.proration`.

Modules: :mod:`.change` (preview and confirm), :mod:`.apply` (applying a change now, when its
CHANGE order is paid, or at the period end) and :mod:`.trials` (starting a trial, paying it,
the reminder and the end); :mod:`.common` holds what they share.
"""
