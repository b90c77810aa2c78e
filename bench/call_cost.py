"""Client CPU of the Bot API calls of one button press, over real HTTP, in one process.

``python -m bench.call_cost`` makes the calls the product's way: :class:`bot.session.BotSession`
with the session middlewares the composition root installs (the replay guard, the send policy
with a flood limiter in this process, the call counter), keyboards built by the renderer's
types. ``--bare`` makes them the bare aiogram bot's way (``AiohttpSession``, no middleware).
A small aiohttp server in a child process answers every call with a realistic answer, so the
figure is this process' CPU only (``time.process_time``): building the method, the
middlewares, aiohttp's request and response, reading the answer.

One press: ``answerCallbackQuery``, ``editMessageText`` with a 6-button keyboard, and one
``sendMessage`` with a keyboard (the wizard sends ≈ 0.24 a update), plus one ``getUpdates``
answer of one update read. Prints, per kind of call and for the press, the minimum and median
of five rounds, in µs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

TOKEN = "42:call-cost-token"

MESSAGE = {
    "message_id": 42,
    "from": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "b_bot"},
    "chat": {"id": 111, "type": "private", "first_name": "An"},
    "date": 1700000000,
    "edit_date": 1700000001,
    "text": "Chọn gói\nMột hai ba",
    "entities": [{"type": "bold", "offset": 0, "length": 8}],
    "reply_markup": {
        "inline_keyboard": [
            [{"text": f"Gói {i}", "callback_data": f"f:pick:{i}:17"} for i in range(2)]
            for _ in range(3)
        ]
    },
}


def _answers() -> dict[str, bytes]:
    from bench.models_cost import PRESS

    def ok(result: Any) -> bytes:
        return json.dumps({"ok": True, "result": result}).encode()

    return {
        "sendMessage": ok(MESSAGE),
        "editMessageText": ok(MESSAGE),
        "answerCallbackQuery": ok(True),
        "getUpdates": ok([PRESS]),
    }


def _serve(port: int) -> None:
    from aiohttp import web

    answers = _answers()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        body = answers[request.match_info["method"]]
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_listening(port: int) -> None:
    for _ in range(600):  # 30 s: a busy machine starts the child slowly
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError("the answering server did not start")


def _bot(url: str, bare: bool) -> Any:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode

    api = TelegramAPIServer.from_base(url)
    default = DefaultBotProperties(parse_mode=ParseMode.HTML)
    if bare:
        from aiogram.client.session.aiohttp import AiohttpSession

        return Bot(TOKEN, session=AiohttpSession(api=api), default=default)

    from bot.flood_control import FloodLimits, LocalFloodLimiter
    from bot.metrics import Metrics
    from bot.middlewares import BotApiCallCounter
    from bot.replay import ReplayGuard
    from bot.session import BotSession
    from bot.telegram_policy import TelegramSendPolicy

    BotSession.prepare_types()
    metrics = Metrics()
    session = BotSession(api=api)
    session.middleware(ReplayGuard(metrics))
    bot = Bot(TOKEN, session=session, default=default)
    # no spacing between messages: the figure is CPU, not the limiter's waits
    limits = FloodLimits(chat_interval=0.0, global_rate=100_000)
    session.middleware(TelegramSendPolicy(limiter=LocalFloodLimiter(limits), metrics=metrics))
    session.middleware(BotApiCallCounter(metrics))
    return bot


def _calls(bot: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    def keyboard() -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=f"Gói {i} – 1.200.000 ₫", callback_data=f"f:p:{i}:17")
                    for i in range(2)
                ]
                for _ in range(3)
            ]
        )

    text = "<b>Chọn gói</b>\nMột hai ba, gói cước phù hợp với doanh nghiệp của bạn."

    async def answer() -> Any:
        return await bot.answer_callback_query(callback_query_id="4382bfdwdsb323b2d9")

    async def edit() -> Any:
        return await bot.edit_message_text(
            chat_id=111, message_id=42, text=text, reply_markup=keyboard()
        )

    async def send() -> Any:
        return await bot.send_message(chat_id=111, text=text, reply_markup=keyboard())

    async def updates() -> Any:
        return await bot.get_updates(offset=1, timeout=0)

    async def press() -> Any:
        await answer()
        await edit()
        await send()
        return await updates()

    return {
        "answerCallbackQuery": answer,
        "editMessageText": edit,
        "sendMessage": send,
        "getUpdates": updates,
        "press (all four)": press,
    }


async def _measure(url: str, bare: bool, calls: int) -> dict[str, tuple[float, float]]:
    bot = _bot(url, bare)
    results: dict[str, tuple[float, float]] = {}
    try:
        for name, call in _calls(bot).items():
            for _ in range(50):  # warm: types built, connection open
                await call()
            times = []
            for _ in range(5):
                started = time.process_time()
                for _ in range(calls):
                    await call()
                times.append((time.process_time() - started) / calls * 1e6)
            results[name] = (min(times), sorted(times)[2])
    finally:
        await bot.session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", action="store_true", help="aiogram alone, as the bare bot")
    parser.add_argument("--calls", type=int, default=500, help="calls per round")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the rounds here")
    args = parser.parse_args()
    if not args.bare:
        import bot  # noqa: F401 - the product's lazy types and one-step bot binding

    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,))
    server.start()
    try:

        async def run() -> dict[str, tuple[float, float]]:
            await _wait_listening(port)
            return await _measure(f"http://127.0.0.1:{port}", args.bare, args.calls)

        if args.profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            results = profiler.runcall(asyncio.run, run())
            profiler.dump_stats(args.profile)
        else:
            results = asyncio.run(run())
    finally:
        server.terminate()
        server.join()
    way = "bare aiogram" if args.bare else "product"
    for name, (low, median) in results.items():
        print(f"{way:12} {name:22} min {low:7.1f} µs  median {median:7.1f} µs")


if __name__ == "__main__":
    main()
