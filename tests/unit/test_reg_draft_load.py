"""``RegDraft.load`` reads only the keys a stored draft has (docs/performance.md, round 7): it
must give what the former reading of every key gave, for any stored dict, odd values included."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.registration.draft import (
    _FIELD_KEYS,
    _KEYS,
    _RETURN_TO_FINAL,
    Field,
    Pick,
    RegDraft,
    Step,
    _opt_int,
    _opt_section,
    _opt_str,
)


def former_load(raw: dict[str, Any]) -> RegDraft:
    """``RegDraft.load`` as it was before round 7: every field read, present or not."""
    rest = {k: v for k, v in raw.items() if k not in _KEYS}
    pc = raw.get("pc")
    pick = raw.get("pick")
    fk = raw.get("fk")
    return RegDraft(
        step=Step(raw.get("s", Step.CATALOG)),
        service=str(raw.get("sv", "")),
        plan=str(raw.get("pl", "")),
        cycle=str(raw.get("cy", "")),
        quantity=_opt_int(raw.get("q")),
        business=_opt_int(raw.get("e")) or None,
        picked=Pick(int(pick)) if pick else None,
        plan_promo=_opt_str(raw.get("pp")),
        addons=[str(a) for a in raw["ad"]] if "ad" in raw else None,
        addon_promos={str(a): str(p) for a, p in raw["ap"].items()} if "ap" in raw else None,
        addon_index=_opt_int(raw.get("ai")),
        invoice_promo=_opt_str(raw.get("ip")),
        invoice=_opt_section(raw.get("inv")),
        customer=_opt_section(raw.get("cus")),
        contact=_opt_section(raw.get("ct")),
        prompt=Field(str(fk)) if fk in _FIELD_KEYS else None,
        return_to_final=raw.get("ret") == _RETURN_TO_FINAL,
        agreed=bool(raw["tm"]) if "tm" in raw else None,
        idempotency_key=_opt_str(raw.get("ik")),
        total=_opt_int(raw.get("tot")),
        price_changed=(str(pc[0]), str(pc[1])) if isinstance(pc, list) and len(pc) == 2 else None,
        failures=int(raw.get("fx", 0) or 0),
        coupon_prompt=bool(raw.get("cpn")),
        other=rest,
    )


small = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.sampled_from(["", "0", "1", "2", "12", "x", "fin", "cat", "inv.tax", "cus.name", "ab"]),
)
section = st.dictionaries(st.sampled_from(["name", "tax", "addr", "email", "phone"]), small)
values: dict[str, Any] = {
    "s": st.one_of(st.sampled_from([s.value for s in Step]), small),
    "pick": st.one_of(st.sampled_from([0, 1, 2, "1", "2", None]), small),
    "ad": st.lists(small, max_size=3),
    "ap": st.dictionaries(small.filter(lambda v: isinstance(v, str | int)), small, max_size=3),
    "inv": st.one_of(section, small),
    "cus": st.one_of(section, small),
    "ct": st.one_of(section, small),
    "fk": st.one_of(st.sampled_from(sorted(_FIELD_KEYS)), small),
    "ret": st.one_of(st.just(_RETURN_TO_FINAL), small),
    "pc": st.one_of(st.lists(small, max_size=3), small),
}
stored = st.fixed_dictionaries(
    {},
    optional={
        **{key: values.get(key, small) for key in sorted(_KEYS)},
        "bz": small,
        "bq": small,
        "bn": section,
    },
)


def outcome(load: Any, raw: dict[str, Any]) -> Any:
    try:
        return load(raw)
    except (ValueError, TypeError, AttributeError) as error:
        return type(error)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(stored)
def test_load_reads_any_stored_draft_as_before(raw: dict[str, Any]) -> None:
    new, old = outcome(RegDraft.load, raw), outcome(former_load, raw)
    if isinstance(new, RegDraft) and isinstance(old, RegDraft):
        assert new == old
        assert list(new.other) == list(old.other)  # the sub-step's keys, in their order
    else:
        assert new == old


def test_a_draft_saved_then_loaded_is_the_same() -> None:
    draft = RegDraft(
        step=Step.FINAL,
        service="hddt",
        plan="basic",
        cycle="12m",
        quantity=2,
        business=5,
        picked=Pick.STAFF,
        plan_promo="",
        addons=["a1", "a2"],
        addon_promos={"a1": "", "a2": "P"},
        invoice={"name": "Công ty A"},
        prompt=Field.INV_TAX,
        return_to_final=True,
        agreed=True,
        price_changed=("promo_gone", "P"),
        failures=2,
        coupon_prompt=True,
        other={"bz": "x"},
    )
    assert RegDraft.load(draft.dump()) == draft
    assert RegDraft.load({}) == RegDraft()
