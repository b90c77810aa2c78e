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


def test_a_sent_message_keeps_its_id_date_and_chat_and_dumps_as_aiogram_reads_it(
    session: BotSession,
) -> None:
    bot = Bot(TOKEN, session=session)
    sent = session.check_response(bot, SendMessage(chat_id=5, text="x"), 200, answer(MESSAGE))
    message = sent.result
    assert isinstance(message, Message)
    full = Message.model_validate(MESSAGE)
    assert (message.message_id, message.date, message.chat.id, message.chat.type) == (
        full.message_id,
        full.date,
        full.chat.id,
        full.chat.type,
    )
    # what the replay journal records, read back as a replayed answer is
    dumped = message.model_dump(mode="json", exclude_none=True)
    assert dumped == {"message_id": 7, "date": 1700000000, "chat": {"id": 5, "type": "private"}}
    assert Message.model_validate(dumped).message_id == 7


@pytest.mark.parametrize(
    "result",
    [True, {"message_id": 7, "date": 1700000000}, {**MESSAGE, "chat": {"id": 5}}],
)
def test_a_sent_message_answer_without_its_head_is_read_by_aiogram(
    session: BotSession, result: object
) -> None:
    bot = Bot(TOKEN, session=session)
    with pytest.raises(Exception) as raised:
        session.check_response(bot, SendMessage(chat_id=5, text="x"), 200, answer(result))
    assert "validation" in str(raised.value).lower()


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
