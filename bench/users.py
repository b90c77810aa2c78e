"""The simulated users: one user playing :data:`bench.wizard.SCRIPT` step by step (closed
loop), updates sent on a clock at a given rate (open loop), and what a failed user saw (a
transcript for a post-mortem)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server import BenchState
from sandbox.botapi import BotApiState


def _find_button(
    state: BotApiState, bot_id: int, user_id: int, label: str, prefix: bool
) -> tuple[int, str] | None:
    chat = state.chat(bot_id, user_id)
    if chat is None:
        return None
    for message in sorted(chat.messages.values(), key=lambda m: -m.message_id):
        if not message.from_bot or message.deleted or not message.reply_markup:
            continue
        for row in message.reply_markup.get("inline_keyboard", []):
            for button in row:
                text = button.get("text", "")
                if (text.startswith(label) if prefix else text == label) and button.get(
                    "callback_data"
                ):
                    return message.message_id, button["callback_data"]
    return None


async def act(
    state: BenchState,
    bot_id: int,
    user_id: int,
    step: tuple[str, str],
    timeout: float,  # noqa: ASYNC109
) -> float:
    """One action of one user (a typed text, or a press of the newest button so labelled);
    returns the seconds from the update to the bot's first visible reaction in the chat."""
    kind, arg = step
    if kind == "send":
        seen = len(state.replies[user_id])
        started = time.perf_counter()
        state.send_message(user_id, arg, bot=bot_id)
    else:
        async with asyncio.timeout(timeout):
            while (found := _find_button(state, bot_id, user_id, arg, kind == "prefix")) is None:
                await state.wait_reply(user_id, len(state.replies[user_id]), timeout)
        seen = len(state.replies[user_id])
        started = time.perf_counter()
        state.press_inline_button(user_id, callback_data=found[1], message_id=found[0], bot=bot_id)
    try:
        await state.wait_reply(user_id, seen, timeout)
    except TimeoutError:
        raise TimeoutError(f"no reply to {kind} {arg!r} within {timeout:.0f} s") from None
    return state.replies[user_id][seen] - started


async def play(
    state: BenchState,
    bot_id: int,
    user_id: int,
    steps: tuple[tuple[str, str], ...],
    latencies: list[float],
    timeout: float,  # noqa: ASYNC109
    by_step: dict[int, list[float]] | None = None,
    think_typed: float = 0.0,
    rng: random.Random | None = None,
) -> None:
    """One user through ``steps``, each action at once after the reply to the one before
    (closed loop), recording the time from each update to the reply (also per step index in
    ``by_step``). With ``think_typed`` the user first waits before each typed answer (a text
    sent after the first step: a person reading the question and typing a name or a phone
    number), between ``think_typed`` and twice that, uniformly (``rng``): users who all waited
    the same would stay in step and send their answers in bursts. The wait is not part of the
    measured latency."""
    for index, step in enumerate(steps):
        if think_typed > 0 and index > 0 and step[0] == "send":
            await asyncio.sleep(think_typed * (1.0 + (rng or random).random()))
        latencies.append(await act(state, bot_id, user_id, step, timeout))
        if by_step is not None:
            by_step.setdefault(index, []).append(latencies[-1])


@dataclass
class OpenLoopStats:
    """What the open loop's clock did: updates sent, and ticks that found no user ready to act
    while users were still waiting to start (the bot behind: the offered rate not reached)."""

    sent: int = 0
    missed_ticks: int = 0
    first_send: float = 0.0
    last_send: float = 0.0

    @property
    def achieved_rate(self) -> float:
        span = self.last_send - self.first_send
        return (self.sent - 1) / span if self.sent > 1 and span > 0 else 0.0


async def open_loop(
    state: BenchState,
    bot_id: int,
    user_ids: list[int],
    steps: tuple[tuple[str, str], ...],
    *,
    rate: float,
    arrival: str,
    cap: int,
    timeout: float,  # noqa: ASYNC109
    latencies: list[float],
    by_step: dict[int, list[float]],
    on_finished: Callable[[int], None],
    on_failed: Callable[[int, Exception], None],
    rng: random.Random,
) -> OpenLoopStats:
    """Updates sent on a clock, ``rate`` a second (``arrival``: "poisson" for exponential gaps,
    "fixed" for even ones), whatever the bot's latency.

    At each tick one update goes out: the first action of a new user while fewer than ``cap``
    users are playing, else the next action of the user who has waited longest since the
    bot's reply to it. A tick that finds no user ready is missed (counted while users still
    wait to start); the clock does not slow down, so latency is measured below saturation
    and not, as in the closed loop, at it."""
    waiting = deque(user_ids)
    ready: deque[tuple[int, int]] = deque()
    playing = 0
    tasks: set[asyncio.Task[None]] = set()
    stats = OpenLoopStats()
    loop = asyncio.get_running_loop()

    async def one(user_id: int, index: int) -> None:
        nonlocal playing
        try:
            latency = await act(state, bot_id, user_id, steps[index], timeout)
        except Exception as error:
            playing -= 1
            on_failed(user_id, error)
            return
        latencies.append(latency)
        by_step.setdefault(index, []).append(latency)
        if index + 1 < len(steps):
            ready.append((user_id, index + 1))
        else:
            playing -= 1
            on_finished(user_id)

    next_at = loop.time()
    while waiting or playing:
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        next_at += rng.expovariate(rate) if arrival == "poisson" else 1.0 / rate
        if waiting and playing < cap:
            user_id, index = waiting.popleft(), 0
            playing += 1
        elif ready:
            user_id, index = ready.popleft()
        else:
            if waiting:
                stats.missed_ticks += 1
            continue
        now = time.perf_counter()
        if not stats.sent:
            stats.first_send = now
        stats.sent += 1
        stats.last_send = now
        task = asyncio.create_task(one(user_id, index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return stats


def dump_transcript(state: BenchState, bot_id: int, user_id: int, path: Path) -> None:
    """What the failed user saw and what the bot asked for in that chat, for a post-mortem."""
    account = next(b for b in state.bots.values() if b.id == bot_id)
    events = [e.to_json() for e in state.events if e.bot_id == bot_id and e.chat_id == user_id]
    calls = [
        {
            "seq": c.seq,
            "method": c.method,
            "at": c.at,
            "ok": c.ok,
            "description": c.description,
            "params": c.params,
        }
        for c in state.calls
        if c.bot_id == bot_id and str(c.chat_id) == str(user_id)
    ]
    pending = [u for u in account.updates if _update_user(u) == user_id]
    path.write_text(
        json.dumps(
            {"events": events, "calls": calls, "pending_updates": pending},
            ensure_ascii=False,
            indent=1,
            default=str,
        )
    )


def _update_user(update: dict[str, Any]) -> int | None:
    for kind in ("message", "callback_query"):
        if kind in update:
            sender = update[kind].get("from") or {}
            return int(sender["id"]) if "id" in sender else None
    return None
