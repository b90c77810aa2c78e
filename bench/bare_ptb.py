"""A bare python-telegram-bot (v22) bot playing the wizard (:mod:`bench.wizard`) with a
``ConversationHandler``: one state per step, ``CallbackQueryHandler`` patterns, the draft in
``context.user_data``; PTB's defaults (updates handled one at a time).

    python -m bench.bare_ptb --api URL --token TOKEN [--mode webhook --port P --secret S]

Polling is PTB's ``Updater``; the webhook is PTB's documented custom-webhook pattern (a small
aiohttp server putting each update on ``application.update_queue``), which avoids the tornado
extra. SIGUSR1 writes the size of every draft (JSON of state and user_data) to
``--state-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import signal
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bench import wizard

WEBHOOK_PATH = "/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

(
    SERVICE,
    DETAILS,
    PLANS,
    CYCLES,
    CHOSEN,
    PLAN_PROMO,
    ADDONS,
    INVOICE_PROMO,
    SUMMARY,
    INVOICE_INFO,
    CUSTOMER_INFO,
    CONTACT_NAME,
    CONTACT_PHONE,
    CONTACT_EMAIL,
    FINAL,
    CONFIRM,
) = range(16)

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context], Any]


def markup(rows: wizard.Rows) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def _value(update: Update) -> str:
    assert update.callback_query is not None
    return (update.callback_query.data or "").split(":", 2)[2]


async def show(update: Update, screen: wizard.Screen) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(screen[0], reply_markup=markup(screen[1]))


async def send(update: Update, screen: wizard.Screen) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(screen[0], reply_markup=markup(screen[1]))


def button(
    action: str,
    next_state: int,
    draw: Callable[[dict[str, Any]], wizard.Screen],
    remember: Callable[[dict[str, Any], str], None] | None = None,
) -> Any:
    async def handler(update: Update, context: Context) -> int:
        data = context.user_data
        assert data is not None
        if remember is not None:
            remember(data, _value(update))
        await show(update, draw(data))
        return next_state

    return CallbackQueryHandler(handler, pattern=f"^w:{action}:")


def _set(key: str) -> Callable[[dict[str, Any], str], None]:
    def update(data: dict[str, Any], value: str) -> None:
        data[key] = value

    return update


def _toggle_addon(data: dict[str, Any], value: str) -> None:
    ticked = list(data.get("addons", []))
    if value in ticked:
        ticked.remove(value)
    else:
        ticked.append(value)
    data["addons"] = ticked


def _toggle_terms(data: dict[str, Any], value: str) -> None:
    data["terms"] = not data.get("terms", False)


async def start(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data.clear()
    await send(update, wizard.services())
    return SERVICE


async def cancel(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data.clear()
    await show(update, wizard.cancelled())
    return ConversationHandler.END


async def confirm(update: Update, context: Context) -> int:
    data = dict(context.user_data or {})
    assert update.effective_user is not None and context.user_data is not None
    context.user_data.clear()
    await show(update, wizard.done(data, f"SUB-{update.effective_user.id}"))
    return ConversationHandler.END


def typed(
    field: str,
    check: Callable[[str], bool],
    next_state: int,
    draw: Callable[[dict[str, Any]], wizard.Screen],
) -> Any:
    async def handler(update: Update, context: Context) -> int | None:
        assert update.message is not None and context.user_data is not None
        text = (update.message.text or "").strip()
        if not check(text):
            await send(update, wizard.invalid(field))
            return None
        data = context.user_data
        data["contact"] = {**data.get("contact", {}), field: text}
        await send(update, draw(data))
        return next_state

    return MessageHandler(filters.TEXT & ~filters.COMMAND, handler)


def conversation() -> ConversationHandler[Context]:
    def ask(field: str) -> Callable[[dict[str, Any]], wizard.Screen]:
        return lambda data: wizard.ask(field)

    with warnings.catch_warnings():
        # per_message=False with CallbackQueryHandlers is what this bot wants (per chat)
        warnings.simplefilter("ignore", PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler("services", start)],
            states={
                SERVICE: [button("svc", DETAILS, wizard.details, _set("service"))],
                DETAILS: [button("prices", PLANS, wizard.plans)],
                PLANS: [button("plan", CYCLES, wizard.cycles, _set("plan"))],
                CYCLES: [button("cycle", CHOSEN, wizard.chosen, _set("cycle"))],
                CHOSEN: [button("register", PLAN_PROMO, wizard.plan_promo)],
                PLAN_PROMO: [button("ppromo", ADDONS, wizard.addons, _set("plan_promo"))],
                ADDONS: [
                    button("addon", ADDONS, wizard.addons, _toggle_addon),
                    button("addons_done", INVOICE_PROMO, wizard.invoice_promo),
                ],
                INVOICE_PROMO: [button("ipromo", SUMMARY, wizard.summary, _set("invoice_promo"))],
                SUMMARY: [button("next", INVOICE_INFO, wizard.invoice_info)],
                INVOICE_INFO: [button("next", CUSTOMER_INFO, wizard.customer_info)],
                CUSTOMER_INFO: [button("next", CONTACT_NAME, ask("name"))],
                CONTACT_NAME: [typed("name", bool, CONTACT_PHONE, ask("phone"))],
                CONTACT_PHONE: [
                    typed(
                        "phone", lambda t: bool(wizard.PHONE.match(t)), CONTACT_EMAIL, ask("email")
                    )
                ],
                CONTACT_EMAIL: [
                    typed("email", lambda t: bool(wizard.EMAIL.match(t)), FINAL, wizard.final)
                ],
                FINAL: [
                    button("terms", FINAL, wizard.final, _toggle_terms),
                    button("pay", CONFIRM, wizard.confirm),
                ],
                CONFIRM: [CallbackQueryHandler(confirm, pattern="^w:confirm:")],
            },
            fallbacks=[CallbackQueryHandler(cancel, pattern="^w:cancel:")],
        )


def dump_state(
    application: Application[Any, Any, Any, Any, Any, Any],
    handler: ConversationHandler[Context],
    path: Path,
) -> None:
    sizes: dict[str, int] = {}
    for key, state in handler._conversations.items():  # (chat_id, user_id) -> state
        user_data = application.user_data.get(int(key[-1]), {})
        raw = json.dumps({"state": state, "data": user_data}, ensure_ascii=False)
        sizes[str(key[0])] = len(raw.encode())
    path.write_text(json.dumps(sizes))


async def main(args: argparse.Namespace) -> None:
    builder = (
        Application.builder()
        .token(args.token)
        .base_url(f"{args.api}/bot")
        .base_file_url(f"{args.api}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML))
    )
    if args.mode == "webhook":
        builder = builder.updater(None)
    application = builder.build()
    handler = conversation()
    application.add_handler(handler)
    loop = asyncio.get_running_loop()
    if args.state_file:
        loop.add_signal_handler(
            signal.SIGUSR1, dump_state, application, handler, Path(args.state_file)
        )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with application:
        await application.start()
        if args.mode == "polling":
            assert application.updater is not None
            await application.bot.delete_webhook()
            await application.updater.start_polling(poll_interval=0.0, timeout=10)
            await stop.wait()
            await application.updater.stop()
        else:
            runner = await _serve_webhook(application, args)
            await stop.wait()
            await runner.cleanup()
        await application.stop()


async def _serve_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], args: argparse.Namespace
) -> web.AppRunner:
    secret = (args.secret or "").encode()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if secret and not hmac.compare_digest(given, secret):
            return web.Response(status=401)
        update = Update.de_json(await request.json(), application.bot)
        await application.update_queue.put(update)
        return web.Response()

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    await application.bot.set_webhook(
        f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}", secret_token=args.secret
    )
    return runner


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
