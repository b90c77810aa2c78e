"""The outbox across real processes: ``onesme-bot run`` started as an operator would (the
console script), against the local Bot API server and the VNPT Pay simulator of the test.

- The bot is killed (SIGKILL) after the IPN is applied and while the success message is on its
  way (the Bot API server holds sendMessage to that chat, and never carries it out once the
  client is gone): after a restart **Đăng ký thành công** arrives exactly once.
- Two processes drain one outbox on PostgreSQL: each row is sent exactly once (counted on the
  Bot API server), and both processes take part.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.payments_http import IPN_PATH, RETURN_PATH
from domain.outbox import JsonValue, Notice, NoticeKind
from sandbox.botapi import BotApiServer
from sandbox.vnptpay import SimulatorConfig, start_simulator
from storage.db import Database
from tests.e2e.botapi_client import ChatUser
from tests.e2e.harness import SAMPLE_CATALOG, TEST_TOKEN, free_port
from tests.e2e.payments_fixtures import (
    API_KEY,
    COMPANY,
    MERCHANT_SERVICE_ID,
    SECRET_KEY,
    TAX_CODE,
    Shop,
)
from tests.e2e.test_outbox import cli
from tests.e2e.test_sandbox import command

LEASE_SECONDS = 4
SUCCESS = "Đăng ký thành công"


class BotProcess:
    """One ``onesme-bot run``; its log is kept in a file for the failure message."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str) -> None:
        self.port = int(env["HTTP_PORT"])
        self.log = cwd / f"{name}.log"
        self._file = self.log.open("w")
        self.popen = subprocess.Popen(
            [*command(), "run"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, within: float = 40.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise AssertionError(f"the bot exited: {self.log.read_text()[-3000:]}")
                try:
                    response = await http.get(f"http://127.0.0.1:{self.port}/readyz")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"the bot was not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._file.close()

    async def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.popen.wait, 20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._file.close()


def bot_env(botapi: BotApiServer, db_url: str, **extra: str) -> dict[str, str]:
    if botapi.state.bot_by_token(TEST_TOKEN) is None:
        botapi.state.add_bot(TEST_TOKEN)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VNPTPAY_", "WEBHOOK_", "REDIS_", "OUTBOX_")) and k != "DATABASE_URL"
    }
    port = free_port()
    env.update(
        BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_API_URL=botapi.url,
        DATABASE_URL=db_url,
        HTTP_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        CATALOG_FILE=str(SAMPLE_CATALOG),
        OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        OUTBOX_POLL_SECONDS="0.2",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


@pytest.fixture
def processes() -> Iterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait(timeout=10)
        process._file.close()


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    config = SimulatorConfig(
        merchant_service_id=MERCHANT_SERVICE_ID,
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        return_url="",
        ipn_url="",
        public_base_url="",
        ipn_retries=1,
        ipn_retry_delay=0.0,
    )
    sim = await start_simulator(config)
    try:
        yield sim
    finally:
        await sim.stop()


async def rows(db_url: str, sql: str, **params: Any) -> list[Any]:
    database = Database(db_url)
    try:
        async with database.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await database.dispose()


async def until(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def successes(user: ChatUser) -> list[Any]:
    return [m for m in user.bot_messages() if SUCCESS in (m.text or "")]


@pytest.mark.slow
async def test_killed_after_the_ipn_the_success_message_arrives_once_after_a_restart(
    botapi: BotApiServer,
    simulator: Any,
    db_url: str,
    tmp_path: Path,
    processes: list[BotProcess],
) -> None:
    env = bot_env(
        botapi,
        db_url,
        VNPTPAY_URL=simulator.base_url,
        VNPTPAY_MERCHANT_SERVICE_ID=MERCHANT_SERVICE_ID,
        VNPTPAY_API_KEY=API_KEY,
        VNPTPAY_SECRET_KEY=SECRET_KEY,
    )
    simulator.config.ipn_url = env["PUBLIC_URL"] + IPN_PATH
    simulator.config.return_url = env["PUBLIC_URL"] + RETURN_PATH
    first = BotProcess(env, tmp_path, "first")
    processes.append(first)
    await first.ready()
    owner = ChatUser.create(
        botapi.state, "Minh", last_name="Trần", phone_number="+84912345678", timeout=20.0
    )
    await cli(
        db_url,
        tmp_path,
        *("enterprises", "add", TAX_CODE, COMPANY, "--email", "kt@binhminh.vn"),
        *("--address", "12 Lê Duẩn, Quận 1, TP. Hồ Chí Minh"),
    )
    await cli(db_url, tmp_path, "users", "grant", str(owner.id), "owner", "--enterprise", TAX_CODE)

    async with httpx.AsyncClient(timeout=15.0) as http:
        shop = Shop(bot=None, sim=simulator, clock=None, http=http)  # type: ignore[arg-type]
        await shop.checkout(owner, "VNPT SmartCA", "Gói Cá nhân", "12 tháng")
        url = shop.pay_url(owner)
        moid = await shop.merchant_order_id(url)
        # Telegram holds every sendMessage to the owner (the client dies before the answer)
        held = botapi.state.faults.add("slow", methods=["sendMessage"], chat_id=owner.id, delay=60)
        await shop.pay(url)

        [reply] = await shop.notifications(moid)
        assert reply["reply_code"] == "00"  # the IPN was applied and answered

        async def sending() -> bool:
            found = await rows(db_url, "SELECT status, attempts FROM outbox")
            return bool(found) and found[0].attempts == 1 and held.matched >= 1

        await until(sending, 20, "the worker to be sending the success message")
        first.kill()

    [order] = await rows(db_url, "SELECT status FROM orders")
    assert order.status == "PAID"
    [row] = await rows(db_url, "SELECT id, kind, status, chat_id FROM outbox")
    assert (row.kind, row.status, row.chat_id) == ("payment_succeeded", "pending", owner.id)
    assert successes(owner) == []  # the message was not delivered before the kill
    botapi.state.faults.faults.clear()

    restarted_at = time.monotonic()
    second = BotProcess(env, tmp_path, "second")
    processes.append(second)
    await second.ready()
    await owner.wait_for_text(SUCCESS, timeout=LEASE_SECONDS + 30)
    waited = time.monotonic() - restarted_at
    await asyncio.sleep(LEASE_SECONDS + 1)  # another lease: nothing more comes
    [told] = successes(owner)
    assert "TB-" in (told.text or "")
    [row] = await rows(db_url, "SELECT status, attempts, claimed_by FROM outbox")
    assert (row.status, row.attempts) == ("sent", 2)
    delivered = [
        c
        for c in botapi.state.calls
        if c.method == "sendMessage" and c.chat_id == owner.id and c.ok and SUCCESS in str(c.params)
    ]
    assert len(delivered) == 1
    await second.stop()
    print(f"SIGKILL after the IPN: delivered once {waited:.1f} s after the restart")


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgresql"])
@pytest.mark.slow
async def test_two_processes_drain_one_outbox_each_row_sent_once(
    botapi: BotApiServer, db_url: str, tmp_path: Path, processes: list[BotProcess]
) -> None:
    count = 120
    account = botapi.state.bot_by_token(TEST_TOKEN) or botapi.state.add_bot(TEST_TOKEN)
    users = [botapi.state.create_user(f"P{i}") for i in range(count // 2)]
    for user in users:
        botapi.state._open_chat(account, user.id)
    for name in ("a", "b"):
        port = free_port()
        env = bot_env(
            botapi,
            db_url,
            HTTP_PORT=str(port),
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
            OUTBOX_LEASE_SECONDS="20",
        )
        processes.append(BotProcess(env, tmp_path, name))
    await asyncio.gather(*(p.ready() for p in processes))
    # each send takes a while, so a round of one process cannot drain everything alone
    botapi.state.faults.add("slow", methods=["sendMessage"], delay=0.3)
    mark = len(botapi.state.calls)

    database = Database(db_url)
    try:
        async with database.uow as uow:
            now = datetime.now(UTC)
            for i in range(count):
                user = users[i % len(users)]
                params: dict[str, JsonValue] = {"order": f"DH-{i}", "total": 1000 + i}
                await uow.outbox.add(Notice(NoticeKind.ORDER_EXPIRED, user.id, "vi", params), now)
            await uow.commit()
    finally:
        await database.dispose()

    async def drained() -> list[Any]:
        found = await rows(db_url, "SELECT status, claimed_by FROM outbox")
        return found if all(r.status == "sent" for r in found) else []

    started = time.monotonic()
    done = await until(drained, 120, f"{count} rows to be sent")
    elapsed = time.monotonic() - started
    calls = [
        c
        for c in botapi.state.calls[mark:]
        if c.method == "sendMessage" and c.ok and c.bot_id == account.id
    ]
    orders = Counter(str(c.params.get("text", "")).split("<b>")[1].split("</b>")[0] for c in calls)
    assert orders == {f"DH-{i}": 1 for i in range(count)}  # each row once, none twice
    by_process = Counter(r.claimed_by for r in done)
    assert len(by_process) == 2, by_process  # both processes took part
    for process in processes:
        await process.stop()
    print(f"two processes: {count} sent once each in {elapsed:.1f} s, split {dict(by_process)}")
