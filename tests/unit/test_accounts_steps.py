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
from conversations.accounts.draft import InviteDraft, NewBusiness, PickerDraft, PickStep
from conversations.accounts.signup import SignUp
from conversations.registration import STEPS, Action, Step
from tests.unit.test_accounts_flow import FakeAccounts


def test_every_step_is_in_its_flows_table() -> None:
    services = FakeAccounts().services()
    assert set(StartFlow(services).steps) == set(SignUpStep)
    assert set(InviteFlow(services).steps) == set(InviteStep)


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


@pytest.mark.parametrize(
    "raw",
    [
        {"s": "iv_biz", "bz": "q"},
        {"s": "iv_biz", "bz": "q", "bq": "bình minh", "fx": 2},
        {"s": "iv_biz", "bz": "nn", "bq": "0100233488", "bn": {"tax": "0100233488"}},
        {"s": "iv_biz", "bz": "nt", "bn": {}},
        {
            "s": "iv_biz",
            "bz": "ne",
            "bn": {"tax": "3500748818", "name": "Sáng Sớm", "addr": "1 Lê Lợi"},
        },
        {"s": "iv_role", "e": 8},
        {"s": "iv_pick"},
        {"s": "iv_who", "e": 7, "r": "member"},
    ],
)
def test_a_stored_invite_draft_is_stored_back_unchanged(raw: dict[str, Any]) -> None:
    stored = dict(raw)
    InviteDraft.load(raw).store(stored)
    PickerDraft.load(raw).store(stored)
    assert stored == raw


def test_the_picker_keeps_its_hosts_other_keys() -> None:
    """In the registration's draft the picker reads and writes only ``bz``/``bq``/``bn``."""
    raw: dict[str, Any] = {"s": "biz", "sv": "SMARTCA", "pick": 2, "bz": "na", "bn": {"tax": "1"}}
    d = PickerDraft.load(raw)
    assert (d.step, d.query, d.new) == (PickStep.ADDRESS, "", NewBusiness(tax_code="1"))
    PickerDraft().store(raw)
    assert raw == {"s": "biz", "sv": "SMARTCA", "pick": 2}
