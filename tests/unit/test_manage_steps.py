"""The subscription flow's step table and stored draft: every step is declared, every button
a screen draws is handled by the step that draws it (or is a global or entry button), and
drafts stored before the flow was split into modules load unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conversations.engine import GLOBAL_ACTIONS
from conversations.manage import CASH_ENTRY, ENTRY, STEPS, Action, ManageDraft, Step
from conversations.manage.lifecycle import RENEW_ENTRY
from conversations.screens import Screen
from domain.catalog import ServiceKind
from domain.model import UserId
from domain.usecases.manage import Rights
from tests.unit.test_manage_flow import TABS, USER, Chat, FakeBackend, subscription

#: drafts as the single-module flow stored them
OLD_DRAFTS: list[dict[str, Any]] = [
    {"s": "mlist"},
    {"s": "mlist", "e": 11, "o": 8, "f": "CANCELLED", "fx": 1},
    {"s": "mfilter", "e": 11, "o": 0, "f": "ACTIVE"},
    {"s": "mdet", "sid": 5, "tab": "inv", "to": 0, "inv": 12, "pdf": 1},
    {"s": "mdet", "e": 11, "sid": 5, "tab": "hist", "to": 10},
    {
        "s": "mform",
        "sid": 5,
        "tab": "emp",
        "to": 0,
        "fk": "emp.phone",
        "fv": {"name": "Lan", "email": "lan@anphat.vn"},
        "fx": 2,
    },
    {
        "s": "mform",
        "sid": 5,
        "tab": "memo",
        "to": 0,
        "fk": "memo.reason",
        "mk": "DEBIT",
        "fv": {"amount": 1_500_000},
    },
    {"s": "mform", "sid": 5, "tab": "memo", "to": 0, "fk": "note", "fv": {}},
]


def test_every_step_is_in_the_table() -> None:
    assert set(STEPS) == set(Step)


@pytest.mark.parametrize("raw", OLD_DRAFTS, ids=lambda raw: str(raw["s"]))
def test_a_stored_draft_loads_and_is_stored_back_unchanged(raw: dict[str, Any]) -> None:
    draft = ManageDraft.load(json.loads(json.dumps(raw)))
    assert draft.step is Step(raw["s"])
    assert draft.dump() == raw


def test_the_all_filter_of_older_drafts_reads_as_no_filter() -> None:
    draft = ManageDraft.load({"s": "mlist", "f": "", "o": 0})
    assert draft.status_filter is None and draft.dump() == {"s": "mlist", "o": 0}


def _check(screen: Screen, step: Step) -> set[str]:
    actions = set()
    for row in screen.buttons:
        for b in row:
            if (
                b.action is None
                or b.action in GLOBAL_ACTIONS
                or b.action in (ENTRY, CASH_ENTRY, RENEW_ENTRY)
            ):
                continue
            assert Action(b.action) in STEPS[step].on, (step, b.action)
            actions.add(b.action)
    return actions


async def test_every_button_drawn_is_handled_by_its_step() -> None:
    fake = FakeBackend(
        rights=Rights(UserId(USER), is_agent=True),
        subs=[subscription(n) for n in range(1, 12)] + [subscription(12, kind=ServiceKind.OS)],
    )
    chat = Chat(fake)
    seen: set[str] = set()

    def check() -> None:
        seen.update(_check(chat.screen, Step(chat.session.draft["s"])))

    await chat.command("subscriptions")
    check()
    await chat.press("🔎 Lọc theo trạng thái")
    check()
    for code in ("TB-2026-000001", "TB-2026-000012"):
        await chat.command("subscriptions", code)
        for tab in (*TABS, "Tiến trình"):
            if tab in chat.labels():
                await chat.press(tab)
                check()
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Danh sách nhân viên")
    await chat.press("➕ Thêm nhân viên")
    await chat.text("Phạm Minh Đức")
    await chat.text("duc@anphat.vn")
    check()
    assert {"open", "page", "filter", "f", "tab", "list", "emp_add", "prog", "back", "skip"} <= seen
