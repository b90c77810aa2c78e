"""A bare aiogram 3 bot playing the wizard (:mod:`bench.wizard`): one ``State`` per step,
typed ``CallbackData``, ``MemoryStorage``; aiogram's own polling or webhook handler.

    python -m bench.bare_aiogram --api URL --token TOKEN [--mode webhook --port P --secret S]

Filters are the fast idiom (``StateFilter`` and ``CallbackData.filter()``, both asynchronous),
so this is a well-written aiogram bot, not a slow one. SIGUSR1 writes the size of every
stored conversation (JSON of state and data, in bytes) to ``--state-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bench import wizard

WEBHOOK_PATH = "/webhook"


class Step(CallbackData, prefix="w"):
    action: str
    value: str = ""


class Wizard(StatesGroup):
    service = State()
    details = State()
    plans = State()
    cycles = State()
    chosen = State()
    plan_promo = State()
    addons = State()
    invoice_promo = State()
    summary = State()
    invoice_info = State()
    customer_info = State()
    contact_name = State()
    contact_phone = State()
    contact_email = State()
    final = State()
    confirm = State()


def markup(rows: wizard.Rows) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
            for row in rows
        ]
    )


async def show(query: CallbackQuery, screen: wizard.Screen) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(screen[0], reply_markup=markup(screen[1]))


async def send(message: Message, screen: wizard.Screen) -> None:
    await message.answer(screen[0], reply_markup=markup(screen[1]))


Update = Callable[[dict[str, Any], Step], None]


def button_step(
    router: Router,
    state: State,
    action: str,
    next_state: State,
    draw: Callable[[dict[str, Any]], wizard.Screen],
    remember: Update | None = None,
) -> None:
    """A step: in ``state`` the button ``action`` stores its value, moves to ``next_state``
    and edits the message into ``draw``'s screen."""

    @router.callback_query(StateFilter(state), Step.filter(F.action == action))
    async def handler(query: CallbackQuery, callback_data: Step, state: FSMContext) -> None:
        data = await state.get_data()
        if remember is not None:
            remember(data, callback_data)
            await state.set_data(data)
        await state.set_state(next_state)
        await show(query, draw(data))


def _set(key: str) -> Update:
    def update(data: dict[str, Any], step: Step) -> None:
        data[key] = step.value

    return update


def _toggle_addon(data: dict[str, Any], step: Step) -> None:
    ticked = list(data.get("addons", []))
    if step.value in ticked:
        ticked.remove(step.value)
    else:
        ticked.append(step.value)
    data["addons"] = ticked


def _toggle_terms(data: dict[str, Any], step: Step) -> None:
    data["terms"] = not data.get("terms", False)


def create_router() -> Router:
    router = Router(name="wizard")

    @router.message(Command("services"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Wizard.service)
        await state.set_data({})
        await send(message, wizard.services())

    @router.callback_query(Step.filter(F.action == "cancel"))
    async def cancel(query: CallbackQuery, state: FSMContext) -> None:
        await state.clear()
        await show(query, wizard.cancelled())

    w = Wizard
    button_step(router, w.service, "svc", w.details, wizard.details, _set("service"))
    button_step(router, w.details, "prices", w.plans, wizard.plans)
    button_step(router, w.plans, "plan", w.cycles, wizard.cycles, _set("plan"))
    button_step(router, w.cycles, "cycle", w.chosen, wizard.chosen, _set("cycle"))
    button_step(router, w.chosen, "register", w.plan_promo, wizard.plan_promo)
    button_step(router, w.plan_promo, "ppromo", w.addons, wizard.addons, _set("plan_promo"))
    button_step(router, w.addons, "addon", w.addons, wizard.addons, _toggle_addon)
    button_step(router, w.addons, "addons_done", w.invoice_promo, wizard.invoice_promo)
    button_step(router, w.invoice_promo, "ipromo", w.summary, wizard.summary, _set("invoice_promo"))
    button_step(router, w.summary, "next", w.invoice_info, wizard.invoice_info)
    button_step(router, w.invoice_info, "next", w.customer_info, wizard.customer_info)
    button_step(router, w.customer_info, "next", w.contact_name, lambda data: wizard.ask("name"))
    button_step(router, w.final, "terms", w.final, wizard.final, _toggle_terms)
    button_step(router, w.final, "pay", w.confirm, wizard.confirm)

    @router.callback_query(StateFilter(w.confirm), Step.filter(F.action == "confirm"))
    async def confirm(query: CallbackQuery, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await show(query, wizard.done(data, f"SUB-{query.from_user.id}"))

    @router.message(StateFilter(w.contact_name), F.text)
    async def contact_name(message: Message, state: FSMContext) -> None:
        await state.update_data(contact={"name": message.text or ""})
        await state.set_state(w.contact_phone)
        await send(message, wizard.ask("phone"))

    @router.message(StateFilter(w.contact_phone), F.text)
    async def contact_phone(message: Message, state: FSMContext) -> None:
        text = (message.text or "").strip()
        if not wizard.PHONE.match(text):
            await send(message, wizard.invalid("phone"))
            return
        data = await state.get_data()
        data["contact"] = {**data["contact"], "phone": text}
        await state.set_data(data)
        await state.set_state(w.contact_email)
        await send(message, wizard.ask("email"))

    @router.message(StateFilter(w.contact_email), F.text)
    async def contact_email(message: Message, state: FSMContext) -> None:
        text = (message.text or "").strip()
        if not wizard.EMAIL.match(text):
            await send(message, wizard.invalid("email"))
            return
        data = await state.get_data()
        data["contact"] = {**data["contact"], "email": text}
        await state.set_data(data)
        await state.set_state(w.final)
        await send(message, wizard.final(data))

    return router


def dump_state(storage: MemoryStorage, path: Path) -> None:
    sizes = {
        str(key.chat_id): len(
            json.dumps({"state": record.state, "data": record.data}, ensure_ascii=False).encode()
        )
        for key, record in storage.storage.items()
        if record.state is not None
    }
    path.write_text(json.dumps(sizes))


async def main(args: argparse.Namespace) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api))
    bot = Bot(args.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    storage = MemoryStorage()
    dp = Dispatcher(storage=storage)
    dp.include_router(create_router())
    loop = asyncio.get_running_loop()
    if args.state_file:
        loop.add_signal_handler(signal.SIGUSR1, dump_state, storage, Path(args.state_file))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.mode == "polling":
        await bot.delete_webhook()
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
        await stop.wait()
        await dp.stop_polling()
        await polling
        return
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token=args.secret).register(app, path=WEBHOOK_PATH)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    await bot.set_webhook(f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}", secret_token=args.secret)
    await stop.wait()
    await runner.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=("polling", "webhook"), default="polling")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default=None)
    parser.add_argument("--state-file", default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parse_args()))
