"""The accounts flows' step tables: every step of each flow is declared, and the business
picker's buttons are actions the registration's business step hands on to it."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.accounts import (
    AccountAction,
    InviteFlow,
    InviteStep,
    SignUpStep,
    StartFlow,
)
from conversations.accounts.signup import SignUp
from conversations.registration import STEPS, Action, Step
from tests.unit.test_accounts_flow import FakeAccounts


def test_every_step_is_in_its_flows_table() -> None:
    backend: Any = FakeAccounts()
    assert set(StartFlow(backend).steps) == set(SignUpStep)
    assert set(InviteFlow(backend).steps) == set(InviteStep)


def test_the_registration_business_step_takes_the_pickers_buttons() -> None:
    picker_actions = {AccountAction.PICK_BUSINESS.value, AccountAction.NEW_BUSINESS.value}
    assert {a.value for a in STEPS[Step.BUSINESS].on} == picker_actions
    assert all(Action(a) for a in picker_actions)


@pytest.mark.parametrize(
    "raw",
    [
        {"s": "su_tax", "ph": "+84912345678"},
        {"s": "su_join", "ph": "+84912345678", "tx": "0100233488", "jb": 11, "jn": "An Bình"},
        {
            "s": "su_sum",
            "ph": "+84912345678",
            "tx": "0100233488",
            "nm": "Công ty An Bình",
            "ad": "57 Huỳnh Thúc Kháng",
            "em": "ketoan@anbinh.vn",
            "fx": 1,
        },
    ],
)
def test_a_stored_sign_up_draft_is_stored_back_unchanged(raw: dict[str, Any]) -> None:
    stored = dict(raw)
    SignUp.load(raw).store(stored)
    assert stored == raw
