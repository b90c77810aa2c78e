"""CPU that aiogram's models cost for one button press, in one process (``time.process_time``).

``python -m bench.models_cost`` does it the product's way (``bot`` imported: its lazy types and
one-step bot binding, :class:`bot.session.BotSession`'s JSON body and short answer reads);
``python -m bench.models_cost --bare`` the bare aiogram bot's way (aiogram alone,
``AiohttpSession``'s form, every answer read in full). One press: the ``getUpdates`` answer
holding it read, ``answerCallbackQuery`` built, serialised and its answer read, a 6-button
keyboard and ``editMessageText`` built, serialised and its answer read. No HTTP: only the
models' work. Prints the minimum and median of five rounds, in µs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

PRESS = {
    "update_id": 1000,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "chat_instance": "-1234",
        "from": {"id": 111, "is_bot": False, "first_name": "An", "language_code": "vi"},
        "data": "f:pick:3:17",
        "message": {
            "message_id": 42,
            "date": 1700000000,
            "chat": {"id": 111, "type": "private", "first_name": "An"},
            "from": {"id": 999, "is_bot": True, "first_name": "Bot", "username": "b_bot"},
            "text": "Chọn gói\nMột hai ba",
            "entities": [{"type": "bold", "offset": 0, "length": 8}],
            "reply_markup": {
                "inline_keyboard": [
                    [{"text": f"Gói {i}", "callback_data": f"f:pick:{i}:17"} for i in range(2)]
                    for _ in range(3)
                ]
            },
        },
    },
}


def rounds(work: Callable[[], object], calls: int = 2000) -> tuple[float, float]:
    work()  # the types are built here, not timed
    times = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            work()
        times.append((time.process_time() - started) / calls * 1e6)
    return min(times), sorted(times)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", action="store_true", help="aiogram alone, as the bare bot")
    args = parser.parse_args()
    if not args.bare:
        import bot  # noqa: F401  # installs the lazy types and the one-step bot binding

    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.enums import ParseMode
    from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    session: Any
    if args.bare:
        session = AiohttpSession()
        serialise = session.build_form_data
    else:
        from bot.session import BotSession

        session = BotSession()
        serialise = session.json_body
    client = Bot(
        "123:abc", session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    updates = json.dumps({"ok": True, "result": [PRESS]})
    edited = json.dumps({"ok": True, "result": PRESS["callback_query"]["message"]})  # type: ignore[index]
    poll = GetUpdates(offset=5, timeout=30)

    def press() -> None:
        session.check_response(client, poll, 200, updates)
        answer = AnswerCallbackQuery(callback_query_id="4382bfdwdsb323b2d9", text=None)
        serialise(client, answer)
        session.check_response(client, answer, 200, '{"ok": true, "result": true}')
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=f"Gói số {i}", callback_data=f"f:pick:{i}:17")
                    for i in (row * 2, row * 2 + 1)
                ]
                for row in range(3)
            ]
        )
        edit = EditMessageText(
            chat_id=111, message_id=42, text="<b>Chọn gói</b>\nMột hai ba", reply_markup=keyboard
        )
        serialise(client, edit)
        session.check_response(client, edit, 200, edited)

    low, median = rounds(press)
    way = "bare aiogram" if args.bare else "product"
    print(f"{way}: one button press, models only: min {low:.1f} µs, median {median:.1f} µs")


if __name__ == "__main__":
    main()
