"""The retry rules of :class:`bot.telegram_policy.TelegramSendPolicy`, with a scripted
``make_request`` and a recording sleep (the real HTTP round trips are in
tests/integration/test_send_policy.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, SendMessage, TelegramMethod
from pydantic import ValidationError

from bot.flood_control import FloodLimiter, FloodLimits
from bot.metrics import Metrics
from bot.settings import format_settings_errors, load_settings
from bot.telegram_policy import (
    RetrySettings,
    TelegramSendPolicy,
    is_transient,
    send_deadline,
    send_policy_for,
)

SEND = SendMessage(chat_id=5, text="Đăng ký thành công")

Outcome = Callable[[TelegramMethod[Any]], Exception | None]


def retry_after(seconds: int) -> Outcome:
    return lambda m: TelegramRetryAfter(m, f"Too Many Requests: retry after {seconds}", seconds)


def server_error(m: TelegramMethod[Any]) -> Exception:
    return TelegramServerError(m, "Bad Gateway")


def network(m: TelegramMethod[Any]) -> Exception:
    return TelegramNetworkError(m, "Request timeout error")


def ok(m: TelegramMethod[Any]) -> None:
    return None


class Script:
    """``make_request`` answering with the given outcomes in turn."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        self.calls += 1
        error = self.outcomes.pop(0)(method)
        if error is not None:
            raise error
        return "sent"


class Run:
    def __init__(self, **retry: Any) -> None:
        self.sleeps: list[float] = []
        self.metrics = Metrics()
        self.policy = TelegramSendPolicy(
            limiter=None, retry=RetrySettings(**retry), metrics=self.metrics, sleep=self.sleep
        )
        self.bot = Bot("42:unit-test-token")

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def send(self, script: Script, method: TelegramMethod[Any] = SEND) -> Any:
        return await self.policy(script, self.bot, method)

    def count(self, result: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "onesme_bot_api_sends_total", {"result": result}
        )
        return value or 0.0


async def test_a_429_is_waited_out_exactly_then_retried() -> None:
    run = Run()
    script = Script(retry_after(2), retry_after(3), ok)
    assert await run.send(script) == "sent"
    assert script.calls == 3 and run.sleeps == [2.0, 3.0]
    assert (run.count("429"), run.count("ok"), run.count("retry"), run.count("failed")) == (
        2,
        1,
        0,
        0,
    )


async def test_each_result_s_counter_child_is_looked_up_once() -> None:
    run = Run(backoff_initial=0.0, jitter=0.0)
    asked: list[str] = []
    labels = run.metrics.bot_api_sends.labels

    def counting_labels(result: str) -> Any:
        asked.append(result)
        return labels(result)

    run.metrics.bot_api_sends.labels = counting_labels  # type: ignore[method-assign,assignment]
    for _ in range(3):
        assert await run.send(Script(retry_after(1), server_error, ok)) == "sent"
    assert (run.count("429"), run.count("retry"), run.count("ok")) == (3, 3, 3)
    assert sorted(asked) == ["429", "ok", "retry"]


async def test_5xx_timeouts_and_garbled_answers_back_off_with_jitter() -> None:
    run = Run(backoff_initial=0.5, backoff_max=8.0, jitter=0.5)
    garbled: Outcome = lambda m: ClientDecodeError("not JSON", ValueError(), "<html>502</html>")  # noqa: E731
    script = Script(server_error, network, garbled, ok)
    assert await run.send(script) == "sent"
    assert script.calls == 4
    for sleep, base in zip(run.sleeps, (0.5, 1.0, 2.0), strict=True):
        assert base <= sleep <= base + 0.5
    assert (run.count("retry"), run.count("ok")) == (3, 1)


async def test_repeated_5xx_give_up_after_max_attempts_with_the_last_error() -> None:
    run = Run(max_attempts=3, backoff_initial=0.01, jitter=0.0)
    script = Script(server_error, server_error, network, ok)
    with pytest.raises(TelegramNetworkError):
        await run.send(script)
    assert script.calls == 3
    assert (run.count("retry"), run.count("failed"), run.count("ok")) == (2, 1, 0)


async def test_429s_do_not_use_up_the_attempts() -> None:
    run = Run(max_attempts=2, backoff_initial=0.01, jitter=0.0)
    script = Script(retry_after(1), retry_after(1), retry_after(1), server_error, ok)
    assert await run.send(script) == "sent"
    assert script.calls == 5


async def test_a_retry_after_beyond_the_time_budget_is_raised_at_once() -> None:
    run = Run(max_seconds=10)
    script = Script(retry_after(30), ok)
    with pytest.raises(TelegramRetryAfter) as raised:
        await run.send(script)
    assert raised.value.retry_after == 30
    assert script.calls == 1 and run.sleeps == []
    assert (run.count("429"), run.count("failed")) == (1, 1)


async def test_no_retry_or_wait_goes_past_the_callers_deadline() -> None:
    """The outbox worker's lease: a 429 whose wait would end after it is raised at once (the
    row is then rescheduled after ``retry_after``), a backoff likewise; within it, retried."""
    run = Run(max_seconds=60, backoff_initial=20, backoff_max=20, jitter=0.0)
    script = Script(retry_after(30), ok)
    with send_deadline(10), pytest.raises(TelegramRetryAfter) as raised:
        await run.send(script)
    assert raised.value.retry_after == 30
    assert script.calls == 1 and run.sleeps == []

    script = Script(server_error, ok)
    with send_deadline(10), pytest.raises(TelegramServerError):
        await run.send(script)  # the backoff (20 s) would end after the deadline
    assert script.calls == 1 and run.sleeps == []

    script = Script(retry_after(3), ok)
    with send_deadline(10):
        assert await run.send(script) == "sent"
    assert script.calls == 2 and run.sleeps == [3.0]

    script = Script(retry_after(30), ok)  # no deadline: max_seconds alone
    assert await run.send(script) == "sent"
    assert run.sleeps == [3.0, 30.0]


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (lambda m: TelegramBadRequest(m, "Bad Request: can't parse entities"), "failed"),
        (
            lambda m: TelegramForbiddenError(m, "Forbidden: bot was blocked by the user"),
            "forbidden",
        ),
    ],
)
async def test_errors_that_cannot_succeed_are_raised_at_once(error: Outcome, result: str) -> None:
    run = Run()
    script = Script(error, ok)
    with pytest.raises((TelegramBadRequest, TelegramForbiddenError)):
        await run.send(script)
    assert script.calls == 1 and run.sleeps == []
    assert run.count(result) == 1
    assert run.count("retry") == run.count("ok") == 0
    if result == "forbidden":
        assert run.count("failed") == 0


async def test_get_updates_goes_straight_through() -> None:
    run = Run()
    script = Script(server_error, ok)
    with pytest.raises(TelegramServerError):
        await run.send(script, GetUpdates(timeout=10))
    assert script.calls == 1 and run.count("failed") == 0


def test_transient_errors() -> None:
    too_many = retry_after(1)(SEND)
    assert too_many is not None and is_transient(too_many)
    assert is_transient(server_error(SEND)) and is_transient(network(SEND))
    assert not is_transient(TelegramBadRequest(SEND, "Bad Request: chat not found"))
    assert not is_transient(TelegramForbiddenError(SEND, "Forbidden"))


async def test_flood_control_failing_lets_the_message_through() -> None:
    class Down(FloodLimiter):
        async def _try(self, chat: str, token: str, ticket: int) -> tuple[float, int, bool]:
            raise ConnectionError("Redis is down")

    run = Run()
    run.policy.limiter = Down(FloodLimits())
    script = Script(ok)
    assert await run.send(script) == "sent"
    assert script.calls == 1 and run.count("ok") == 1


def test_the_policy_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(_env_file=None)
    assert (defaults.flood_chat_interval, defaults.flood_global_rate) == (1.0, 30)
    assert (defaults.telegram_retry_attempts, defaults.telegram_retry_max_seconds) == (5, 60.0)
    monkeypatch.setenv("FLOOD_CHAT_INTERVAL", "0.5")
    monkeypatch.setenv("FLOOD_GLOBAL_RATE", "20")
    monkeypatch.setenv("TELEGRAM_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("TELEGRAM_RETRY_MAX_SECONDS", "15")
    policy = send_policy_for(load_settings(_env_file=None), bot_id=42)
    assert policy.limiter is not None
    assert (policy.limiter.limits.chat_interval, policy.limiter.limits.global_rate) == (0.5, 20)
    assert (policy.retry.max_attempts, policy.retry.max_seconds) == (3, 15.0)


def test_bad_policy_settings_are_one_clear_line_each() -> None:
    with pytest.raises(ValidationError) as raised:
        load_settings(
            _env_file=None,
            FLOOD_CHAT_INTERVAL="soon",
            FLOOD_GLOBAL_RATE="0",
            TELEGRAM_RETRY_MAX_SECONDS="-1",
        )
    assert format_settings_errors(raised.value) == [
        "FLOOD_CHAT_INTERVAL: must be a number of seconds ≥ 0, e.g. 1 or 0.5 (got 'soon')",
        "FLOOD_GLOBAL_RATE: must be a whole number ≥ 1 (got '0')",
        "TELEGRAM_RETRY_MAX_SECONDS: must be a number of seconds ≥ 0, e.g. 60 (got '-1')",
    ]
