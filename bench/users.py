"""The simulated users: one user playing :data:`bench.wizard.SCRIPT` step by step, and what a
failed user saw (a transcript for a post-mortem)."""

from __future__ import annotations

import asyncio
import json
import time
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


async def play(
    state: BenchState,
    bot_id: int,
    user_id: int,
    steps: tuple[tuple[str, str], ...],
    latencies: list[float],
    timeout: float,  # noqa: ASYNC109
    by_step: dict[int, list[float]] | None = None,
) -> None:
    """One user through ``steps``, recording the time from each update to the reply (also
    per step index in ``by_step``)."""
    for index, (kind, arg) in enumerate(steps):
        if kind == "send":
            seen = len(state.replies[user_id])
            started = time.perf_counter()
            state.send_message(user_id, arg, bot=bot_id)
        else:
            async with asyncio.timeout(timeout):
                while (
                    found := _find_button(state, bot_id, user_id, arg, kind == "prefix")
                ) is None:
                    await state.wait_reply(user_id, len(state.replies[user_id]), timeout)
            seen = len(state.replies[user_id])
            started = time.perf_counter()
            state.press_inline_button(
                user_id, callback_data=found[1], message_id=found[0], bot=bot_id
            )
        try:
            await state.wait_reply(user_id, seen, timeout)
        except TimeoutError:
            raise TimeoutError(f"no reply to {kind} {arg!r} within {timeout:.0f} s") from None
        latencies.append(state.replies[user_id][seen] - started)
        if by_step is not None:
            by_step.setdefault(index, []).append(latencies[-1])


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
