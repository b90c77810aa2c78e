"""What one **Xác nhận** press costs: the database transactions it opens and the calls that
cross from the conversation into the bot's wiring and the use cases (issue 15).

The crossings are counted with a profiler hook on the thread that runs the bot: a call whose
caller lives in one layer (``conversations``, ``bot``) and whose callee lives in another
(``bot``, ``domain.usecases``). Each coroutine counts once however often it resumes.

Both are counted for the press's update only (the harness's :class:`UpdateWindow`): the bot's
background work shares the thread and the engine (the outbox worker looks for due rows,
the reconciler runs its rounds), and on a loaded machine it ran during the press."""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from sqlalchemy import event

from tests.e2e.conftest import BotFactory
from tests.e2e.harness import BotHarness, UpdateWindow
from tests.e2e.test_registration_flows import (
    business_owner,
    choose_plan,
    gateway_settings,
    step_two_and_contact,
    vnptpay,  # noqa: F401  (the simulator fixture)
    wifi_step_one_without_extras,
)

#: the budget of one press (before issue 15: OS 3 transactions and 3 hops, ON 5 and 4). Now one
#: call, ConfirmRegistration; OS: placing the order and saving the draft; ON: also the link.
OS_TRANSACTIONS, OS_HOPS = 2, 1
ON_TRANSACTIONS, ON_HOPS = 3, 1

LAYERS = ("conversations", "bot", "domain.usecases")


def _layer(frame: FrameType) -> str:
    module = str(frame.f_globals.get("__name__", ""))
    for layer in reversed(LAYERS):  # domain.usecases before domain, bot before bo…
        if module == layer or module.startswith(layer + "."):
            return layer
    return ""


@dataclass
class PressCost:
    transactions: int = 0
    hops: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls: list[str] = field(default_factory=list)


@contextlib.contextmanager
def measured(bot: BotHarness) -> Iterator[PressCost]:
    cost = PressCost()
    seen: list[FrameType] = []  # kept alive so that ids are not reused
    seen_ids: set[int] = set()
    press = UpdateWindow()

    def on_statement(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        # every SQLite transaction starts with a BEGIN statement, also the draft's save that
        # bypasses SQLAlchemy's transactions (storage.sqlite_direct) and its "begin" event
        if press.owns_current() and statement.lstrip()[:5].upper() == "BEGIN":
            cost.transactions += 1

    def profile(frame: FrameType, what: str, arg: Any) -> None:
        if what != "call" or id(frame) in seen_ids:
            return
        if not frame.f_code.co_flags & inspect.CO_COROUTINE:
            return  # only the awaited calls: plain helpers and constructors are not hops
        if not press.owns_current():
            return  # background work (outbox, reconciler, change rounds, ...), not the press
        seen_ids.add(id(frame))
        seen.append(frame)
        caller = frame.f_back
        if caller is None:
            return
        src, dst = _layer(caller), _layer(frame)
        if src and dst and src != dst and (src, dst) != ("domain.usecases", "bot"):
            if (src, dst) == ("bot", "conversations"):
                return  # the bot driving the engine, not a call out of the conversation
            cost.hops[(src, dst)] += 1
            cost.calls.append(f"{src}->{dst}: {frame.f_code.co_qualname}")

    engine = bot.database.engine.sync_engine
    with bot.updates.window(press):
        event.listen(engine, "before_cursor_execute", on_statement)
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            yield cost
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
            event.remove(engine, "before_cursor_execute", on_statement)


async def _press_confirm(bot: BotHarness, user: Any) -> PressCost:
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    assert "Xác nhận thanh toán" in user.last_text()
    with measured(bot) as cost:
        await user.press("Xác nhận")
    return cost


async def test_an_os_confirm_press(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await wifi_step_one_without_extras(user)
    await step_two_and_contact(user)
    cost = await _press_confirm(bot, user)
    assert "Đăng ký thành công" in user.last_text()
    print("OS", cost.transactions, dict(cost.hops), cost.calls)
    assert cost.transactions <= OS_TRANSACTIONS, cost
    assert sum(cost.hops.values()) <= OS_HOPS, cost.calls
    assert ("conversations", "bot") not in cost.hops, cost.calls  # no pass-through backend


async def test_an_on_confirm_press(bot_factory: BotFactory, vnptpay: Any) -> None:  # noqa: F811
    bot = await bot_factory("polling", settings=gateway_settings(vnptpay))
    user = await business_owner(bot)
    await choose_plan(
        user, "VNPT Invoice – Hóa đơn điện tử", "Gói Khởi nghiệp 300 hóa đơn", "2 năm"
    )
    await user.press("Không áp dụng")
    await user.press("Xong")
    await user.press("Không áp dụng")
    await step_two_and_contact(user)
    cost = await _press_confirm(bot, user)
    buttons = [b.text for m in user.bot_messages()[-3:] for b in m.flat_buttons]
    assert "Thanh toán qua VNPT Pay" in buttons
    print("ON", cost.transactions, dict(cost.hops), cost.calls)
    assert cost.transactions <= ON_TRANSACTIONS, cost
    assert sum(cost.hops.values()) <= ON_HOPS, cost.calls
    assert ("conversations", "bot") not in cost.hops, cost.calls  # no pass-through backend
