"""bot/session.py reads the answers the bot uses, and not an edit's edited message."""

from __future__ import annotations

import json

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendMessage
from aiogram.types import Message

from bot.session import BotSession

TOKEN = "42:session-test-token"
MESSAGE = {
    "message_id": 7,
    "date": 1700000000,
    "chat": {"id": 5, "type": "private"},
    "text": "xin chào",
}


@pytest.fixture
def session() -> BotSession:
    return BotSession()


def answer(result: object) -> str:
    return json.dumps({"ok": True, "result": result})


def test_a_sent_message_is_read_into_aiogram_models(session: BotSession) -> None:
    bot = Bot(TOKEN, session=session)
    response = session.check_response(bot, SendMessage(chat_id=5, text="x"), 200, answer(MESSAGE))
    assert isinstance(response.result, Message) and response.result.message_id == 7


@pytest.mark.parametrize(
    "method",
    [
        EditMessageText(chat_id=5, message_id=7, text="x"),
        EditMessageReplyMarkup(chat_id=5, message_id=7),
    ],
)
def test_an_edit_answers_true_without_reading_the_message(
    session: BotSession, method: EditMessageText | EditMessageReplyMarkup
) -> None:
    bot = Bot(TOKEN, session=session)
    response = session.check_response(bot, method, 200, answer(MESSAGE))
    assert response.ok is True and response.result is True


def test_a_failed_edit_is_still_an_error(session: BotSession) -> None:
    bot = Bot(TOKEN, session=session)
    failure = json.dumps(
        {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
    )
    with pytest.raises(TelegramBadRequest, match="not modified"):
        session.check_response(
            bot, EditMessageText(chat_id=5, message_id=7, text="x"), 400, failure
        )
