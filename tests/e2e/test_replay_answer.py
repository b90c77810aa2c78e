"""A press's callback answer with replicas on Redis, by webhook (bot/webhook_reply.py,
bot/replay.py): it leaves in the webhook's answer, so a press makes one Bot API request (the
edit), and a replica that dies before answering its webhook has answered nothing: Telegram
delivers the update again and the redelivery answers the query in its own webhook answer,
once, whatever the first handling got as far as.

A replica "dies" here after handling the update, as its webhook answer would have left: the
app's webhook feed raises, the endpoint answers 500, and the Bot API server delivers the
update again (recorded as a violation of method ``webhook``, taken out at the end).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiogram.types import Update

from storage.redis_turns import RedisUpdateTurns
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import BotHarness
from tests.e2e.test_bot_basics import engine, make_bot  # noqa: F401 - fixtures
from tests.e2e.test_replay import fail

pytestmark = pytest.mark.redis

REPLIED = {"method": "answerCallbackQuery", "outcome": "webhook_reply"}
SENT = {"method": "answerCallbackQuery", "outcome": "ok"}


class Deliveries:
    """The webhook's answers to each delivery the app took (None: no answer left)."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any] | None] = []


def die_before_answering(
    harness: BotHarness, before_dying: Callable[[], Awaitable[None]] | None = None
) -> Deliveries:
    """The next webhook delivery is handled, then its replica dies before answering."""
    app = harness.running
    feed = app.feed_webhook
    deliveries = Deliveries()

    async def dying_once(data: dict[str, Any]) -> dict[str, Any] | None:
        reply = await feed(data)
        if not deliveries.answers:
            deliveries.answers.append(None)
            if before_dying is not None:
                await before_dying()
            raise RuntimeError("the replica died before answering its webhook")
        deliveries.answers.append(reply)
        return reply

    app.feed_webhook = dying_once  # type: ignore[method-assign]
    return deliveries


async def redelivered(harness: BotHarness, deliveries: Deliveries) -> None:
    await harness.state.wait_until(lambda: len(deliveries.answers) == 2, 15)


def answered_once(harness: BotHarness, user: Any, deliveries: Deliveries) -> None:
    """The query answered once, in the redelivery's webhook answer; no answer as a request."""
    assert len(deliveries.answers) == 2
    reply = deliveries.answers[1]
    assert reply is not None and reply["method"] == "answerCallbackQuery"
    answers = [a.callback_query_id for a in user.callback_answers()]
    assert answers.count(reply["callback_query_id"]) == 1
    assert harness.metric("onesme_bot_api_calls_total", SENT) is None
    state = harness.state
    died = [v.description for v in state.violations if v.method == "webhook"]
    assert len(died) == 1 and "500" in died[0], died
    state.violations[:] = [v for v in state.violations if v.method != "webhook"]
    harness.assert_no_violations()


async def test_a_press_by_webhook_on_redis_is_one_request(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> None:
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    assert harness.running.flow.journal is not None
    user = harness.user("Mai")
    await user.send("/start")
    before = len(harness.state.calls)
    await user.press("+1")
    assert user.last_text().startswith("Count: 1")
    assert [c.method for c in harness.api_calls(before)] == [
        "editMessageText",
        "answerCallbackQuery",  # executed from the webhook's answer
    ]
    assert user.calls_since_action() == ["editMessageText", "answerCallbackQuery"]
    assert len(user.callback_answers()) == 1
    assert harness.metric("onesme_bot_api_calls_total", SENT) is None
    assert harness.metric("onesme_bot_api_calls_total", REPLIED) == 1.0
    harness.assert_no_violations()


async def test_died_after_the_edit_before_the_save_the_edit_is_replayed_and_answered_once(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> None:
    """The edit's answer is in the journal: the redelivery replays it (no second edit) and
    answers the query in its webhook answer."""
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Đào", strict=False)  # the failed delivery is recorded
    await user.send("/start")
    flow = harness.running.flow
    fail(flow.store, "put")  # the state is not saved
    deliveries = die_before_answering(harness)
    before = len(harness.state.calls)
    await user.press("+1", wait=False)
    await redelivered(harness, deliveries)
    assert user.last_text().startswith("Count: 1")
    requests = [c.method for c in harness.api_calls(before)]
    assert requests == ["editMessageText", "answerCallbackQuery"]  # the answer: the webhook's
    assert harness.metric("onesme_replayed_requests_total") == 1.0  # the edit
    answered_once(harness, user, deliveries)
    await user.press("+1")  # the redelivery saved the state: the count goes on from 1
    assert user.last_text().startswith("Count: 2")


async def test_died_after_marking_the_redelivery_is_skipped_and_answers(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> None:
    """The update was handled and marked; only the webhook's answer was lost with the replica:
    the redelivery is skipped at the gate and still answers the query (its first answer never
    reached Telegram)."""
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Cúc", strict=False)
    await user.send("/start")
    deliveries = die_before_answering(harness)
    before = len(harness.state.calls)
    await user.press("+1", wait=False)
    await redelivered(harness, deliveries)
    assert user.last_text().startswith("Count: 1")
    assert [c.method for c in harness.api_calls(before)] == [
        "editMessageText",
        "answerCallbackQuery",
    ]
    assert harness.metric("onesme_duplicate_updates_total")
    answered_once(harness, user, deliveries)


async def test_died_after_saving_before_marking_the_redelivery_answers(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
    redis_client: Any,
) -> None:
    """The state was saved, the update not marked (the turn's end failed): the redelivery
    finds the state moved on (``Replay.done_before``), repeats nothing and answers."""
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Huệ", strict=False)
    await user.send("/start")
    flow = harness.running.flow
    turns = flow.turns
    assert isinstance(turns, RedisUpdateTurns)
    # the turn's end script fails: the draft is written on its own, the update left unmarked
    fail(turns, "_end")

    async def lock_expires() -> None:
        await redis_client.delete(turns.chat_lock.names(flow.key(user.id))[0])

    deliveries = die_before_answering(harness, lock_expires)
    before = len(harness.state.calls)
    await user.press("+1", wait=False)
    await redelivered(harness, deliveries)
    assert user.last_text().startswith("Count: 1")
    assert [c.method for c in harness.api_calls(before)] == [
        "editMessageText",
        "answerCallbackQuery",
    ]
    assert not harness.metric("onesme_replayed_requests_total")  # nothing replayed
    assert harness.metric("onesme_duplicate_updates_total") == 1.0  # done before
    answered_once(harness, user, deliveries)
    await user.press("+1")
    assert user.last_text().startswith("Count: 2")


async def test_a_handler_that_raised_answers_in_the_webhook_answer(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> None:
    """The update's handling failed (the state could not be read): the query is still
    answered, in the webhook's answer, and Telegram takes the update as delivered."""
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Lý", strict=False)
    await user.send("/start")
    fail(harness.running.flow.store, "get")
    before = len(harness.state.calls)
    await user.press("+1", wait=False)  # nothing to see but the spinner's end
    await harness.state.wait_until(lambda: len(user.callback_answers()) == 1, 15)
    assert user.last_text().startswith("Count: 0")
    assert [c.method for c in harness.api_calls(before)] == ["answerCallbackQuery"]
    assert harness.metric("onesme_bot_api_calls_total", REPLIED) == 1.0
    harness.assert_no_violations()


async def test_first_by_webhook_again_by_polling_the_edit_is_sent_again(
    make_bot: BotFactory,  # noqa: F811
    redis_url: str,
    redis_prefix: str,
) -> None:
    """The mode switched while a replica was dead: by webhook the answer took no position in
    the journal, by polling it is a request and takes the edit's; the edit is then not
    replayed but sent again, Telegram refuses it as "message is not modified" and the renderer
    takes that as done; the query is answered once (the first answer never left)."""
    harness = await make_bot("webhook", redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Sen", strict=False)
    await user.send("/start")
    app = harness.running
    fail(app.flow.store, "put")  # the state is not saved: the redelivery runs it again
    harness.state.webhook_retry_delays = ()  # not again by webhook: by polling, below
    delivered: list[dict[str, Any]] = []
    feed = app.feed_webhook

    async def recording(data: dict[str, Any]) -> dict[str, Any] | None:
        delivered.append(data)
        return await feed(data)

    app.feed_webhook = recording  # type: ignore[method-assign]
    deliveries = die_before_answering(harness)
    before = len(harness.state.calls)
    await user.press("+1", wait=False)
    await harness.state.wait_until(lambda: len(deliveries.answers) == 1, 15)
    assert user.callback_answers() == []

    # what polling does with the update getUpdates hands over again
    await app.process_update(Update.model_validate(delivered[0], context={"bot": app.bot}))

    assert [c.method for c in harness.api_calls(before)] == [
        "editMessageText",
        "answerCallbackQuery",
        "editMessageText",
    ]
    assert len(user.callback_answers()) == 1
    state = harness.state
    refused = [(v.method, v.description) for v in state.violations if v.method != "webhook"]
    assert [(m, d.split(":")[1].strip()) for m, d in refused] == [
        ("editMessageText", "message is not modified")
    ]
    state.violations[:] = []
    assert user.last_text().startswith("Count: 1")
    await user.press("+1")  # taken as done: the state was saved, the count goes on
    assert user.last_text().startswith("Count: 2")
    harness.assert_no_violations()
