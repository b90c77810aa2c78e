"""``bot.lazy_aiogram``: aiogram's types are built on first use, and build as they did.

Each check runs in a fresh interpreter: the test process has usually imported aiogram already.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_bot_does_not_import_aiogram() -> None:
    assert run("import sys, bot, bot.cli, bot.settings; print('aiogram' in sys.modules)") == "False"


def test_the_types_are_built_on_first_use_and_the_hook_is_gone() -> None:
    out = run(
        """
        import bot
        from pydantic import BaseModel
        from aiogram.types import Message, Update
        print(Message.__pydantic_complete__, Update.__pydantic_complete__)
        update = Update.model_validate({
            "update_id": 7,
            "callback_query": {
                "id": "q", "chat_instance": "c", "data": "go",
                "from": {"id": 1, "is_bot": False, "first_name": "A"},
                "message": {
                    "message_id": 3, "date": 0, "chat": {"id": 1, "type": "private"},
                    "text": "hi", "reply_to_message": {
                        "message_id": 2, "date": 0, "chat": {"id": 1, "type": "private"}
                    },
                },
            },
        })
        reply = update.callback_query.message.reply_to_message
        print(Update.__pydantic_complete__, reply.message_id)
        print(getattr(BaseModel.model_rebuild, "_onesme_lazy", False))
        """
    )
    assert out.splitlines() == ["False False", "True 2", "False"]


def test_every_type_and_method_builds_lazily() -> None:
    out = run(
        """
        import bot
        import aiogram.methods, aiogram.types
        from pydantic import BaseModel

        def build(cls):  # a few frames deep, as in the bot: pydantic looks up its callers
            return (lambda: (lambda: cls.__pydantic_validator__.validate_python)())()

        failed = []
        for module in (aiogram.types, aiogram.methods):
            for name in module.__all__:
                cls = getattr(module, name)
                if isinstance(cls, type) and issubclass(cls, BaseModel):
                    try:
                        build(cls)
                    except Exception as error:
                        failed.append(f"{name}: {error}")
        print(failed)
        """
    )
    assert out == "[]"


def test_aiogram_objects_bind_the_bot_in_one_step_and_keep_it() -> None:
    out = run(
        """
        import bot
        from aiogram import Bot
        from aiogram.client.context_controller import BotContextController
        from aiogram.methods import SendMessage
        from aiogram.types import InlineKeyboardButton, Update
        from bot.lazy_aiogram import _bind_bot

        classes, fast = [BotContextController], 0
        while classes:
            cls = classes.pop()
            classes.extend(cls.__subclasses__())
            fast += cls is not BotContextController and cls.model_post_init is _bind_bot
        print(fast > 600, InlineKeyboardButton.model_post_init is _bind_bot,
              SendMessage.model_post_init is _bind_bot)

        bot = Bot("42:token")
        update = Update.model_validate({
            "update_id": 7,
            "callback_query": {
                "id": "q", "chat_instance": "c", "data": "go",
                "from": {"id": 1, "is_bot": False, "first_name": "A"},
                "message": {"message_id": 3, "date": 0, "chat": {"id": 1, "type": "private"},
                            "text": "hi"},
            },
        }, context={"bot": bot})
        query = update.callback_query
        print(update.bot is bot, query.bot is bot, query.message.bot is bot,
              query.message.chat.bot is bot, query.from_user.bot is bot)
        answer = query.message.answer("x")
        print(answer.bot is bot, answer.chat_id, query.answer().callback_query_id)
        button = InlineKeyboardButton(text="t", callback_data="d")
        print(button.bot, repr(button.__pydantic_private__), button.as_(bot).bot is bot)
        print(button.model_copy().bot is bot, SendMessage(chat_id=1, text="x").bot)
        """
    )
    assert out.splitlines() == [
        "True True True",
        "True True True True True",
        "True 1 q",
        "None {'_bot': None} True",
        "True None",
    ]


def test_the_bot_is_bound_in_one_step_when_aiogram_came_first_and_in_later_subclasses() -> None:
    out = run(
        """
        import aiogram.types
        import bot
        from typing import Any
        from pydantic import PrivateAttr
        from aiogram.types import Message, TelegramObject
        from bot.lazy_aiogram import _bind_bot

        class Plain(TelegramObject):
            x: int

        class Own(TelegramObject):
            x: int
            def model_post_init(self, context: Any, /) -> None:
                super().model_post_init(context)
                object.__setattr__(self, "seen", context)

        class Extra(TelegramObject):
            x: int
            _cache: int = PrivateAttr(default=5)

        print(Message.model_post_init is _bind_bot, Plain.model_post_init is _bind_bot,
              Own.model_post_init is _bind_bot, Extra.model_post_init is _bind_bot)
        own = Own.model_validate({"x": 1}, context={"bot": "B"})
        extra = Extra.model_validate({"x": 1}, context={"bot": "B"})
        print(Plain.model_validate({"x": 1}, context={"bot": "B"}).bot, own.bot, own.seen,
              extra.bot, extra._cache)
        """
    )
    assert out.splitlines() == ["True True False False", "B B {'bot': 'B'} B 5"]


def test_nothing_is_changed_when_the_controller_is_not_aiograms_as_known() -> None:
    out = run(
        """
        import sys, types
        from typing import Any
        from pydantic import BaseModel, PrivateAttr
        from bot.lazy_aiogram import bind_bot_in_one_step

        def fake(post_init, **private):
            module = types.ModuleType("aiogram.client.context_controller")
            namespace = {"__annotations__": {}, "_bot": PrivateAttr(), **private,
                         "model_post_init": post_init}
            controller = type(BaseModel)("BotContextController", (BaseModel,), namespace)
            module.BotContextController = controller
            sys.modules[module.__name__] = module
            child = type(BaseModel)("Child", (controller,), {"__annotations__": {"x": int}})
            before = child.model_post_init
            return bind_bot_in_one_step(), child.model_post_init is before

        def other_key(self, context: Any, /) -> None:
            self._bot = context.get("robot") if context else None
        other_key.__qualname__ = "BotContextController.model_post_init"

        def aiograms(self, context: Any, /) -> None:
            self._bot = context.get("bot") if context else None
        aiograms.__qualname__ = "BotContextController.model_post_init"

        print(fake(other_key), fake(aiograms, _more=PrivateAttr(default=1)), fake(aiograms))
        """
    )
    assert out == "(False, True) (False, True) (True, False)"


def test_the_session_builds_what_an_update_uses_before_the_first_update() -> None:
    out = run(
        """
        import json
        import bot
        import pydantic._internal._model_construction as construction
        from aiogram import Bot
        from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates, SendMessage
        from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
        from bot.session import BotSession

        print(Message.__pydantic_complete__, Update.__pydantic_complete__)
        BotSession.prepare_types()
        built = []
        original = construction.complete_model_class
        def complete_model_class(cls, *args, **kwargs):
            built.append(cls.__name__)
            return original(cls, *args, **kwargs)
        construction.complete_model_class = complete_model_class

        session = BotSession()
        bot = Bot("42:token", session=session)
        message = {"message_id": 3, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
        def answer(result):
            return json.dumps({"ok": True, "result": result})
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="b")]]
        )
        updates = session.check_response(
            bot, GetUpdates(), 200, answer([{"update_id": 1, "message": message}])
        ).result
        session.check_response(bot, SendMessage(chat_id=1, text="x"), 200, answer(message))
        edit = EditMessageText(chat_id=1, message_id=3, text="x", reply_markup=keyboard)
        session.check_response(bot, edit, 200, answer(message))
        session.check_response(bot, AnswerCallbackQuery(callback_query_id="q"), 200, answer(True))
        Update.model_validate({"update_id": 2, "message": message}, context={"bot": bot})
        print(updates[0].message.bot is bot, built)
        """
    )
    assert out.splitlines() == ["False False", "True []"]


def test_the_update_path_types_are_built_when_the_app_prepares() -> None:
    out = run(
        """
        import asyncio
        from aiogram.types import Update
        from bot.app import BotApp
        from bot.session import BotSession

        def built(cls):
            return type(cls.__pydantic_validator__).__name__ == "SchemaValidator"

        class NoApp:  # prepare() with everything but the types stubbed out
            async def _apply_start_settings(self): pass
            class catalog:
                @staticmethod
                async def refresh(): pass

        before = len(BotSession._response_types)
        asyncio.run(BotApp.prepare(NoApp(), migrate=False, set_commands=False))
        kept = BotSession._response_types.values()
        print(before, built(Update), all(built(r) for r in kept), len(kept))
        """
    )
    assert out == "0 True True 4"  # getUpdates, sendMessage, the edits, the callback answer


def test_the_running_bot_keeps_what_start_up_built_out_of_the_collectors_way() -> None:
    out = run(
        """
        import asyncio, gc
        from bot.app import BotApp

        class Stub:  # run_until with prepare, start and stop stubbed out
            _poller = None
            async def prepare(self): pass
            async def start(self): pass
            async def stop(self): pass

        async def main():
            stop = asyncio.Event()
            stop.set()
            before = gc.get_freeze_count()
            await BotApp.run_until(Stub(), stop)
            print(before, gc.get_freeze_count() > 10_000)

        asyncio.run(main())
        """
    )
    assert out == "0 True"
