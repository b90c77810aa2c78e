"""Every message reaches its user (issue 10), end to end over HTTP through the local Bot API
server: who is reachable is recorded from any update, and what the bot owes people outside the
update in hand goes through the durable outbox.

- An owner granted by the CLI who starts with /services (never /start) gets join requests.
- A user who blocked the bot: their rows close as forbidden after one 403 each chat, they are
  marked unreachable, the other rows go out; when they write again they are reachable again.
- The outbox under Telegram's faults: 429 retry_after=2 on every third send, 5xx bursts,
  timeouts: every row delivered once, none sooner than retry_after.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.outbox import Notice, NoticeKind
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import BotHarness
from tests.e2e.test_accounts import ask_to_join, checkout, choose
from tests.e2e.test_sandbox import command

TAX = "0100233488"
COMPANY = "Công ty TNHH An Bình"


async def cli(db_url: str, cwd: Path, *args: str) -> str:
    """``onesme-bot …`` as an operator runs it (the console script, a separate process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env["DATABASE_URL"] = db_url
    process = await asyncio.create_subprocess_exec(
        *command(),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, (args, out.decode(), err.decode())
    return out.decode()


async def rows(bot: BotHarness, sql: str, **params: Any) -> list[Any]:
    async with bot.database.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def outbox(bot: BotHarness) -> list[Any]:
    return await rows(
        bot, "SELECT id, kind, chat_id, status, attempts, last_error FROM outbox ORDER BY id"
    )


async def until(check: Any, within: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


async def write(bot: BotHarness, *notices: Notice) -> None:
    """Rows as a use case writes them (through the unit of work, one commit); the commit wakes
    the worker."""
    async with bot.database.uow as uow:
        for notice in notices:
            await uow.outbox.add(notice, bot.context().clock.now())
        await uow.commit()


def expired(chat: int, order: str) -> Notice:
    return Notice(NoticeKind.ORDER_EXPIRED, chat, "vi", {"order": order, "total": 275_000})


def sends(bot: BotHarness, chat: int | None = None, since: int = 0) -> list[Any]:
    return bot.api_calls(
        since,
        predicate=lambda c: c.method == "sendMessage" and (chat is None or c.chat_id == chat),
    )


# --- the scenario --------------------------------------------------------------------


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_an_owner_granted_by_the_cli_who_starts_with_services_gets_join_requests(
    bot_factory: BotFactory, db_url: str, tmp_path: Path
) -> None:
    bot = await bot_factory("polling")
    owner = bot.user("Lan", last_name="Nguyễn", phone_number="+84912345678")
    await cli(
        db_url,
        tmp_path,
        *("enterprises", "add", TAX, COMPANY, "--email", "kt@anbinh.vn"),
        *("--address", "57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội"),
    )
    await cli(db_url, tmp_path, "users", "grant", str(owner.id), "owner", "--enterprise", TAX)
    [(seen,)] = await rows(bot, "SELECT chat_seen_at FROM users WHERE id = :u", u=owner.id)
    assert seen is None  # granted by id: the bot may not write to them yet

    # never /start: the catalog first, then an OS registration (Đăng ký thành công at once)
    await choose(owner, "Lắp đặt camera giám sát", "Gói 4 camera", "1 năm")
    await checkout(owner)
    assert "Đăng ký thành công" in owner.last_text()

    joiner = bot.user("Minh", last_name="Phạm", phone_number="+84987654321")
    await ask_to_join(joiner, TAX)
    answer = joiner.last_text()
    assert "chưa có chủ sử dụng Telegram" not in answer
    assert "Đã gửi yêu cầu tham gia" in answer
    ask = await owner.wait_for_text("muốn tham gia")
    assert "Minh Phạm" in (ask.text or "") and ask.labels == [["Chấp nhận", "Từ chối"]]
    await owner.press("Chấp nhận", message_id=ask.message_id)
    assert "Đã chấp nhận" in owner.last_text()
    await joiner.wait_for_text("đã được chấp nhận")
    assert await rows(bot, "SELECT role FROM memberships WHERE user_id = :u", u=joiner.id) == [
        ("member",)
    ]

    async def settled() -> list[Any]:
        found = await outbox(bot)
        return found if all(r.status == "sent" for r in found) else []

    told = await until(settled, what="the outbox to be sent")
    assert [(r.kind, r.chat_id) for r in told] == [
        ("join_requested", owner.id),
        ("join_decided", joiner.id),
    ]
    assert len([m for m in owner.bot_messages() if "muốn tham gia" in (m.text or "")]) == 1


# --- 403 -------------------------------------------------------------------------------------


async def test_a_user_who_blocked_the_bot_is_marked_unreachable_and_blocks_nothing(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    fine = bot.user("An", strict=False)  # the 403s below are expected, not the bot's mistakes
    gone = bot.user("Bình", strict=False)
    await fine.send("/help")
    await gone.send("/help")
    chat = bot.state.chat(bot.bot_id, gone.id)
    assert chat is not None
    chat.blocked = True  # blocked without the bot being told (no my_chat_member seen)
    stranger = ChatUser.create(bot.state, "Chưa từng nhắn", bot=bot.bot_id)  # never wrote
    mark = len(bot.state.calls)

    await write(
        bot,
        *(expired(gone.id, f"DH-GONE-{i}") for i in range(3)),
        expired(stranger.id, "DH-STRANGER"),
        *(expired(fine.id, f"DH-FINE-{i}") for i in range(3)),
    )
    for i in range(3):
        await fine.wait_for_text(f"DH-FINE-{i}", timeout=20)

    async def settled() -> list[Any]:
        found = await outbox(bot)
        return found if all(r.status != "pending" for r in found) else []

    done = await until(settled, what="every row to be closed")
    by_chat = Counter((r.chat_id, r.status) for r in done)
    assert by_chat == {
        (gone.id, "forbidden"): 3,
        (stranger.id, "forbidden"): 1,
        (fine.id, "sent"): 3,
    }
    assert {r.attempts for r in done} == {1}  # nothing retried
    # one 403 per refusing chat: the chat's other rows were closed without asking again
    assert len(sends(bot, gone.id, mark)) == 1 and len(sends(bot, stranger.id, mark)) == 1
    assert all(not c.ok and c.status == 403 for c in sends(bot, gone.id, mark))
    [(unreachable,)] = await rows(bot, "SELECT unreachable_at FROM users WHERE id = :u", u=gone.id)
    assert unreachable is not None
    for _ in range(3):  # more rounds (counted, not timed): still nothing asked again
        await bot.context().outbox.run_once()
    assert len(sends(bot, gone.id, mark)) == 1
    refused = [(v.method, v.description) for v in bot.state.violations]
    assert refused == [
        ("sendMessage", "Forbidden: bot was blocked by the user"),
        ("sendMessage", "Forbidden: bot can't initiate conversation with a user"),
    ] or refused == [
        ("sendMessage", "Forbidden: bot can't initiate conversation with a user"),
        ("sendMessage", "Forbidden: bot was blocked by the user"),
    ]
    bot.state.violations.clear()  # expected: Telegram's answer to a chat that refuses the bot

    # they write again: reachable again, and what is owed to them from now on reaches them
    await gone.send("/help")
    [(unreachable,)] = await rows(bot, "SELECT unreachable_at FROM users WHERE id = :u", u=gone.id)
    assert unreachable is None
    await write(bot, expired(gone.id, "DH-BACK"))
    await gone.wait_for_text("DH-BACK", timeout=20)


async def test_blocking_the_bot_is_recorded_from_telegram_s_update(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    user = bot.user("Cúc")
    await user.send("/help")
    bot.state.block_bot(user.id)

    async def marked() -> bool:
        found = await rows(bot, "SELECT unreachable_at FROM users WHERE id = :u", u=user.id)
        return bool(found) and found[0][0] is not None

    await until(marked, within=15, what="the my_chat_member update to be recorded")
    await user.send("/help")  # unblocks
    assert not await marked()


async def test_a_known_user_s_press_costs_no_statement_for_being_reachable(
    bot_factory: BotFactory,
) -> None:
    """The reachable-user record is written once (new user), then only when the profile
    changes: the press of a known user runs exactly the session's load and save."""
    bot = await bot_factory("polling")
    user = bot.user("Minh")
    with bot.queries.measure() as first:
        await user.send("/help")
    assert any("INSERT INTO users" in s for s in first.statements)
    with bot.queries.measure() as again:
        await user.send("/help")
    assert not any("users" in s for s in again.statements), again.statements
    assert bot.context().contacts is not None and bot.context().contacts.writes == 1


# --- metrics ---------------------------------------------------------------------------------


def gauge(metrics: str, name: str) -> float:
    [line] = [x for x in metrics.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


@pytest.mark.slow
async def test_outbox_depth_and_age_are_exported_and_readiness_stays_true(
    bot_factory: BotFactory,
) -> None:
    """A Telegram that holds messages backs the outbox up: /metrics shows how deep and how
    old; the bot stays ready (the database is up: nothing is lost); then it drains to 0."""
    bot = await bot_factory("polling")
    user = bot.user("Hạnh")
    await user.send("/help")
    bot.state.faults.add("slow", methods=["sendMessage"], chat_id=user.id, delay=4.0)
    await write(bot, *(expired(user.id, f"DH-M{i}") for i in range(3)))
    async with httpx.AsyncClient(timeout=5.0) as http:

        async def backed_up() -> str:
            text_ = (await http.get(bot.http_url + "/metrics")).text
            return text_ if gauge(text_, "onesme_outbox_depth") >= 2 else ""

        metrics = await until(backed_up, within=20, what="the depth gauge to show the backlog")
        assert gauge(metrics, "onesme_outbox_oldest_pending_seconds") > 0
        ready = await http.get(bot.http_url + "/readyz")
        assert (ready.status_code, ready.text) == (200, "ready: database")
        for i in range(3):
            await user.wait_for_text(f"DH-M{i}", timeout=40)

        async def drained() -> str:
            text_ = (await http.get(bot.http_url + "/metrics")).text
            return text_ if gauge(text_, "onesme_outbox_depth") == 0 else ""

        metrics = await until(drained, within=20, what="the depth gauge to come back to 0")
        assert gauge(metrics, "onesme_outbox_oldest_pending_seconds") == 0
        assert 'onesme_outbox_deliveries_total{result="sent"} 3.0' in metrics


# --- Telegram's faults -----------------------------------------------------------------------


@pytest.mark.slow
async def test_200_notices_with_a_429_on_every_third_send_arrive_once_each(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    users = [bot.user(f"U{i}") for i in range(200)]
    for user in users:
        bot.state._open_chat(bot.state.resolve_bot(bot.bot_id), user.id)
    fault = bot.state.faults.add("retry_after", methods=["sendMessage"], every=3, retry_after=2)
    mark = len(bot.state.calls)
    started = time.monotonic()
    await write(bot, *(expired(u.id, f"DH-{u.id}") for u in users))

    async def settled() -> list[Any]:
        found = await outbox(bot)
        return found if all(r.status != "pending" for r in found) else []

    done = await until(settled, within=180, what="200 rows to be delivered")
    elapsed = time.monotonic() - started
    assert Counter(r.status for r in done) == {"sent": 200}
    calls = sends(bot, since=mark)
    delivered = Counter(c.chat_id for c in calls if c.ok)
    assert delivered == dict.fromkeys((u.id for u in users), 1)  # each once, none twice
    refused = [c for c in calls if c.status == 429]
    assert fault.fired == len(refused) >= 60
    for call in refused:  # the retry of a refused send came no sooner than retry_after
        later = [c for c in calls if c.chat_id == call.chat_id and c.seq > call.seq]
        assert later, call
        assert later[0].received_at - call.at >= 2.0 - 0.05, (call, later[0])
    for user in users[:5]:
        assert len([m for m in user.bot_messages() if f"DH-{user.id}" in (m.text or "")]) == 1
    print(f"429 every 3rd: 200 sent, {len(refused)} refused, 0 duplicates, {elapsed:.1f} s")


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "server_error", "status": 502, "every": 2},
        {"kind": "server_error", "status": 500, "times": 12},
        {"kind": "slow", "delay": 8.0, "every": 4, "times": 6},
    ],
    ids=["5xx-every-second", "5xx-burst", "timeouts"],
)
async def test_5xx_bursts_and_timeouts_lose_nothing(
    bot_factory: BotFactory, fault: dict[str, Any]
) -> None:
    bot = await bot_factory("polling")
    users = [bot.user(f"V{i}") for i in range(30)]
    for user in users:
        bot.state._open_chat(bot.state.resolve_bot(bot.bot_id), user.id)
    if fault["kind"] == "slow":  # answers later than the bot waits: a client-side timeout
        bot.context().bot.session.timeout = 2.0
    switch = bot.state.faults.add(methods=["sendMessage"], **fault)
    mark = len(bot.state.calls)
    await write(bot, *(expired(u.id, f"DH-{u.id}") for u in users))

    async def settled() -> list[Any]:
        found = await outbox(bot)
        return found if all(r.status != "pending" for r in found) else []

    done = await until(settled, within=240, what="30 rows to be delivered")
    assert Counter(r.status for r in done) == {"sent": 30}
    delivered = Counter(c.chat_id for c in sends(bot, since=mark) if c.ok)
    assert delivered == dict.fromkeys((u.id for u in users), 1)
    assert switch.fired >= 1
    print(f"{fault}: 30 sent, {switch.fired} faulted, 0 duplicates, 0 lost")
