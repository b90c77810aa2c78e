"""Telegram's limits, over real HTTP: an aiogram Bot with the send policy installed as
``build_app`` installs it, against the local Bot API server and its fault switches. Times are
the server's (``ApiCall.received_at`` / ``at``, its monotonic clock), so they show what
Telegram would see."""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

from bot.flood_control import FloodLimits, RedisFloodLimiter
from bot.metrics import Metrics
from sandbox.botapi import ApiCall, BotApiServer, BotApiState, run_botapi_server
from tests.integration.send_policy_support import policy_bot

TOKEN = "434343:send-policy-test-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state() -> BotApiState:
    state = BotApiState()
    state.add_bot(TOKEN, username="onesme_test_bot")
    return state


@pytest.fixture
async def server(state: BotApiState) -> AsyncIterator[BotApiServer]:
    async with run_botapi_server(state) as running:
        yield running


def open_chats(state: BotApiState, count: int, first: int = 7_000_001) -> list[int]:
    """Users who wrote to the bot (so it may message them)."""
    ids = []
    for user_id in range(first, first + count):
        state.create_user(f"U{user_id}", user_id=user_id)
        state.send_message(user_id, "/start")
        ids.append(user_id)
    return ids


def sends(state: BotApiState) -> list[ApiCall]:
    return state.calls_of("sendMessage")


def delivered(state: BotApiState) -> collections.Counter[int]:
    return collections.Counter(call.chat_id for call in sends(state) if call.ok)


def count(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value("onesme_bot_api_sends_total", {"result": result})
    return value or 0.0


def most_in_any_window(times: Iterable[float], window: float) -> int:
    ordered = sorted(times)
    most, j = 0, 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        most = max(most, j - i)
    return most


def later_calls(calls: list[ApiCall], call: ApiCall) -> list[ApiCall]:
    return [c for c in calls if c.chat_id == call.chat_id and c.seq > call.seq]


async def send_all(bot: Any, chats: Iterable[int], text: str = "Đăng ký thành công") -> None:
    await asyncio.gather(*(bot.send_message(chat, f"{text} #{i}") for i, chat in enumerate(chats)))


# -- faults: 429, 5xx, timeouts ----------------------------------------------------------------


@pytest.mark.slow
async def test_429_on_every_third_send_200_notifications(
    server: BotApiServer, state: BotApiState
) -> None:
    chats = open_chats(state, 200)
    fault = state.faults.too_many_requests(2, methods=["sendMessage"], every=3)
    metrics = Metrics()
    bot = policy_bot(server.url, TOKEN, metrics=metrics)
    try:
        await send_all(bot, chats)
    finally:
        await bot.session.close()

    calls = sends(state)
    refused = [c for c in calls if c.status == 429]
    assert delivered(state) == dict.fromkeys(chats, 1)  # all delivered, none twice
    assert len(refused) == fault.fired == len(calls) // 3 >= 99
    assert len(calls) == 200 + len(refused)
    for call in refused:
        retry = later_calls(calls, call)[0]
        assert retry.received_at - call.at >= 2.0, (call, retry)
    assert (count(metrics, "ok"), count(metrics, "429")) == (200, len(refused))
    assert count(metrics, "failed") == 0
    assert state.violations == []


async def test_5xx_bursts_are_retried_with_backoff(
    server: BotApiServer, state: BotApiState
) -> None:
    chats = open_chats(state, 40)
    burst = state.faults.server_errors(4, status=502, methods=["sendMessage"])
    scattered = state.faults.server_errors(3, status=500, methods=["sendMessage"], every=7)
    metrics = Metrics()
    bot = policy_bot(server.url, TOKEN, metrics=metrics)
    started = time.monotonic()
    try:
        await send_all(bot, chats)
    finally:
        await bot.session.close()
    elapsed = time.monotonic() - started

    calls = sends(state)
    assert delivered(state) == dict.fromkeys(chats, 1)
    assert (burst.fired, scattered.fired) == (4, 3)
    assert sorted(c.status for c in calls if not c.ok) == [500] * 3 + [502] * 4
    assert len(calls) == 47
    for call in (c for c in calls if not c.ok):
        retry = later_calls(calls, call)[0]
        assert retry.received_at - call.at >= 0.5  # the first backoff is 0.5 s + jitter
    assert elapsed < 30
    assert (count(metrics, "retry"), count(metrics, "ok")) == (7, 40)
    assert state.violations == []


async def test_timeouts_are_retried_and_nothing_arrives_twice(
    server: BotApiServer, state: BotApiState
) -> None:
    chats = open_chats(state, 10)
    slow = state.faults.slow(3.0, methods=["sendMessage"], times=3)
    metrics = Metrics()
    bot = policy_bot(server.url, TOKEN, metrics=metrics, timeout=1.0)
    started = time.monotonic()
    try:
        await send_all(bot, chats)
    finally:
        await bot.session.close()
    elapsed = time.monotonic() - started

    assert slow.fired == 3
    assert delivered(state) == dict.fromkeys(chats, 1)
    # the server noticed the callers had left and did not carry the slow calls out
    await state.wait_until(lambda: len([c for c in sends(state) if c.status == 499]) == 3, 5)
    gone = [c for c in sends(state) if c.status == 499]
    assert len(gone) == 3 and all(c.fault == slow.id for c in gone)
    assert count(metrics, "retry") == 3
    assert elapsed < 30


async def test_a_slow_answer_within_the_timeout_is_just_late(
    server: BotApiServer, state: BotApiState
) -> None:
    (chat,) = open_chats(state, 1)
    state.faults.slow(0.5, methods=["sendMessage"], times=1)
    bot = policy_bot(server.url, TOKEN, timeout=5.0)
    try:
        await bot.send_message(chat, "chậm")
    finally:
        await bot.session.close()
    (call,) = sends(state)
    assert call.ok and call.at - call.received_at >= 0.5


# -- errors that cannot succeed ----------------------------------------------------------------


async def test_403_for_a_user_who_never_wrote_is_raised_at_once(
    server: BotApiServer, state: BotApiState
) -> None:
    stranger = state.create_user("Lạ", user_id=7_100_001)
    metrics = Metrics()
    bot = policy_bot(server.url, TOKEN, metrics=metrics)
    started = time.monotonic()
    try:
        with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
            await bot.send_message(stranger.id, "Xin chào")
    finally:
        await bot.session.close()
    assert time.monotonic() - started < 1.0
    assert len(sends(state)) == 1 and sends(state)[0].status == 403
    assert (count(metrics, "forbidden"), count(metrics, "retry")) == (1, 0)


async def test_403_for_a_user_who_blocked_the_bot_is_raised_at_once(
    server: BotApiServer, state: BotApiState
) -> None:
    (chat,) = open_chats(state, 1)
    state.block_bot(chat)
    bot = policy_bot(server.url, TOKEN)
    try:
        with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
            await bot.send_message(chat, "Xin chào")
    finally:
        await bot.session.close()
    assert [c.status for c in sends(state)] == [403]


async def test_400_is_not_retried(server: BotApiServer, state: BotApiState) -> None:
    (chat,) = open_chats(state, 1)
    metrics = Metrics()
    bot = policy_bot(server.url, TOKEN, metrics=metrics)
    try:
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(chat, "<b>unclosed")
    finally:
        await bot.session.close()
    assert [c.status for c in sends(state)] == [400]
    assert (count(metrics, "failed"), count(metrics, "retry")) == (1, 0)


# -- flood control -----------------------------------------------------------------------------


@pytest.mark.slow
async def test_100_notifications_to_one_chat_are_spaced_a_second_apart(
    server: BotApiServer, state: BotApiState
) -> None:
    (chat,) = open_chats(state, 1)
    metrics = Metrics()
    bot = policy_bot(server.url, TOKEN, metrics=metrics)
    try:
        await send_all(bot, [chat] * 100)
    finally:
        await bot.session.close()

    calls = sends(state)
    assert len(calls) == 100 and all(c.ok for c in calls)
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 1.0, min(gaps)
    # stronger: each one is sent a second after Telegram answered the previous one
    assert all(b.received_at - a.at >= 1.0 for a, b in itertools.pairwise(calls))
    waited = metrics.registry.get_sample_value("onesme_flood_wait_seconds_sum")
    assert waited is not None and waited > 99 * 50  # 100 waiting messages, 1..99 s each


@pytest.mark.slow
async def test_300_notifications_to_300_chats_keep_30_a_second(
    server: BotApiServer, state: BotApiState
) -> None:
    chats = open_chats(state, 300)
    bot = policy_bot(server.url, TOKEN)
    started = time.monotonic()
    try:
        await send_all(bot, chats)
    finally:
        await bot.session.close()
    elapsed = time.monotonic() - started

    calls = sends(state)
    assert delivered(state) == dict.fromkeys(chats, 1)
    assert most_in_any_window((c.received_at for c in calls), 1.0) <= 30
    assert 9.0 <= elapsed < 40.0  # 300 at 30/s: 10 s ideally; a loaded machine may be slower


# -- fault switches over HTTP ------------------------------------------------------------------


async def test_fault_switches_over_the_sim_http_routes(
    server: BotApiServer, state: BotApiState
) -> None:
    (chat,) = open_chats(state, 1)
    async with aiohttp.ClientSession(base_url=server.url) as http:
        async with http.post(
            "/_sim/faults",
            json={"kind": "retry_after", "retry_after": 7, "methods": ["sendMessage"]},
        ) as response:
            created = (await response.json())["result"]
        async with http.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": chat, "text": "x"}) as r:
            assert r.status == 429
            assert await r.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            }
        async with http.get("/_sim/faults") as response:
            (listed,) = (await response.json())["result"]
        assert listed["id"] == created["id"] and listed["fired"] == 1
        async with http.post("/_sim/faults", json={"kind": "server_error", "status": 200}) as r:
            assert r.status == 400 and "5xx" in (await r.json())["error"]
        async with http.post("/_sim/faults", json={"kind": "nope"}) as r:
            assert r.status == 400
        async with http.delete(f"/_sim/faults/{created['id']}") as response:
            assert (await response.json())["ok"] is True
        async with http.post(
            "/_sim/faults", json={"kind": "server_error", "status": 502, "times": 1}
        ) as response:
            assert response.status == 200
        async with http.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": chat, "text": "y"}) as r:
            assert r.status == 502 and (await r.json())["description"] == "Bad Gateway"
        async with http.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": chat, "text": "z"}) as r:
            assert r.status == 200
        async with http.delete("/_sim/faults") as response:
            assert (await response.json())["ok"] is True
        async with http.get("/_sim/calls") as response:
            calls = (await response.json())["result"]
    assert [c["status"] for c in calls] == [429, 502, 200]
    assert all(c["answered_at"] >= c["received_at"] > 0 for c in calls)
    assert state.faults.faults == [] and state.violations == []


async def test_chat_specific_faults(server: BotApiServer, state: BotApiState) -> None:
    first, second = open_chats(state, 2)
    state.faults.too_many_requests(1, chat_id=first, times=1)
    bot = policy_bot(server.url, TOKEN)
    try:
        await bot.send_message(second, "b")
        await bot.send_message(first, "a")
    finally:
        await bot.session.close()
    assert [(c.chat_id, c.status) for c in sends(state)] == [
        (second, 200),
        (first, 429),
        (first, 200),
    ]


# -- the limiter shared through Redis ----------------------------------------------------------


@pytest.mark.redis
async def test_redis_limiter_holds_a_chat_and_frees_a_dead_holders_slot(
    redis_client: Any, redis_prefix: str
) -> None:
    limits = FloodLimits(chat_interval=0.3, global_rate=2, global_window=0.3, lease=0.5)
    one = RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1)
    other = RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1)
    permit = await one.acquire("9")
    assert permit.waited < 0.1
    await one.release(permit)
    assert (await other.acquire("9")).waited >= 0.25  # held 0.3 s after the answer
    # the second permit is never released (its holder "died"): the lease frees the chat
    started = time.monotonic()
    await one.acquire("9")
    assert time.monotonic() - started >= 0.4
    # global (another bot's keys): 2 slots; chats 1 and 2 take them, chat 3 waits for a
    # release + the window
    one, other = (
        RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=2) for _ in range(2)
    )
    a, b = await one.acquire("1"), await other.acquire("2")
    assert a.waited < 0.1 and b.waited < 0.1
    await one.release(a)
    await other.release(b)
    assert (await one.acquire("3")).waited >= 0.25
    keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}flood:*")]
    ttls = [await redis_client.pttl(key) for key in keys]
    assert len(keys) == 6 and all(ttl > 0 for ttl in ttls)  # every key expires by itself


@pytest.mark.redis
@pytest.mark.slow
async def test_two_processes_share_the_limits_through_redis(
    server: BotApiServer, state: BotApiState, redis_url: str, redis_prefix: str
) -> None:
    (shared,) = open_chats(state, 1, first=7_200_001)
    own = [open_chats(state, 30, first=7_300_001), open_chats(state, 30, first=7_400_001)]
    rate = 10
    processes = []
    started = time.monotonic()
    for tag, chats in zip(("p1", "p2"), own, strict=True):
        argv = [server.url, TOKEN, redis_url, redis_prefix, tag, str(rate)]
        argv += [str(shared)] * 5 + [str(chat) for chat in chats]
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.send_policy_support",
                *argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        )
    codes = [await asyncio.wait_for(p.wait(), 120) for p in processes]
    elapsed = time.monotonic() - started
    assert codes == [0, 0]

    calls = sends(state)
    assert len(calls) == 70 and all(c.ok for c in calls)
    to_shared = [c for c in calls if c.chat_id == shared]
    assert {c.params["text"].split()[0] for c in to_shared} == {"p1", "p2"}
    assert all(b.received_at - a.at >= 1.0 for a, b in itertools.pairwise(to_shared))
    assert most_in_any_window((c.received_at for c in calls), 1.0) <= rate
    assert elapsed >= 9.0  # 10 messages to one chat take at least 9 s


async def test_a_fault_without_methods_spares_get_updates_and_the_403_stays(
    server: BotApiServer, state: BotApiState
) -> None:
    stranger = state.create_user("Lạ", user_id=7_500_001)
    fault = state.faults.server_errors(2)
    async with aiohttp.ClientSession(base_url=server.url) as http:
        async with http.post(f"/bot{TOKEN}/getUpdates", json={"timeout": 0}) as r:
            assert r.status == 200
        async with http.post(f"/bot{TOKEN}/getMe") as r:
            assert r.status == 500
        async with http.post(
            f"/bot{TOKEN}/sendMessage", json={"chat_id": stranger.id, "text": "x"}
        ) as r:
            assert r.status == 500
        async with http.post(
            f"/bot{TOKEN}/sendMessage", json={"chat_id": stranger.id, "text": "x"}
        ) as r:
            assert r.status == 403
    assert fault.fired == 2 and fault.exhausted
    assert [c.fault for c in state.calls] == [None, fault.id, fault.id, None]
