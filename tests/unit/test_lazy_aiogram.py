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


def test_the_update_path_types_are_built_at_start_not_by_the_first_updates() -> None:
    out = run(
        """
        import bot.app
        from aiogram.types import Update

        def built(cls):
            return type(cls.__pydantic_validator__).__name__ == "SchemaValidator"

        before = built(Update)
        bot.app.build_update_types()
        kept = [r.__pydantic_generic_metadata__["args"] for r in bot.app._BUILT_TYPES]
        print(before, built(Update), all(built(r) for r in bot.app._BUILT_TYPES), len(kept))
        """
    )
    assert out == "False True True 4"
