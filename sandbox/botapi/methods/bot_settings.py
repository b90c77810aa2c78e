"""The bot's own settings: getMe, commands, the menu button, description and name, getChat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.botapi.errors import ApiError
from sandbox.botapi.formatting import utf16_len
from sandbox.botapi.methods.call import Handler, MethodCall
from sandbox.botapi.methods.messages import _chat
from sandbox.botapi.spec import load_spec
from sandbox.botapi.state import scope_key


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
