"""Which handler answers which Bot API method."""

from __future__ import annotations

import inspect
from typing import Any

from sandbox.botapi.errors import ApiError
from sandbox.botapi.methods.bot_settings import (
    _get_description,
    _get_name,
    _get_short_description,
    _set_description,
    _set_name,
    _set_short_description,
    _true,
    delete_my_commands,
    get_chat,
    get_chat_menu_button,
    get_me,
    get_my_commands,
    set_chat_menu_button,
    set_my_commands,
)
from sandbox.botapi.methods.call import Handler, MethodCall
from sandbox.botapi.methods.files import get_file, send_document, send_photo
from sandbox.botapi.methods.messages import (
    answer_callback_query,
    delete_message,
    delete_messages,
    edit_message_caption,
    edit_message_reply_markup,
    edit_message_text,
    send_chat_action,
    send_message,
)
from sandbox.botapi.methods.updates import (
    delete_webhook,
    get_updates,
    get_webhook_info,
    set_webhook,
)


async def run_method(call: MethodCall, method: str) -> Any:
    """Run the handler of a (canonically named, validated) method."""
    handler = HANDLERS.get(method)
    if handler is None:
        raise ApiError(f"Not Implemented: the sandbox does not implement {method}", 501)
    result = handler(call)
    if inspect.isawaitable(result):
        return await result
    return result


HANDLERS: dict[str, Handler] = {
    "getMe": get_me,
    "logOut": _true,
    "close": _true,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "sendMessage": send_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "sendChatAction": send_chat_action,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "deleteMessages": delete_messages,
    "answerCallbackQuery": answer_callback_query,
    "getFile": get_file,
    "getChat": get_chat,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "setChatMenuButton": set_chat_menu_button,
    "getChatMenuButton": get_chat_menu_button,
    "setMyDescription": _set_description,
    "getMyDescription": _get_description,
    "setMyShortDescription": _set_short_description,
    "getMyShortDescription": _get_short_description,
    "setMyName": _set_name,
    "getMyName": _get_name,
}
