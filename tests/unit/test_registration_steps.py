"""The registration's step table and its stored draft: every step is declared, every button a
screen draws is handled by the step that draws it, and drafts stored by the flow before it
was split into modules load (and are stored back) unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conversations.registration import STEPS, Action, RegDraft, Step
from conversations.session import Event, EventKind
from domain.errors import InvalidInput
from tests.unit.test_registration_flow import Chat, label_of, to_final

#: a draft at the final summary as the single-module flow stored it (copied from a session)
OLD_FINAL: dict[str, Any] = {
    "ad": ["SETUP", "TSA"],
    "ai": 1,
    "ap": {"SETUP": "", "TSA": "KM-TSA"},
    "ct": {"email": "an@anbinh.vn", "name": "Nguyễn Văn An", "phone": "+84912345678"},
    "cy": "M12",
    "e": 7,
    "ip": "KM-HD5",
    "pl": "CA-BIZ",
    "pp": "KM-CA10",
    "q": 1,
    "s": "fin",
    "sv": "CA",
}

OLD_DRAFTS: list[dict[str, Any]] = [
    OLD_FINAL,
    {**OLD_FINAL, "s": "conf", "tm": True, "ik": "b7V1x0aQ3Z9r", "tot": 2_222_050},
    {**OLD_FINAL, "pc": ["quota_exhausted", "KM-HD5"], "ip": "", "tm": False},
    {**OLD_FINAL, "s": "fld", "fk": "cus.addr", "ret": "fin", "cus": {"name": "Mới"}, "fx": 2},
    {
        "s": "biz",
        "sv": "CA",
        "pl": "CA-BIZ",
        "cy": "M12",
        "q": 1,
        "pick": 2,
        "bz": "nn",
        "bn": {"tax": "0100233488"},
        "bq": "0100233488",
    },
    {"s": "qty", "sv": "CA", "pl": "CA-USER", "cy": "M1", "q": 12},
    {"s": "cat"},
]


def test_every_step_is_in_the_table() -> None:
    assert set(STEPS) == set(Step)


@pytest.mark.parametrize("raw", OLD_DRAFTS, ids=lambda raw: str(raw["s"]))
def test_a_stored_draft_loads_and_is_stored_back_unchanged(raw: dict[str, Any]) -> None:
    draft = RegDraft.load(json.loads(json.dumps(raw)))
    assert draft.step is Step(raw["s"])
    assert draft.dump() == raw


def test_the_typed_draft_reads_the_short_keys() -> None:
    draft = RegDraft.load(OLD_DRAFTS[3])
    assert (draft.service, draft.plan, draft.cycle, draft.qty) == ("CA", "CA-BIZ", "M12", 1)
    assert draft.business == 7 and draft.addons == ["SETUP", "TSA"]
    assert draft.addon_promos == {"SETUP": "", "TSA": "KM-TSA"}
    assert draft.return_to_final and draft.failures == 2
    assert draft.prompt is not None and draft.prompt.value == "cus.addr"
    assert RegDraft.load({"s": "fin", "fk": "forged"}).prompt is None


async def test_an_old_final_draft_still_places_its_order() -> None:
    chat = Chat()
    await chat.command("services")
    chat.session.draft.clear()
    chat.session.draft.update(json.loads(json.dumps(OLD_FINAL)))
    await chat.command("help")  # draws the current step: the old draft's final summary
    assert "reg.final_title" in chat.msg_keys()
    await chat.press("btn.agree_terms")
    await chat.press("btn.pay")
    await chat.press("btn.confirm")
    [req] = chat.backend.orders
    assert req.selection.invoice_promotions == ("KM-HD5",)
    assert req.expected_total == 2_222_050


async def test_every_button_drawn_is_handled_by_its_step() -> None:
    """Walk to the final summary; at each step every flow button the screen offers is an
    action of that step's table (or Quay lại / Hủy / the picker's)."""
    chat = Chat()
    seen: set[Step] = set()
    original = chat.send

    async def send(event: Any) -> Any:
        reply = await original(event)
        if chat.session.flow == "reg":
            step = Step(chat.session.draft["s"])
            seen.add(step)
            for b in [b for row in reply.screens[0].buttons for b in row]:
                if b.action in (None, "back", "cancel"):
                    continue
                assert Action(b.action) in STEPS[step].on, (step, label_of(b), b.action)
        return reply

    chat.send = send  # type: ignore[method-assign]
    await to_final(chat)
    assert {Step.CATALOG, Step.PLAN_PROMO, Step.ADDON_PROMO, Step.FINAL} <= seen


async def test_a_button_the_step_does_not_offer_is_refused() -> None:
    chat = Chat()
    await chat.command("services")
    before = dict(chat.session.draft)
    for action in ("pay", "no-such-action"):
        with pytest.raises(InvalidInput) as exc:
            await chat.send(Event(EventKind.BUTTON, name=action, arg="", rev=chat.session.rev))
        assert exc.value.params["reason"] == "button.unexpected"
    assert chat.session.draft == before
