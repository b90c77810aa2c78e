"""The bot layer end to end, with a tiny test-double engine: the real aiogram bot, HTTP server,
database and Bot API (the local server), but a conversation small enough to reason about.

What is checked: every update gets a visible answer; a button press edits in place with
answerCallbackQuery + editMessageText and at most a session load and save in the database;
forged and old callbacks are answered; engine errors become replies; the webhook's secret;
health, readiness and metrics; a graceful stop finishes the update in hand; a restart keeps the
conversation; secrets never reach the logs.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from bot.catalog_file import load_catalog_file
from bot.container import Container
from bot.http import SECRET_HEADER, WEBHOOK_PATH
from bot.logging import REDACTED, RedactingFilter, configure_logging
from conversations.reply import Reply
from conversations.screens import Button, Delivery, Join, Msg, Plain, Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from domain.errors import PermissionDenied
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import SAMPLE_CATALOG, TEST_TOKEN, WEBHOOK_SECRET, BotHarness


class CounterEngine:
    """A conversation of one screen: a counter with +1 / reset buttons.

    /start draws it as a new message; +1 bumps the counter and redraws in place; a button of an
    older rev is refused with the stale notice; /deny raises a DomainError, /boom a bug (its
    message carries the bot token, as careless code might); /slow waits for the test to let it
    finish (for graceful shutdown).
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.slow_started = asyncio.Event()
        self.slow_release = asyncio.Event()

    @staticmethod
    def screen(session: ChatSession, delivery: Delivery = Delivery.EDIT) -> Screen:
        count = int(session.draft.get("n", 0))
        return Screen(
            Join((Plain(f"Count: {count}"), Plain(f"Hello {session.draft.get('who', '')}"))),
            ((Button(Plain("+1"), action="inc"), Button(Plain("Reset"), action="reset")),),
            delivery=delivery,
        )

    async def handle(
        self, session: ChatSession, actor: Actor, event: Event, now: datetime
    ) -> Reply:
        self.events.append(event)
        if event.kind is EventKind.COMMAND:
            if event.name == "deny":
                raise PermissionDenied("not for you")
            if event.name == "boom":
                raise RuntimeError(f"kaboom while calling /bot{TEST_TOKEN}/sendMessage")
            if event.name == "slow":
                self.slow_started.set()
                await self.slow_release.wait()
                return Reply(screens=(Screen(Join((Plain("slow done"),)), delivery=Delivery.NEW),))
            session.rev += 1
            session.draft = {"n": 0, "who": "<" + actor.first_name + ">"}
            return Reply(screens=(self.screen(session, Delivery.NEW),))
        if event.kind is EventKind.BUTTON:
            if event.rev != session.rev:
                return Reply(answer=Msg("bot.stale_menu"), changed=False)
            session.rev += 1
            session.draft["n"] = 0 if event.name == "reset" else int(session.draft["n"]) + 1
            return Reply(screens=(self.screen(session),))
        return Reply(
            screens=(Screen(Join((Plain(f"You said: {event.text}"),)), delivery=Delivery.NEW),),
            changed=False,
        )


@pytest.fixture
def engine() -> CounterEngine:
    return CounterEngine()


@pytest.fixture
def make_bot(bot_factory: BotFactory, engine: CounterEngine) -> BotFactory:
    async def make(mode: str = "polling", **kwargs: object) -> BotHarness:
        def factory(_: Container) -> CounterEngine:
            return engine

        kwargs.setdefault("catalog_file", None)
        return await bot_factory(mode, engine_factory=factory, **kwargs)

    return make


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --- conversation ---------------------------------------------------------------------------


async def test_start_gets_a_reply_and_commands_are_published(make_bot: BotFactory) -> None:
    harness = await make_bot()
    user = harness.user("Lan", language_code="en")
    await user.send("/start")
    assert user.last_text() == "Count: 0\nHello <Lan>"
    assert user.last_buttons() == [["+1", "Reset"]]
    commands = harness.api_calls(predicate=lambda c: c.method == "setMyCommands")
    assert sorted(str(c.params.get("language_code")) for c in commands) == ["None", "en"]


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_button_press_edits_in_place_within_budget(make_bot: BotFactory) -> None:
    harness = await make_bot()
    user = harness.user("Minh")
    await user.send("/start")
    menu = user.last_message().message_id
    for expected in (1, 2):
        with harness.queries.measure() as queries:
            await user.press("+1")
        assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
        # the session's save; without Redis the session is read from memory (write-through)
        assert queries.count == 1, queries.statements
        assert user.last_text().startswith(f"Count: {expected}")
        assert user.last_message().message_id == menu
    assert len(user.bot_messages()) == 1


async def test_the_budget_leaves_out_background_rounds_run_during_the_press(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler's round runs SQL on the same engine while the press is measured (as it
    may on a loaded machine, every 30 s): ``measure()`` counts the press's statements only."""
    harness = await make_bot()
    user = harness.user("Khoa")
    await user.send("/start")
    reconciler = harness.context().reconciler
    ran = asyncio.Event()
    run_once = reconciler.run_once

    async def observed() -> Any:
        result = await run_once()
        ran.set()
        return result

    monkeypatch.setattr(reconciler, "run_once", observed)
    rounds, everything = reconciler.rounds, harness.queries.count
    with harness.queries.measure() as queries:
        reconciler.wake()  # the background loop runs a round now
        await user.press("+1")
        await asyncio.wait_for(ran.wait(), 10)
    assert reconciler.rounds > rounds, "the woken round never ran"
    assert harness.queries.count - everything > 1  # the round's statements ran meanwhile …
    assert queries.count == 1, queries.statements  # … and only the press's save is counted
    assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]


async def test_forged_and_old_callbacks_are_answered(
    make_bot: BotFactory, engine: CounterEngine
) -> None:
    harness = await make_bot()
    user = harness.user("Hoa")
    await user.send("/start")
    first_menu = user.last_message().message_id
    await user.press("+1")
    seen = len(engine.events)

    # A modified client can send any callback data; the sandbox's public API only presses
    # real buttons, so the forged press goes through its internal press.
    chat = harness.state.chat(harness.bot_id, user.id)
    assert chat is not None
    user._begin()
    user._action = harness.state._press(
        user.bot, chat, chat.messages[first_menu], {"callback_data": "garbage:data"}
    )
    await user.settle()
    answer = user.last_callback_answer()
    assert answer is not None and "cũ" in (answer.text or "")  # "Menu này đã cũ…"
    assert user.calls_since_action() == ["answerCallbackQuery"]
    assert len(engine.events) == seen  # never reached the engine

    await user.send("/start")  # a new menu: the first one's buttons are now out of date
    await user.press("+1", message_id=first_menu)
    answer = user.last_callback_answer()
    assert answer is not None and "cũ" in (answer.text or "")
    assert user.calls_since_action() == ["answerCallbackQuery"]
    assert user.texts()[0].startswith("Count: 1")
    assert user.last_text().startswith("Count: 0")
    assert harness.state.unanswered_callback_queries() == []


async def test_reply_keyboard_labels_come_back_as_buttons(
    make_bot: BotFactory, engine: CounterEngine
) -> None:
    harness = await make_bot()
    user = harness.user("Tú")
    await user.send("/start")
    await user.send("Hủy")  # the label of a reply keyboard's cancel button (or typed)
    assert (engine.events[-1].kind, engine.events[-1].name) == (EventKind.BUTTON, "cancel")
    assert engine.events[-1].rev == 1  # the session's current rev: acts on the current step
    await user.send("Hủy bỏ")  # any other text stays text
    assert engine.events[-1].kind is EventKind.TEXT
    assert user.last_text() == "You said: Hủy bỏ"


async def test_engine_errors_become_replies(make_bot: BotFactory) -> None:
    harness = await make_bot()
    user = harness.user("Quang")
    await user.send("/deny")
    assert "không có quyền" in user.last_text()
    assert "/start" in user.last_text()  # a way forward
    await user.send("/boom")
    assert user.last_text().startswith("Xin lỗi")
    await user.send("/start")
    assert user.last_text().startswith("Count: 0")


# --- webhook, health, metrics ---------------------------------------------------------------


async def test_webhook_checks_the_secret_and_serves_updates(
    make_bot: BotFactory, http: aiohttp.ClientSession
) -> None:
    harness = await make_bot("webhook")
    url = harness.http_url + WEBHOOK_PATH
    update = {"update_id": 999_001, "message": {"message_id": 1}}
    async with http.post(url, json=update) as response:
        assert response.status == 401
    async with http.post(url, json=update, headers={SECRET_HEADER: "wrong"}) as response:
        assert response.status == 401
    webhooks = harness.api_calls(predicate=lambda c: c.method == "setWebhook")
    assert [c.params.get("secret_token") for c in webhooks] == [WEBHOOK_SECRET]
    # a reply waiting for its chat's flood slot holds its webhook request: not Telegram's 40
    assert [c.params.get("max_connections") for c in webhooks] == [100]

    user = harness.user("Vy")
    await user.send("/start")
    assert user.last_text().startswith("Count: 0")
    await user.press("+1")
    assert user.last_text().startswith("Count: 1")
    # the callback query is answered in the webhook's answer, after the edit: one request
    assert user.calls_since_action() == ["editMessageText", "answerCallbackQuery"]
    assert [a.callback_query_id for a in user.callback_answers()][-1:] != []
    registry = harness.running.metrics.registry
    sent = {"method": "answerCallbackQuery", "outcome": "ok"}
    replied = {"method": "answerCallbackQuery", "outcome": "webhook_reply"}
    assert registry.get_sample_value("onesme_bot_api_calls_total", sent) is None
    assert registry.get_sample_value("onesme_bot_api_calls_total", replied) == 1.0
    assert not harness.api_calls(predicate=lambda c: c.method == "getUpdates")


async def test_webhook_max_connections_is_asked_of_telegram(make_bot: BotFactory) -> None:
    harness = await make_bot("webhook", settings={"webhook_max_connections": 7})
    webhooks = harness.api_calls(predicate=lambda c: c.method == "setWebhook")
    assert [int(c.params["max_connections"]) for c in webhooks] == [7]
    user = harness.user("Vy")
    await user.send("/start")
    assert user.last_text().startswith("Count: 0")


async def test_a_webhook_update_delivered_three_times_at_once_is_handled_once(
    make_bot: BotFactory, http: aiohttp.ClientSession
) -> None:
    harness = await make_bot("webhook")
    user = harness.user("Lan")
    await user.send("/start")  # the chat exists
    chat_id = user.user.id
    update = {
        "update_id": 987_654,
        "message": {
            "message_id": 9_999,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Lan"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Lan"},
            "text": "/start",
        },
    }
    before = len(harness.api_calls(predicate=lambda c: c.method == "sendMessage"))

    async def deliver() -> int:
        async with http.post(
            harness.http_url + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        ) as response:
            return response.status

    assert list(await asyncio.gather(deliver(), deliver(), deliver())) == [200, 200, 200]
    sent = harness.api_calls(predicate=lambda c: c.method == "sendMessage")
    assert len(sent) - before == 1
    assert await deliver() == 200  # a later repeat too
    assert len(harness.api_calls(predicate=lambda c: c.method == "sendMessage")) == len(sent)


async def test_health_readiness_and_metrics(
    make_bot: BotFactory, http: aiohttp.ClientSession
) -> None:
    harness = await make_bot()
    user = harness.user("Khoa")
    await user.send("/start")
    await user.press("+1")
    async with http.get(harness.http_url + "/healthz") as response:
        assert (response.status, await response.text()) == (200, "ok")
    async with http.get(harness.http_url + "/readyz") as response:
        assert response.status == 200
        assert "database" in await response.text()
    async with http.get(harness.http_url + "/metrics") as response:
        assert response.status == 200
        metrics = await response.text()
    assert 'onesme_updates_total{kind="command"} 1.0' in metrics
    assert 'onesme_updates_total{kind="button"} 1.0' in metrics
    assert 'onesme_bot_api_calls_total{method="editMessageText",outcome="ok"} 1.0' in metrics
    assert "onesme_update_seconds_count 2.0" in metrics


async def test_readiness_names_what_is_down(
    make_bot: BotFactory, http: aiohttp.ClientSession
) -> None:
    harness = await make_bot(redis_url="redis://127.0.0.1:1/0")
    async with http.get(harness.http_url + "/readyz") as response:
        assert response.status == 503
        assert (await response.text()) == "not ready: redis"


# --- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_graceful_stop_finishes_the_update_in_hand(
    make_bot: BotFactory, engine: CounterEngine, mode: str
) -> None:
    harness = await make_bot(mode)
    base = harness.http_url
    user = harness.user("Bình")
    await user.send("/slow", wait=False)
    await asyncio.wait_for(engine.slow_started.wait(), 5)
    stopping = asyncio.create_task(harness.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waiting for the update in hand
    if mode == "webhook":  # draining: the load balancer must send new updates elsewhere
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/readyz") as response:
                assert (response.status, await response.text()) == (503, "not ready: draining")
            async with http.post(
                base + WEBHOOK_PATH,
                json={"update_id": 1, "message": {}},
                headers={SECRET_HEADER: WEBHOOK_SECRET},
            ) as response:
                assert response.status == 503
    engine.slow_release.set()
    await asyncio.wait_for(stopping, 10)
    assert user.last_text() == "slow done"

    await harness.start(migrate=False)  # the update is not handled a second time
    await user.send("/start")
    assert [e.name for e in engine.events] == ["slow", "start"]


async def test_restart_keeps_the_conversation(make_bot: BotFactory) -> None:
    harness = await make_bot()
    user = harness.user("Đào")
    await user.send("/start")
    await user.press("+1")
    await harness.restart()
    await user.press("+1")
    assert user.last_text().startswith("Count: 2")
    assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    assert harness.apps_started == 2


# --- secrets in logs --------------------------------------------------------------------------


async def test_secrets_never_reach_the_logs(make_bot: BotFactory) -> None:
    stream = io.StringIO()
    secrets = [TEST_TOKEN, WEBHOOK_SECRET]
    handler = configure_logging("DEBUG", "json", secrets=secrets, stream=stream)
    try:
        harness = await make_bot("webhook")
        user = harness.user("Sơn")
        await user.send("/boom")  # a traceback whose message holds the token
        assert user.last_text().startswith("Xin lỗi")
        await user.send("/start")
        await harness.stop()
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    output = stream.getvalue()
    assert "kaboom while calling" in output  # the error was logged …
    assert TEST_TOKEN not in output  # … without the token
    assert TEST_TOKEN.split(":")[1] not in output
    assert WEBHOOK_SECRET not in output
    assert REDACTED in output


def test_redaction_covers_messages_arguments_and_tracebacks() -> None:
    secret = "s3cr3t-gateway-key"
    redactor = RedactingFilter([TEST_TOKEN, secret, None, ""])
    logger = logging.getLogger("tests.redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("GET /bot%s/getMe with key %s", TEST_TOKEN, secret)
        try:
            raise ValueError(f"bad key {secret}")
        except ValueError:
            logger.exception("failed")
        logger.warning("another bot 987654321:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789ab")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = stream.getvalue()
    assert secret not in output
    assert TEST_TOKEN.split(":")[1] not in output
    assert "ABCdefGHIjklMNOpqrSTUvwxYZ" not in output
    assert output.count(REDACTED) == 4
    assert "ValueError: bad key ***" in output


async def test_a_catalog_loaded_while_running_is_picked_up(bot_factory: BotFactory) -> None:
    harness = await bot_factory(catalog_file=None, settings={"catalog_refresh_seconds": 1})
    app = harness.running
    assert app.catalog.get().services == ()
    first_revision = app.catalog.revision
    user = harness.user("Nga")
    await user.send("/services")
    assert "SMARTCA" not in str(user.last_buttons())

    catalog = load_catalog_file(SAMPLE_CATALOG)  # what `onesme-bot catalog load` stores
    async with harness.database.uow as uow:
        await uow.catalog.replace(catalog)
        await uow.commit()
    for _ in range(50):  # CATALOG_REFRESH_SECONDS=1
        if app.catalog.revision != first_revision:
            break
        await asyncio.sleep(0.1)
    assert len(app.catalog.get().services) == len(catalog.services)
    await user.send("/services")
    labels = [label for row in user.last_buttons() for label in row]
    assert catalog.services[0].name in labels


async def test_the_real_engine_runs_on_the_seeded_harness(
    polling_bot: BotHarness, owner: ChatUser
) -> None:
    catalog = polling_bot.running.catalog.get()
    assert catalog.services, "CATALOG_FILE (the sample catalog) was loaded at start"
    await owner.send("/start")
    await owner.press("Dịch vụ")
    assert owner.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    service = catalog.services[0]
    await owner.press(service.name)
    assert service.name in owner.last_text()
    await owner.send("/cancel")
    assert owner.last_buttons()[0] == ["Dịch vụ"]


@pytest.mark.redis
async def test_with_redis_a_press_costs_no_sql_and_survives_a_restart(
    make_bot: BotFactory, redis_url: str, redis_prefix: str
) -> None:
    harness = await make_bot(redis_url=redis_url, redis_prefix=redis_prefix)
    user = harness.user("Phúc")
    await user.send("/start")
    with harness.queries.measure() as queries:
        await user.press("+1")
    assert queries.count == 0, queries.statements  # the session lives in Redis
    assert user.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    await harness.restart()
    await user.press("+1")
    assert user.last_text().startswith("Count: 2")
    async with aiohttp.ClientSession() as http, http.get(harness.http_url + "/readyz") as response:
        assert (response.status, await response.text()) == (200, "ready: database, redis")
