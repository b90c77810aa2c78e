"""The route from an update to its handler (``bot.handlers.UpdateRoute``), which replaced
aiogram's ``Dispatcher`` with its one router: the same handler for every update, the gate
before it, and exceptions reaching the caller as they did."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import CallbackQuery, InaccessibleMessage, Message, Update

from bot.app import build_app
from bot.callbacks import FlowCallback
from bot.handlers import UpdateRoute, _message_event, actor_of, flow_callback
from bot.metrics import Metrics
from bot.middlewares import UpdateGate
from bot.render import Origin
from conversations.session import Actor, Event, EventKind
from storage.local_store import MemoryUpdateDeduper
from tests.unit.test_container import TOKEN, settings

USER = {"id": 42, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
CHAT = {"id": 42, "type": "private", "first_name": "Lan"}
BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "Bot"}


class Flow:
    """Records what the route asks of the chat flow."""

    journal = None

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.bots: list[Bot] = []
        self.fail = fail

    async def run(
        self, bot: Bot, actor: Actor, event: Event, origin: Any, order: int | None = None
    ) -> None:
        self.bots.append(bot)
        self.calls.append(("run", actor, event, origin, order))
        if self.fail:
            raise RuntimeError("the engine broke")

    async def stale(self, bot: Bot, query: CallbackQuery) -> None:
        self.bots.append(bot)
        self.calls.append(("stale", query.id, query.data))


class Contacts:
    def __init__(self) -> None:
        self.users: list[int] = []
        self.blocked_users: list[int] = []

    async def seen_as(self, contact: Any, cached: str | None) -> None:
        self.users.append(contact.user_id)

    async def seen(self, contact: Any) -> None:
        self.users.append(contact.user_id)

    async def blocked(self, user_id: int) -> None:
        self.blocked_users.append(user_id)


def message(update_id: int, text: str | None = "hello", **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message_id": 5, "date": 1_700_000_000, "chat": CHAT, "from": USER}
    if text is not None:
        body["text"] = text
    body.update(more)
    return {"update_id": update_id, "message": body}


def press(
    update_id: int, data: str | None, message: dict[str, Any] | None = None
) -> dict[str, Any]:
    query: dict[str, Any] = {"id": f"q{update_id}", "chat_instance": "ci", "from": USER}
    if data is not None:
        query["data"] = data
    if message is not None:
        query["message"] = message
    return {"update_id": update_id, "callback_query": query}


SHOWN = {"message_id": 9, "date": 1_700_000_000, "chat": CHAT, "from": BOT_USER, "text": "x"}
GONE = {"message_id": 9, "date": 0, "chat": CHAT}  # an InaccessibleMessage

#: callback data our filter took or refused: the route must decide each the same way
DATA = [
    "f:3:plan:basic",
    "f:3:plan:",
    "f:0:menu:home",
    "f:12:tog:a1",
    "f:x:plan:basic",
    "f:3:plan",
    "f:3:plan:basic:more",
    "g:3:plan:basic",
    "f",
    "",
    None,
    "f: 3:plan:basic",
    "f:3.0:plan:basic",
    "f:-1:plan:basic",
    "f:+4:plan:basic",
    "f:1_000:plan:basic",
    "garbage",
]


def updates(bot: Bot) -> list[Update]:
    raw = [
        message(1),
        message(2, "/start ref_1"),
        message(
            3, None, contact={"phone_number": "+84912345678", "first_name": "Lan", "user_id": 42}
        ),
        message(4, None, caption="a photo caption", photo=[]),
        {"update_id": 5, "message": {"message_id": 5, "date": 1, "chat": CHAT, "text": "x"}},
        *(press(100 + i, data, SHOWN) for i, data in enumerate(DATA)),
        press(200, "f:3:plan:basic", GONE),
        press(201, "f:3:plan:basic"),
        press(202, "nope"),
        {
            "update_id": 300,
            "my_chat_member": {
                "chat": CHAT,
                "from": USER,
                "date": 1,
                "old_chat_member": {"status": "member", "user": BOT_USER},
                "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0},
            },
        },
    ]
    return [Update.model_validate(u, context={"bot": bot}) for u in raw]


def aiogram_dispatcher(flow: Flow) -> Dispatcher:
    """What ``bot.app`` built before: one router, the same three handlers, as they were."""
    router = Router()

    @router.message()
    async def on_message(message: Message, bot: Bot, event_update: Update) -> None:
        if message.from_user is None:
            return
        event = _message_event(message)
        origin = Origin(chat_id=message.chat.id, kind=event.kind)
        actor = actor_of(message.from_user, message.chat.id)
        await flow.run(bot, actor, event, origin, event_update.update_id)

    @router.callback_query(FlowCallback.filter())
    async def on_button(
        query: CallbackQuery, callback_data: FlowCallback, bot: Bot, event_update: Update
    ) -> None:
        message = query.message
        if message is None:
            chat_id, message_id = query.from_user.id, None
        elif isinstance(message, InaccessibleMessage):
            chat_id, message_id = message.chat.id, None
        else:
            chat_id, message_id = message.chat.id, message.message_id
        event = Event(
            EventKind.BUTTON,
            name=callback_data.action,
            arg=callback_data.arg,
            rev=callback_data.rev,
            message_id=message_id,
        )
        origin = Origin(
            chat_id=chat_id,
            kind=EventKind.BUTTON,
            callback_id=query.id,
            callback_message_id=message_id,
        )
        flow.calls.append(("aiogram-button",))
        await flow.run(
            bot, actor_of(query.from_user, chat_id), event, origin, event_update.update_id
        )

    @router.callback_query()
    async def on_foreign(query: CallbackQuery, bot: Bot) -> None:
        flow.calls.append(("aiogram-foreign",))
        await flow.stale(bot, query)

    dispatcher = Dispatcher(disable_fsm=True)
    dispatcher.include_router(router)
    return dispatcher


async def test_every_update_reaches_the_handler_aiogram_chose() -> None:
    bot = Bot(TOKEN)
    through_aiogram, direct = Flow(), Flow()
    dispatcher = aiogram_dispatcher(through_aiogram)
    route = UpdateRoute(direct)  # type: ignore[arg-type]
    for update in updates(bot):
        await dispatcher.feed_update(bot, update)
        await route.feed(bot, update)
    # aiogram's filter picked the handler; the route must have made the same calls
    expected = [c for c in through_aiogram.calls if not c[0].startswith("aiogram-")]
    assert direct.calls == expected
    kinds = [c[0] for c in through_aiogram.calls]
    # 9 data taken (pydantic's lax int reads " 3", "3.0", "+4", "1_000"), a press on a message
    # gone and one without a message; 8 refused, and "nope"
    assert kinds.count("aiogram-button") == 11
    assert kinds.count("aiogram-foreign") == 9
    assert all(b is bot for b in direct.bots)
    await bot.session.close()


async def test_a_press_becomes_the_event_and_origin_the_flow_expects() -> None:
    bot = Bot(TOKEN)
    flow = Flow()
    route = UpdateRoute(flow)  # type: ignore[arg-type]
    for raw in (
        press(1, "f:3:plan:basic", SHOWN),
        press(2, "f:4:cyc:12m", GONE),
        press(3, "f:5:a:"),
    ):
        await route.feed(bot, Update.model_validate(raw, context={"bot": bot}))
    (_, actor, shown, origin, order), (_, _, gone, _, _), (_, _, bare, bare_origin, _) = flow.calls
    assert (actor.user_id, actor.chat_id, actor.first_name) == (42, 42, "Lan")
    assert (shown.name, shown.arg, shown.rev, shown.message_id) == ("plan", "basic", 3, 9)
    assert (origin.callback_id, origin.callback_message_id, order) == ("q1", 9, 1)
    assert (gone.name, gone.rev, gone.message_id) == ("cyc", 4, None)
    assert (bare.arg, bare.message_id, bare_origin.chat_id) == ("", None, 42)
    assert flow_callback("f:3:plan:basic") == FlowCallback(rev=3, action="plan", arg="basic")
    assert flow_callback("f:3:plan") is None and flow_callback(None) is None
    await bot.session.close()


async def test_the_gate_runs_first_and_skips_an_update_handled_before() -> None:
    bot = Bot(TOKEN)
    flow, contacts, metrics = Flow(), Contacts(), Metrics()
    route = UpdateRoute(flow, UpdateGate(MemoryUpdateDeduper(), metrics, contacts))  # type: ignore[arg-type]
    first = Update.model_validate(message(1), context={"bot": bot})
    await route.feed(bot, first)
    await route.feed(bot, first)  # Telegram sends it again
    blocked = updates(bot)[-1]
    await route.feed(bot, blocked)
    assert [c[4] for c in flow.calls] == [1]
    assert contacts.users == [42] and contacts.blocked_users == [42]
    assert metrics.duplicates._value.get() == 1
    await bot.session.close()


async def test_a_failure_reaches_the_caller_and_the_update_stays_unhandled() -> None:
    bot = Bot(TOKEN)
    flow = Flow(fail=True)
    deduper = MemoryUpdateDeduper()
    route = UpdateRoute(flow, UpdateGate(deduper, Metrics()))  # type: ignore[arg-type]
    update = Update.model_validate(message(1), context={"bot": bot})
    with pytest.raises(RuntimeError, match="the engine broke"):
        await route.feed(bot, update)
    assert not await deduper.done(1)  # a redelivery runs it again
    await bot.session.close()


async def test_an_update_of_another_bot_is_bound_to_this_one() -> None:
    bot, other = Bot(TOKEN), Bot("7000000002:another-bot")
    flow = Flow()
    seen: list[Update] = []

    class Gate:
        async def __call__(self, handler: Any, event: Update, data: dict[str, Any]) -> Any:
            seen.append(event)
            return await handler(event, data)

    route = UpdateRoute(flow, Gate())  # type: ignore[arg-type]
    await route.feed(bot, Update.model_validate(message(1), context={"bot": other}))
    assert seen[0].bot is bot and seen[0].message is not None and seen[0].message.bot is bot
    assert flow.bots == [bot]
    await bot.session.close()
    await other.session.close()


def test_the_app_routes_updates_without_aiogram_s_dispatcher() -> None:
    app = build_app(settings(bot_token=TOKEN))
    assert isinstance(app.route, UpdateRoute)
    assert app.route.flow is app.flow
    assert isinstance(app.route.gate, UpdateGate)
    assert not hasattr(app, "dispatcher")
