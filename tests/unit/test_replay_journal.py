"""What the request journal writes per Bot API request (bot.replay), and what a handling that
broke off between two requests does when its update comes again: with a journal in memory."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, TelegramMethod
from aiogram.types import Message

from bot.replay import START, Replay, ReplayGuard, handling

MESSAGE = {"message_id": 7, "date": 1_700_000_000, "chat": {"id": 5, "type": "private"}}


class MemoryJournal:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.writes: list[tuple[str, dict[str, Any]]] = []

    async def load(self, update_id: int) -> dict[str, str]:
        return dict(self.fields)

    async def start(self, update_id: int, field: str, value: str) -> dict[str, str]:
        before = dict(self.fields)
        self.fields.setdefault(field, value)
        return before

    async def write(self, update_id: int, field: str, value: str) -> None:
        self.fields[field] = value
        self.writes.append((field, json.loads(value)))


class Telegram:
    """The next step of the session: records what is sent, answers as Telegram would."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def __call__(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        self.sent.append(type(method).__name__)
        if isinstance(method, AnswerCallbackQuery):
            return True
        return Message.model_validate(MESSAGE, context={"bot": bot})


def press() -> list[TelegramMethod[Any]]:
    return [
        AnswerCallbackQuery(callback_query_id="q1"),
        EditMessageText(chat_id=5, message_id=7, text="Count: 1"),
    ]


async def handle(
    journal: MemoryJournal, telegram: Telegram, methods: list[TelegramMethod[Any]], *, stop: int
) -> None:
    """One handling of update 1 from the state "s0", broken off before request ``stop``."""
    bot = Bot("42:TEST")
    guard = ReplayGuard()
    replay = Replay(journal, 1)
    assert await replay.begin("s0")
    with handling(replay):
        for method in methods[:stop]:
            await guard(telegram, bot, method)


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        (press(), [("0", {"method": "answerCallbackQuery"}), ("1", "editMessageText")]),
        (
            [SendMessage(chat_id=5, text="Tên?")],
            [("0", {"method": "sendMessage"}), ("0", "sendMessage")],
        ),
    ],
    ids=["press", "message"],
)
async def test_a_handling_writes_twice_the_first_request_on_its_way(
    methods: list[TelegramMethod[Any]], expected: list[tuple[str, Any]]
) -> None:
    """The first request goes "on its way" with the start; a later one only with its answer
    (and a callback answer only on its way)."""
    journal = MemoryJournal()
    await handle(journal, Telegram(), methods, stop=len(methods))
    written = [
        (field, entry if "result" not in entry else entry["method"])
        for field, entry in journal.writes
    ]
    assert written == expected
    assert journal.fields[START] == "s0"


async def test_died_in_the_edit_after_the_answer_the_edit_is_sent_again_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = MemoryJournal()
    first = Telegram()
    await handle(journal, first, press(), stop=1)  # died in the edit: no answer journaled
    assert first.sent == ["AnswerCallbackQuery"]
    again = Telegram()

    with caplog.at_level(logging.WARNING, logger="bot.replay"):
        await handle(journal, again, press(), stop=2)

    assert again.sent == ["EditMessageText"]  # the callback answer is never sent twice
    assert "editMessageText may have been in flight when its handling broke off: sent again" in (
        caplog.text
    )
    assert json.loads(journal.fields["1"])["result"]["message_id"] == 7


async def test_died_in_the_first_request_it_is_sent_again_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = MemoryJournal()
    methods: list[TelegramMethod[Any]] = [SendMessage(chat_id=5, text="Tên?")]
    await handle(journal, Telegram(), methods, stop=1)
    journal.fields["0"] = json.dumps({"method": "sendMessage"})  # its answer never written
    again = Telegram()

    with caplog.at_level(logging.WARNING, logger="bot.replay"):
        await handle(journal, again, methods, stop=1)

    assert again.sent == ["SendMessage"]
    assert "sendMessage was in flight when its handling broke off: sent again" in caplog.text


async def test_a_finished_handling_is_replayed_without_sending(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = MemoryJournal()
    await handle(journal, Telegram(), press(), stop=2)
    again = Telegram()

    with caplog.at_level(logging.WARNING, logger="bot.replay"):
        await handle(journal, again, press(), stop=2)

    assert again.sent == []
    assert "in flight" not in caplog.text
