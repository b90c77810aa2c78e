"""The period-end order of tests/unit/test_period_end_order.py on SQLite and PostgreSQL (the
scheduled change, the renewal order and the expiry under the subscription's row lock)."""

from tests.integration.test_change_usecases import w
from tests.unit.test_period_end_order import (
    test_a_renewal_paid_in_the_grace_after_the_downgrade_takes_its_plan_at_once,
    test_a_renewal_while_a_downgrade_waits_is_for_the_downgrade_and_starts_at_the_end,
    test_a_scheduled_change_of_cycle_length_does_not_give_a_free_period,
    test_without_grace_the_downgrade_applies_before_the_expiry_on_the_boundary,
)

__all__ = [
    "test_a_renewal_paid_in_the_grace_after_the_downgrade_takes_its_plan_at_once",
    "test_a_renewal_while_a_downgrade_waits_is_for_the_downgrade_and_starts_at_the_end",
    "test_a_scheduled_change_of_cycle_length_does_not_give_a_free_period",
    "test_without_grace_the_downgrade_applies_before_the_expiry_on_the_boundary",
    "w",
]
