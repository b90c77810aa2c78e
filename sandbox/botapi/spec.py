"""The Bot API as described by ``api.json``, and strict validation of requests against it.

Parameters arrive as strings (form and multipart requests, where nested objects are JSON
strings) or as JSON values; both are checked against the documented types, recursively through
nested objects, union types and abstract types with subtypes. Limits that ``api.json`` only
states in prose are hard-coded in the hooks at the bottom, with Telegram's error texts where
they are known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from sandbox.botapi.errors import ApiError

__all__ = [
    "ApiSpec",
    "FieldSpec",
    "MethodSpec",
    "TypeSpec",
    "UploadedFile",
    "load_spec",
    "validate_params",
]

_PRIMITIVES = frozenset({"Integer", "String", "Boolean", "Float", "True", "InputFile"})
_INTEGER = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_LEGACY_PARAMS: Mapping[str, tuple[str, str]] = {
    "disable_web_page_preview": ("link_preview_options", "Boolean"),
    "reply_to_message_id": ("reply_parameters", "Integer"),
    "allow_sending_without_reply": ("reply_parameters", "Boolean"),
}
"""Parameters dropped from the docs that Telegram still honours and aiogram still sends
(e.g. ``disable_web_page_preview`` from ``DefaultBotProperties(link_preview_is_disabled=...)``);
accepted where the method has their modern replacement."""
_DISCRIMINATOR = re.compile(r"""(?:must be|always) [“"]?([A-Za-z_]+)""")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str


@dataclass(frozen=True)
class TypeSpec:
    """An object type; ``fields`` is None for types documented without a field table."""

    name: str
    fields: Mapping[str, FieldSpec] | None
    subtypes: tuple[str, ...]
    discriminator: tuple[str, str] | None


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ApiSpec:
    version: str
    methods: Mapping[str, MethodSpec]
    types: Mapping[str, TypeSpec]
    _by_lower_name: Mapping[str, str] = field(repr=False)

    def method(self, name: str) -> MethodSpec | None:
        """Look a method up case-insensitively, as Telegram does."""
        canonical = self._by_lower_name.get(name.lower())
        return self.methods[canonical] if canonical else None


def _fields(raw: Sequence[Mapping[str, Any]]) -> dict[str, FieldSpec]:
    return {
        f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]), f["description"])
        for f in raw
    }


def _discriminator(fields: Mapping[str, FieldSpec]) -> tuple[str, str] | None:
    for spec in fields.values():
        if spec.types == ("String",) and spec.required:
            match = _DISCRIMINATOR.search(spec.description)
            if match:
                return spec.name, match.group(1)
    return None


@cache
def load_spec() -> ApiSpec:
    """Read the packaged ``api.json`` (a copy of the public spec, see API_JSON_LICENSE.txt)."""
    raw = json.loads(resources.files("sandbox.botapi").joinpath("api.json").read_text("utf-8"))
    methods = {
        name: MethodSpec(name, _fields(m.get("fields", [])), tuple(m.get("returns", [])))
        for name, m in raw["methods"].items()
    }
    types: dict[str, TypeSpec] = {}
    for name, t in raw["types"].items():
        fields = _fields(t["fields"]) if "fields" in t else None
        types[name] = TypeSpec(
            name=name,
            fields=fields,
            subtypes=tuple(t.get("subtypes", ())),
            discriminator=_discriminator(fields) if fields and t.get("subtype_of") else None,
        )
    return ApiSpec(
        version=raw["version"],
        methods=methods,
        types=types,
        _by_lower_name={name.lower(): name for name in methods},
    )


class _Mismatch(Exception):
    """A value that does not fit a type; turned into an ApiError by the caller."""

    def __init__(self, description: str, *, specific: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.specific = specific


@dataclass
class _Context:
    spec: ApiSpec
    files: Mapping[str, UploadedFile]
    used_files: set[str] = field(default_factory=set)


def _label(path: str) -> str:
    return f'parameter "{path}"' if "." not in path and "[" not in path else f'field "{path}"'


def _describe(types: Sequence[str]) -> str:
    return " or ".join(types)


def validate_params(
    spec: ApiSpec,
    method: MethodSpec,
    params: Mapping[str, Any],
    files: Mapping[str, UploadedFile],
) -> dict[str, Any]:
    """Check a request's parameters and return them converted to Python values.

    ``params`` holds strings for form fields and JSON values for JSON bodies; ``files`` the
    multipart file parts by part name. A file part is either a parameter itself or the target
    of an ``attach://<name>`` reference; any other part, like any undocumented parameter, is an
    error (Telegram ignores them; a stray parameter is almost always a bug in the bot).
    """
    try:
        return _validate(_Context(spec, files), method, params)
    except _Mismatch as mismatch:
        raise ApiError(mismatch.description) from None


def _validate(ctx: _Context, method: MethodSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    files = ctx.files
    values: dict[str, Any] = {}
    for name, raw in params.items():
        legacy = _LEGACY_PARAMS.get(name)
        if legacy is not None and legacy[0] in method.fields and name not in method.fields:
            if raw is not None:
                values[name] = _check_type(ctx, raw, legacy[1], name, top=True)
            continue
        if name not in method.fields:
            raise ApiError(f'Bad Request: unknown parameter "{name}"')
        if raw is None:
            continue
        values[name] = _check_union(ctx, raw, method.fields[name].types, name, top=True)
    for name, upload in files.items():
        if name in method.fields and name not in params:
            values[name] = _check_union(ctx, upload, method.fields[name].types, name, top=True)
    for name in files:
        if name not in ctx.used_files and name not in method.fields:
            raise ApiError(f'Bad Request: unknown parameter "{name}" (file part never attached)')
    for name, field_spec in method.fields.items():
        if field_spec.required and name not in values:
            raise ApiError(f'Bad Request: parameter "{name}" is required')
    hook = _METHOD_HOOKS.get(method.name)
    if hook:
        hook(values)
    return values


def _check_union(ctx: _Context, value: Any, types: Sequence[str], path: str, *, top: bool) -> Any:
    if len(types) == 1:
        return _check_type(ctx, value, types[0], path, top=top)
    specific: list[_Mismatch] = []
    for type_expr in types:
        try:
            return _check_type(ctx, value, type_expr, path, top=top)
        except _Mismatch as mismatch:
            if mismatch.specific:
                specific.append(mismatch)
    if len({mismatch.description for mismatch in specific}) == 1:
        raise specific[0]
    raise _Mismatch(f"Bad Request: {_label(path)} must be of type {_describe(types)}")


def _decode_json(value: str, path: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise _Mismatch(f"Bad Request: can't parse JSON in {_label(path)}", specific=True) from None


def _check_type(ctx: _Context, value: Any, type_expr: str, path: str, *, top: bool) -> Any:
    """Validate one value against one type expression; ``top`` marks a request parameter,
    where scalars may come as strings and structured values as JSON-serialised strings."""
    mismatch = _Mismatch(f"Bad Request: {_label(path)} must be of type {type_expr}")
    if type_expr.startswith("Array of "):
        inner = type_expr[len("Array of ") :]
        if top and isinstance(value, str):
            value = _decode_json(value, path)
        if not isinstance(value, list):
            raise mismatch
        return [
            _check_type(ctx, item, inner, f"{path}[{index}]", top=False)
            for index, item in enumerate(value)
        ]
    if type_expr == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if top and isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        raise mismatch
    if type_expr == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if top and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)
        raise mismatch
    if type_expr == "String":
        if isinstance(value, str):
            return value
        raise mismatch
    if type_expr in ("Boolean", "True"):
        if isinstance(value, bool):
            return value
        if top and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise mismatch
    if type_expr == "InputFile":
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            if name not in ctx.files:
                raise ApiError(
                    f'Bad Request: {_label(path)} refers to a missing file part "{name}"'
                )
            ctx.used_files.add(name)
            return ctx.files[name]
        raise mismatch
    type_spec = ctx.spec.types.get(type_expr)
    if type_spec is None:
        raise ApiError(f"Internal Server Error: type {type_expr} is not in api.json", 500)
    if top and isinstance(value, str):
        value = _decode_json(value, path)
    if not isinstance(value, dict):
        raise mismatch
    return _check_object(ctx, value, type_spec, path)


def _check_object(ctx: _Context, value: dict[str, Any], spec: TypeSpec, path: str) -> Any:
    if spec.subtypes:
        return _check_union(ctx, value, _pick_subtypes(ctx.spec, spec, value), path, top=False)
    if spec.fields is None:
        return value
    present = {key: item for key, item in value.items() if item is not None}
    unknown = [key for key in present if key not in spec.fields]
    missing = [name for name, f in spec.fields.items() if f.required and name not in present]
    if spec.discriminator is not None:
        key, expected = spec.discriminator
        if present.get(key) != expected:
            raise _Mismatch(f'Bad Request: {_label(path)}.{key} must be "{expected}"')
    if unknown:
        raise _Mismatch(
            f'Bad Request: unknown field "{unknown[0]}" in {_label(path)} ({spec.name})',
            specific=len(present) > len(unknown),
        )
    if missing:
        raise _Mismatch(
            f'Bad Request: field "{path}.{missing[0]}" is required ({spec.name})',
            specific=bool(present),
        )
    result: dict[str, Any] = {}
    try:
        for key, item in present.items():
            result[key] = _check_union(
                ctx, item, spec.fields[key].types, f"{path}.{key}", top=False
            )
        hook = _TYPE_HOOKS.get(spec.name)
        if hook:
            hook(result, path)
    except _Mismatch as mismatch:
        mismatch.specific = True
        raise
    except ApiError as error:
        raise _Mismatch(error.description, specific=True) from None
    return result


def _pick_subtypes(spec: ApiSpec, abstract: TypeSpec, value: Mapping[str, Any]) -> list[str]:
    """Narrow an abstract type to the subtypes a value can be, using the discriminator field."""
    candidates: list[str] = []
    for name in abstract.subtypes:
        sub = spec.types.get(name)
        if sub is None or sub.discriminator is None:
            candidates.append(name)
            continue
        key, expected = sub.discriminator
        if value.get(key) == expected:
            return [name]
        if key not in value:
            candidates.append(name)
    return candidates or list(abstract.subtypes)


def _limit(text: str, low: int, high: int, *, unit: str = "characters") -> bool:
    size = len(text.encode("utf-8")) if unit == "bytes" else len(text.encode("utf-16-le")) // 2
    return low <= size <= high


def _inline_button(button: dict[str, Any], path: str) -> None:
    if not button.get("text", "").strip():
        raise ApiError("Bad Request: BUTTON_TEXT_INVALID (inline button text must be non-empty)")
    kinds = [k for k in button if k not in ("text", "icon_custom_emoji_id", "style")]
    if len(kinds) == 0:
        raise ApiError("Bad Request: text buttons are unallowed in the inline keyboard")
    if len(kinds) > 1:
        raise ApiError(
            f"Bad Request: inline button {path} must use exactly one of its optional fields, "
            f"got {', '.join(sorted(kinds))}"
        )
    if "callback_data" in button and not _limit(button["callback_data"], 1, 64, unit="bytes"):
        raise ApiError("Bad Request: BUTTON_DATA_INVALID")
    if "url" in button and not re.match(r"(https?|tg)://\S+$", button["url"]):
        raise ApiError("Bad Request: BUTTON_URL_INVALID")


def _copy_text(button: dict[str, Any], path: str) -> None:
    if not _limit(button["text"], 1, 256):
        raise ApiError("Bad Request: COPY_TEXT_INVALID (the text to copy must be 1-256 characters)")


def _request_users(request: dict[str, Any], path: str) -> None:
    if not -(2**31) <= request["request_id"] < 2**31:
        raise ApiError("Bad Request: request_id must be a signed 32-bit integer")
    quantity = request.get("max_quantity")
    if quantity is not None and not 1 <= quantity <= 10:
        raise ApiError("Bad Request: max_quantity must be 1-10")


def _keyboard_button(button: dict[str, Any], path: str) -> None:
    if not button.get("text", "").strip():
        raise ApiError("Bad Request: BUTTON_TEXT_INVALID (keyboard button text must be non-empty)")
    kinds = [k for k in button if k.startswith("request_") or k == "web_app"]
    if len(kinds) > 1:
        raise ApiError(f"Bad Request: keyboard button {path} uses {', '.join(sorted(kinds))}")


def _inline_keyboard(markup: dict[str, Any], path: str) -> None:
    rows = markup["inline_keyboard"]
    if any(len(row) > 8 for row in rows):
        raise ApiError("Bad Request: too many buttons in a row of the inline keyboard (max 8)")
    if sum(len(row) for row in rows) > 100:
        raise ApiError("Bad Request: reply markup is too long (max 100 buttons)")


def _reply_keyboard(markup: dict[str, Any], path: str) -> None:
    placeholder = markup.get("input_field_placeholder")
    if placeholder is not None and not _limit(placeholder, 1, 64):
        raise ApiError("Bad Request: input_field_placeholder must be 1-64 characters")
    if not any(markup["keyboard"]):
        raise ApiError("Bad Request: keyboard must have at least one button")


def _bot_command(command: dict[str, Any], path: str) -> None:
    if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
        raise ApiError("Bad Request: BOT_COMMAND_INVALID")
    if not _limit(command["description"], 1, 256):
        raise ApiError("Bad Request: command description must be 1-256 characters")


_TYPE_HOOKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "InlineKeyboardButton": _inline_button,
    "KeyboardButton": _keyboard_button,
    "CopyTextButton": _copy_text,
    "KeyboardButtonRequestUsers": _request_users,
    "InlineKeyboardMarkup": _inline_keyboard,
    "ReplyKeyboardMarkup": _reply_keyboard,
    "BotCommand": _bot_command,
}


def _answer_callback_query(values: dict[str, Any]) -> None:
    if not _limit(values.get("text", ""), 0, 200):
        raise ApiError("Bad Request: MESSAGE_TOO_LONG (callback answer text is 0-200 characters)")


def _set_webhook(values: dict[str, Any]) -> None:
    secret = values.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ApiError("Bad Request: secret token contains unallowed characters")
    connections = values.get("max_connections")
    if connections is not None and not 1 <= connections <= 100:
        raise ApiError("Bad Request: max_connections must be 1-100")


def _set_my_commands(values: dict[str, Any]) -> None:
    if len(values["commands"]) > 100:
        raise ApiError("Bad Request: too many commands (max 100)")


_METHOD_HOOKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "answerCallbackQuery": _answer_callback_query,
    "setWebhook": _set_webhook,
    "setMyCommands": _set_my_commands,
}
