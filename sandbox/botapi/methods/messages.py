"""Chats, messages and text: send, edit and delete messages, answer callback queries, chat
actions.
"""

from __future__ import annotations

from typing import Any

from sandbox.botapi.errors import ApiError
from sandbox.botapi.formatting import FormattedText, FormattingError, parse_text, utf16_len
from sandbox.botapi.methods.call import (
    CHAT_ACTIONS,
    MAX_CAPTION,
    MAX_TEXT,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    MethodCall,
)
from sandbox.botapi.state import Chat, StoredMessage


def _chat(call: MethodCall, chat_id: Any) -> Chat:
    """The private chat a bot may act in, with Telegram's errors for the others."""
    if isinstance(chat_id, int):
        chat = call.state.chat(call.bot.id, chat_id)
        if chat is None:
            if chat_id in call.state.users:
                raise ApiError("Forbidden: bot can't initiate conversation with a user", 403)
            raise ApiError("Bad Request: chat not found")
        if chat.blocked:
            raise ApiError("Forbidden: bot was blocked by the user", 403)
        return chat
    raise ApiError("Bad Request: chat not found")


def _format(
    call: MethodCall, text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> FormattedText:
    if parse_mode:
        try:
            parsed = parse_text(text, parse_mode)
        except FormattingError as error:
            raise ApiError(error.description) from None
        return _with_mentions(call, parsed)
    formatted = parse_text(text, None)
    if entities:
        size = utf16_len(text)
        for entity in entities:
            if entity["offset"] < 0 or entity["length"] <= 0:
                raise ApiError("Bad Request: can't parse entities: wrong entity bounds")
            if entity["offset"] + entity["length"] > size:
                raise ApiError("Bad Request: can't parse entities: entity beyond the end of text")
        if formatted.text == text:
            return FormattedText(text, tuple(entities))
    return formatted


def _with_mentions(call: MethodCall, parsed: FormattedText) -> FormattedText:
    """Fill ``tg://user?id=`` mentions with the user, or drop them for unknown users as
    Telegram shows such a link as plain text."""
    entities: list[dict[str, Any]] = []
    for entity in parsed.entities:
        if entity["type"] == "text_mention":
            user = call.state.users.get(entity["user"]["id"])
            if user is None:
                continue
            entity = {**entity, "user": user.to_api()}
        entities.append(entity)
    return FormattedText(parsed.text, tuple(entities))


def _message_text(call: MethodCall) -> FormattedText:
    params = call.params
    formatted = _format(call, params["text"], params.get("parse_mode"), params.get("entities"))
    if formatted.length == 0:
        raise ApiError("Bad Request: message text is empty")
    if formatted.length > MAX_TEXT:
        raise ApiError("Bad Request: message is too long")
    return formatted


def _caption(call: MethodCall) -> FormattedText | None:
    params = call.params
    if "caption" not in params:
        return None
    formatted = _format(
        call, params["caption"], params.get("parse_mode"), params.get("caption_entities")
    )
    if formatted.length > MAX_CAPTION:
        raise ApiError("Bad Request: message caption is too long")
    return formatted


def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """The inline keyboard a message will show; an empty keyboard is no keyboard."""
    markup = params.get("reply_markup")
    if markup is None or "inline_keyboard" not in markup:
        return None
    if not any(markup["inline_keyboard"]):
        return None
    return {"inline_keyboard": markup["inline_keyboard"]}


def _apply_reply_keyboard(chat: Chat, params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if "keyboard" in markup:
        chat.keyboard = dict(markup)
        return chat.keyboard
    if markup.get("remove_keyboard"):
        chat.keyboard = None
    return None


def _check_reply(chat: Chat, params: dict[str, Any]) -> int | None:
    reply = params.get("reply_parameters") or {}
    target = reply.get("message_id", params.get("reply_to_message_id"))
    if target is None:
        return None
    allow = reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))
    message = chat.messages.get(target)
    if message is None or message.deleted:
        if allow:
            return None
        raise ApiError("Bad Request: message to be replied not found")
    return int(target)


def _send(call: MethodCall, chat: Chat, **fields: Any) -> dict[str, Any]:
    params = call.params
    reply_to = _check_reply(chat, params)
    keyboard = _apply_reply_keyboard(chat, params)
    message = call.state.new_bot_message(
        call.bot,
        chat,
        reply_markup=_inline_markup(params),
        keyboard=keyboard,
        reply_to_message_id=reply_to,
        **fields,
    )
    return message.to_api()


def send_message(call: MethodCall) -> dict[str, Any]:
    chat = _chat(call, call.params["chat_id"])
    formatted = _message_text(call)
    return _send(
        call,
        chat,
        text=formatted.text,
        entities=list(formatted.entities),
        source=call.params["text"],
        parse_mode=call.params.get("parse_mode"),
        link_preview_options=call.params.get("link_preview_options"),
    )


def _target(call: MethodCall, *, action: str) -> tuple[Chat, StoredMessage]:
    params = call.params
    if "inline_message_id" in params:
        raise ApiError("Bad Request: MESSAGE_ID_INVALID (the sandbox has no inline messages)")
    for name in ("chat_id", "message_id"):
        if name not in params:
            raise ApiError(
                f'Bad Request: parameter "{name}" is required when inline_message_id is not '
                "specified"
            )
    chat = _chat(call, params["chat_id"])
    message = chat.messages.get(params["message_id"])
    if message is None or message.deleted:
        raise ApiError(f"Bad Request: message to {action} not found")
    if action == "edit" and not message.from_bot:
        raise ApiError("Bad Request: message can't be edited")
    return chat, message


def edit_message_text(call: MethodCall) -> dict[str, Any]:
    params = call.params
    if "rich_message" in params:
        raise ApiError("Not Implemented: the sandbox does not implement rich messages", 501)
    if "text" not in params:
        raise ApiError('Bad Request: parameter "text" is required')
    _, message = _target(call, action="edit")
    if message.text is None:
        raise ApiError("Bad Request: there is no text in the message to edit")
    formatted = _message_text(call)
    markup = _inline_markup(params)
    if (
        formatted.text == message.text
        and list(formatted.entities) == message.entities
        and markup == message.reply_markup
    ):
        raise ApiError(NOT_MODIFIED)
    message.text = formatted.text
    message.entities = list(formatted.entities)
    message.source = params["text"]
    message.parse_mode = params.get("parse_mode")
    message.reply_markup = markup
    if "link_preview_options" in params:
        message.link_preview_options = params["link_preview_options"]
    return _edited(call, message)


def edit_message_caption(call: MethodCall) -> dict[str, Any]:
    _, message = _target(call, action="edit")
    if message.photo is None and message.document is None:
        raise ApiError("Bad Request: there is no caption in the message to edit")
    formatted = _caption(call) or FormattedText("")
    markup = _inline_markup(call.params)
    if (
        formatted.text == (message.caption or "")
        and list(formatted.entities) == message.caption_entities
        and markup == message.reply_markup
    ):
        raise ApiError(NOT_MODIFIED)
    message.caption = formatted.text or None
    message.caption_entities = list(formatted.entities)
    message.reply_markup = markup
    return _edited(call, message)


def edit_message_reply_markup(call: MethodCall) -> dict[str, Any]:
    _, message = _target(call, action="edit")
    markup = _inline_markup(call.params)
    if markup == message.reply_markup:
        raise ApiError(NOT_MODIFIED)
    message.reply_markup = markup
    return _edited(call, message)


def _edited(call: MethodCall, message: StoredMessage) -> dict[str, Any]:
    message.edit_date = int(call.state.clock())
    call.state.message_changed(call.bot, message, "edit")
    return message.to_api()


def delete_message(call: MethodCall) -> bool:
    _, message = _target(call, action="delete")
    message.deleted = True
    call.state.message_changed(call.bot, message, "delete")
    return True


def delete_messages(call: MethodCall) -> bool:
    chat = _chat(call, call.params["chat_id"])
    message_ids = call.params["message_ids"]
    if not 1 <= len(message_ids) <= 100:
        raise ApiError("Bad Request: message_ids must contain 1-100 identifiers")
    for message_id in message_ids:
        message = chat.messages.get(message_id)
        if message is not None and not message.deleted:
            message.deleted = True
            call.state.message_changed(call.bot, message, "delete")
    return True


def answer_callback_query(call: MethodCall) -> bool:
    params = call.params
    url = params.get("url")
    if url is not None and not url.startswith(("https://t.me/", "tg://")):
        raise ApiError("Bad Request: URL_INVALID")
    if not call.state.register_callback_answer(params["callback_query_id"], call.bot, params):
        raise ApiError(QUERY_TOO_OLD)
    return True


def send_chat_action(call: MethodCall) -> bool:
    chat = _chat(call, call.params["chat_id"])
    action = call.params["action"]
    if action not in CHAT_ACTIONS:
        raise ApiError("Bad Request: wrong parameter action in request")
    call.state.chat_event(call.bot, chat.user.id, "chat_action", {"action": action})
    return True
