"""The Bot API methods the sandbox implements, acting on a BotApiState.

Every handler receives parameters already validated against ``api.json`` (``spec.py``) and
either returns the method's result or raises ApiError with Telegram's status and wording.
Documented methods without a handler answer 501 so that a bot using one is noticed.
"""

from __future__ import annotations

import inspect
import ipaddress
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.botapi.errors import ApiError
from sandbox.botapi.formatting import FormattedText, FormattingError, parse_text, utf16_len
from sandbox.botapi.media import image_size
from sandbox.botapi.spec import UploadedFile, load_spec
from sandbox.botapi.state import (
    BotAccount,
    BotApiState,
    Chat,
    StoredFile,
    StoredMessage,
    WebhookConfig,
    scope_key,
)

__all__ = ["HANDLERS", "MethodCall", "run_method"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_POLL_TIMEOUT = 50
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)


@dataclass
class MethodCall:
    state: BotApiState
    bot: BotAccount
    params: dict[str, Any]


Handler = Callable[[MethodCall], Any]


async def run_method(call: MethodCall, method: str) -> Any:
    """Run the handler of a (canonically named, validated) method."""
    handler = HANDLERS.get(method)
    if handler is None:
        raise ApiError(f"Not Implemented: the sandbox does not implement {method}", 501)
    result = handler(call)
    if inspect.isawaitable(result):
        return await result
    return result


# -- chats, messages and text ------------------------------------------------------------


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


# -- files ---------------------------------------------------------------------------------


def _existing_file(call: MethodCall, value: str, kind: str) -> StoredFile:
    if value.startswith(("http://", "https://")):
        raise ApiError("Bad Request: the sandbox cannot fetch files by URL; upload the file")
    stored = call.state.files.get(value)
    if stored is None or stored.bot_id != call.bot.id or stored.kind != kind:
        raise ApiError("Bad Request: wrong file identifier/HTTP URL specified")
    return stored


def _photo_sizes(call: MethodCall, upload: UploadedFile) -> list[dict[str, Any]]:
    if len(upload.data) > MAX_PHOTO_BYTES:
        raise ApiError("Bad Request: PHOTO_SAVE_FILE_INVALID (photos are at most 10 MB)")
    size = image_size(upload.data)
    if size is None:
        raise ApiError("Bad Request: IMAGE_PROCESS_FAILED")
    width, height, extension = size
    if (
        width == 0
        or height == 0
        or width + height > 10000
        or max(width, height) > 20 * min(width, height)
    ):
        raise ApiError("Bad Request: PHOTO_INVALID_DIMENSIONS")
    sizes: list[dict[str, Any]] = []
    for bound in (90, 320, 800, 1280):
        scale = min(1.0, bound / max(width, height))
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        if sizes and (w, h) == (sizes[-1]["width"], sizes[-1]["height"]):
            break
        stored = call.state.store_file(
            call.bot, "photo", upload.data, extension=extension, width=w, height=h
        )
        sizes.append({**_file_fields(stored), "width": w, "height": h})
    for entry in sizes:
        call.state.files[entry["file_id"]].photo_sizes = sizes
    return sizes


def _file_fields(stored: StoredFile) -> dict[str, Any]:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }


def send_photo(call: MethodCall) -> dict[str, Any]:
    chat = _chat(call, call.params["chat_id"])
    caption = _caption(call)
    photo = call.params["photo"]
    if isinstance(photo, UploadedFile):
        sizes = _photo_sizes(call, photo)
    else:
        sizes = _existing_file(call, photo, "photo").photo_sizes or []
    return _send(call, chat, photo=sizes, **_caption_fields(call, caption))


def _caption_fields(call: MethodCall, caption: FormattedText | None) -> dict[str, Any]:
    if caption is None or not caption.text:
        return {}
    return {
        "caption": caption.text,
        "caption_entities": list(caption.entities),
        "source": call.params["caption"],
        "parse_mode": call.params.get("parse_mode"),
    }


def send_document(call: MethodCall) -> dict[str, Any]:
    chat = _chat(call, call.params["chat_id"])
    caption = _caption(call)
    document = call.params["document"]
    if isinstance(document, UploadedFile):
        if not document.data:
            raise ApiError("Bad Request: file must be non-empty")
        if len(document.data) > MAX_UPLOAD_BYTES:
            raise ApiError("Request Entity Too Large", 413)
        guessed = mimetypes.guess_type(document.filename)[0]
        part_type = (
            document.content_type if document.content_type != "application/octet-stream" else None
        )
        mime_type = guessed or part_type or "application/octet-stream"
        extension = mimetypes.guess_extension(mime_type) or ""
        stored = call.state.store_file(
            call.bot,
            "document",
            document.data,
            extension=extension,
            file_name=document.filename,
            mime_type=mime_type,
        )
    else:
        stored = _existing_file(call, document, "document")
    fields = {**_file_fields(stored), "file_name": stored.file_name, "mime_type": stored.mime_type}
    return _send(call, chat, document=fields, **_caption_fields(call, caption))


def get_file(call: MethodCall) -> dict[str, Any]:
    stored = call.state.files.get(call.params["file_id"])
    if stored is None or stored.bot_id != call.bot.id:
        raise ApiError("Bad Request: invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD_BYTES:
        raise ApiError("Bad Request: file is too big")
    return stored.to_api()


# -- updates and webhooks ------------------------------------------------------------------


def _confirm(bot: BotAccount, offset: int) -> None:
    if offset > 0:
        bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
    elif offset < 0:
        bot.updates = bot.updates[offset:]


async def get_updates(call: MethodCall) -> list[dict[str, Any]]:
    state, bot, params = call.state, call.bot, call.params
    if bot.webhook is not None:
        raise ApiError(WEBHOOK_CONFLICT, 409)
    if "allowed_updates" in params:
        bot.allowed_updates = params["allowed_updates"] or None
    if "offset" in params:
        _confirm(bot, params["offset"])
    limit = min(max(params.get("limit", 100), 1), 100)
    timeout = min(max(params.get("timeout", 0), 0), MAX_POLL_TIMEOUT)
    bot.poll_generation += 1
    generation = bot.poll_generation
    state.notify()
    await state.wait_until(
        lambda: (
            bool(bot.updates)
            or bot.poll_generation != generation
            or bot.webhook is not None
            or state.closing
        ),
        timeout,
    )
    if bot.poll_generation != generation:
        raise ApiError(POLL_CONFLICT, 409)
    if bot.webhook is not None:
        raise ApiError(WEBHOOK_CONFLICT, 409)
    batch = bot.updates[:limit]
    bot.handed_over.update((u["update_id"], generation) for u in batch)
    if batch:
        state.mark_activity(bot.id)
    state.notify()
    return [dict(u) for u in batch]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_webhook(call: MethodCall) -> bool:
    state, bot, params = call.state, call.bot, call.params
    url = params["url"]
    if "allowed_updates" in params:
        bot.allowed_updates = params["allowed_updates"] or None
    if params.get("drop_pending_updates"):
        state.drop_updates(bot)
    if url == "":
        bot.webhook = None
        state.notify()
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError("Bad Request: bad webhook: invalid URL")
    if not _is_loopback(parts.hostname):
        raise ApiError(
            "Bad Request: bad webhook: the sandbox delivers webhooks to loopback addresses only"
        )
    bot.webhook = WebhookConfig(
        url=url,
        secret_token=params.get("secret_token"),
        max_connections=params.get("max_connections", 40),
    )
    bot.webhook_last_error = None
    bot.poll_generation += 1
    state.notify()
    return True


def delete_webhook(call: MethodCall) -> bool:
    if call.params.get("drop_pending_updates"):
        call.state.drop_updates(call.bot)
    call.bot.webhook = None
    call.state.notify()
    return True


def get_webhook_info(call: MethodCall) -> dict[str, Any]:
    bot = call.bot
    pending = sum(1 for u in bot.updates if u["update_id"] not in bot.handed_over)
    info: dict[str, Any] = {
        "url": bot.webhook.url if bot.webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": pending,
    }
    if bot.webhook is not None:
        info["max_connections"] = bot.webhook.max_connections
        info["ip_address"] = "127.0.0.1"
        if bot.allowed_updates:
            info["allowed_updates"] = list(bot.allowed_updates)
        if bot.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = bot.webhook_last_error
    return info


# -- bot settings --------------------------------------------------------------------------


def get_me(call: MethodCall) -> dict[str, Any]:
    return {
        **call.bot.to_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _language(params: Mapping[str, Any]) -> str | None:
    language = params.get("language_code")
    if language and not (len(language) == 2 and language.isascii() and language.islower()):
        raise ApiError("Bad Request: LANG_CODE_INVALID")
    return language or None


def _scope(call: MethodCall) -> tuple[str, str]:
    scope = call.params.get("scope")
    if scope is not None and "chat_id" in scope:
        chat_id = scope["chat_id"]
        if not isinstance(chat_id, int) or chat_id not in call.state.users:
            raise ApiError("Bad Request: chat not found")
    return scope_key(scope, _language(call.params))


def set_my_commands(call: MethodCall) -> bool:
    call.bot.commands[_scope(call)] = list(call.params["commands"])
    return True


def get_my_commands(call: MethodCall) -> list[dict[str, Any]]:
    return list(call.bot.commands.get(_scope(call), []))


def delete_my_commands(call: MethodCall) -> bool:
    call.bot.commands.pop(_scope(call), None)
    return True


def set_chat_menu_button(call: MethodCall) -> bool:
    chat_id = call.params.get("chat_id")
    if chat_id is not None and chat_id not in call.state.users:
        raise ApiError("Bad Request: chat not found")
    call.bot.menu_buttons[chat_id] = call.params.get("menu_button") or {"type": "default"}
    return True


def get_chat_menu_button(call: MethodCall) -> dict[str, Any]:
    buttons = call.bot.menu_buttons
    chat_id = call.params.get("chat_id")
    return dict(buttons.get(chat_id) or buttons.get(None) or {"type": "default"})


def _bot_text(kind: str, limit: int) -> tuple[Handler, Handler]:
    def setter(call: MethodCall) -> bool:
        value = call.params.get(kind, "")
        if utf16_len(value) > limit:
            raise ApiError(f"Bad Request: {kind} must be at most {limit} characters")
        call.bot.texts[(kind, _language(call.params) or "")] = value
        return True

    def getter(call: MethodCall) -> dict[str, Any]:
        texts = call.bot.texts
        language = _language(call.params) or ""
        default = call.bot.first_name if kind == "name" else ""
        return {kind: texts.get((kind, language), texts.get((kind, ""), default))}

    return setter, getter


def get_chat(call: MethodCall) -> dict[str, Any]:
    chat = _chat(call, call.params["chat_id"])
    gift_types = load_spec().types["AcceptedGiftTypes"].fields or {}
    return {
        **chat.user.to_chat(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {name: False for name, f in gift_types.items() if f.required},
    }


def _true(call: MethodCall) -> bool:
    return True


_set_description, _get_description = _bot_text("description", 512)
_set_short_description, _get_short_description = _bot_text("short_description", 120)
_set_name, _get_name = _bot_text("name", 64)

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
