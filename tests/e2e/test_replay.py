"""An update delivered again after its first handling broke off shows the user nothing twice
(bot.replay): the webhook bot on Redis, the counter engine of test_bot_basics, and the two
places a replica can die between its first Bot API request and marking the update handled.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiogram.types import Update

from bot.http import SECRET_HEADER, WEBHOOK_PATH
from storage.redis_store import RedisChatLock
from storage.redis_turns import RedisUpdateTurns
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import WEBHOOK_SECRET, BotHarness
from tests.e2e.test_bot_basics import engine, make_bot  # noqa: F401 - fixtures

pytestmark = pytest.mark.redis


def capture_updates(harness: BotHarness) -> list[dict[str, Any]]:
    """Every update the webhook hands to the app, as it arrived."""
    app = harness.running
    seen: list[dict[str, Any]] = []
    feed = app.feed_webhook

    async def capturing(data: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(data)
        return await feed(data)  # the webhook's answer: the callback query's answer

    app.feed_webhook = capturing  # type: ignore[method-assign]
    return seen


async def deliver_again(harness: BotHarness, update: dict[str, Any]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            harness.http_url + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        ) as response,
    ):
        return response.status


def fail(target: Any, name: str, times: int = 1) -> None:
    """The next ``times`` calls of ``target.name`` raise."""
    real = getattr(target, name)
    calls = 0

    async def broken(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise RuntimeError(f"the replica died in {name}")
        return await real(*args, **kwargs)

    setattr(target, name, broken)


async def test_died_after_answering_before_saving_the_repeat_sends_nothing(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> None:
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Thu")
    await user.send("/start")
    updates = capture_updates(harness)
    fail(harness.running.flow.store, "put")  # the state is not saved
    await user.press("+1")
    assert user.last_text().startswith("Count: 1")
    # one request; the callback query is answered in the webhook's answer
    assert user.calls_since_action() == ["editMessageText", "answerCallbackQuery"]
    before = len(harness.state.calls)

    assert await deliver_again(harness, updates[-1]) == 200

    assert harness.api_calls(before) == []  # the edit answered from the journal
    await user.press("+1")  # the repeat saved the state: the count goes on from 1
    assert user.last_text().startswith("Count: 2")
    harness.assert_no_violations()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_press_journals_two_writes_and_its_repeat_sends_nothing(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    mode: str,
) -> None:
    """By polling, ``answerCallbackQuery`` is journaled as it goes out, not again with its
    answer (always True), the edit after it with its answer only. By webhook the answer is no
    request (it leaves in the webhook's answer) and takes no position: the edit is the first
    request, journaled on its way and with its answer. A replica dying after them, before the
    state was saved, repeats nothing: the requests are replayed from the journal."""
    harness = await make_bot(mode, redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Lan")
    await user.send("/start")
    app = harness.running
    flow = app.flow
    journal = flow.journal
    assert journal is not None
    written: list[tuple[str, str, bool]] = []
    write = journal.write

    async def recording(update_id: int, field: str, value: str) -> None:
        if field != "start":
            entry = json.loads(value)
            written.append((field, entry["method"], "result" in entry))
        await write(update_id, field, value)

    journal.write = recording  # type: ignore[method-assign]
    fail(flow.store, "put")  # the replica dies before the state is saved
    updates = capture_updates(harness) if mode == "webhook" else []
    handled: list[Update] = []
    process_update = app.process_update

    async def capturing(update: Update) -> None:
        handled.append(update)
        await process_update(update)

    app.process_update = capturing  # type: ignore[method-assign]
    await user.press("+1")
    assert user.last_text().startswith("Count: 1")
    if mode == "polling":
        assert written == [("0", "answerCallbackQuery", False), ("1", "editMessageText", True)]
        assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    else:
        assert written == [("0", "editMessageText", False), ("0", "editMessageText", True)]
        assert user.calls_since_action() == ["editMessageText", "answerCallbackQuery"]
    before = len(harness.state.calls)
    if mode == "webhook":
        assert await deliver_again(harness, updates[-1]) == 200
    else:  # what polling does with an update getUpdates returned again
        await app.process_update(handled[-1])

    assert harness.api_calls(before) == []
    assert written[2:] == []  # replayed, nothing journaled again
    await user.press("+1")
    assert user.last_text().startswith("Count: 2")
    harness.assert_no_violations()


async def test_died_after_saving_before_marking_the_repeat_is_skipped(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    redis_client: Any,
) -> None:
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Hà")
    await user.send("/start")
    updates = capture_updates(harness)
    flow = harness.running.flow
    turns = flow.turns
    assert isinstance(turns, RedisUpdateTurns)
    # the replica dies before the end of the update's turn (one script: the done mark, the
    # journal's deletion, the lock's release): none of the three is done
    fail(turns, "end")
    await user.press("+1")
    assert user.last_text().startswith("Count: 1")
    lock_key = turns.chat_lock.names(flow.key(user.id))[0]
    assert await redis_client.exists(lock_key)
    await redis_client.delete(lock_key)  # as its expiry would
    before = len(harness.state.calls)

    assert await deliver_again(harness, updates[-1]) == 200

    # without the journal, the counter engine would take it as a press on an old menu and
    # answer the (already answered) query again: "query is too old"
    assert harness.api_calls(before) == []
    assert await deliver_again(harness, updates[-1]) == 200  # now marked: skipped at the gate
    await user.press("+1")
    assert user.last_text().startswith("Count: 2")
    harness.assert_no_violations()


async def test_a_finished_update_leaves_no_journal(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    redis_client: Any,
) -> None:
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Nam")
    await user.send("/start")
    await user.press("+1")
    left = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}*journal:*")]
    assert left == []


async def test_an_update_whose_chat_stays_locked_is_refused_for_a_redelivery(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    redis_client: Any,
) -> None:
    """A replica that died holding a chat's lock keeps it until it expires: a webhook update
    of that chat answers 429 (Telegram delivers it again later) instead of being dropped."""
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Vân", strict=False)  # the refused deliveries are recorded
    await user.send("/start")
    updates = capture_updates(harness)
    flow = harness.running.flow
    turns = flow.turns
    assert isinstance(turns, RedisUpdateTurns)
    flow.turns = RedisUpdateTurns(
        RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=0.3),
        turns.deduper,
        turns.journal,
        turns.store,
    )
    dead = RedisChatLock(redis_client, prefix=redis_prefix)
    async with dead.lock(flow.key(user.id)):  # held by "the dead replica"
        await user.press("+1", wait=False)
        await harness.state.wait_until(lambda: len(updates) == 1, 10)
        update = updates[0]
        assert await deliver_again(harness, update) == 429
        assert user.last_text().startswith("Count: 0")
    await user.settle(timeout=15)  # the Bot API server's own redelivery now goes through
    assert user.last_text().startswith("Count: 1")
    answers = harness.api_calls(predicate=lambda c: c.method == "answerCallbackQuery")
    assert len(answers) == 1  # by the delivery that went through, in its webhook answer
    registry = harness.running.metrics.registry
    replied = {"method": "answerCallbackQuery", "outcome": "webhook_reply"}
    assert registry.get_sample_value("onesme_bot_api_calls_total", replied) == 1.0
    state = harness.state
    refused = [v.description for v in state.violations if v.method == "webhook"]
    assert refused and all("429" in d for d in refused), refused
    state.violations[:] = [v for v in state.violations if v.method != "webhook"]
    harness.assert_no_violations()
