"""Telegram's HTML formatting, parsed the way the Bot API server parses it.

The grammar follows tdlib's ``parse_html`` (the code behind ``parse_mode=HTML``): the allowed
tags, attribute syntax, the ``<`` that must always start a tag, and the error texts
(``Unsupported start tag "x" at byte offset N`` and so on). One deliberate difference: a named
entity other than ``&lt; &gt; &amp; &quot;`` (for example ``&nbsp;``) is an error here, while
Telegram shows it literally; a bot that sends one almost always forgot to escape user text.

Offsets and lengths of the produced entities are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "FormattedText",
    "FormattingError",
    "UnsupportedParseMode",
    "parse_html",
    "parse_text",
    "utf16_len",
    "visible_text",
]

_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_ALLOWED_TAGS = frozenset(
    [*_SIMPLE_TAGS, "a", "span", "code", "pre", "blockquote", "tg-emoji", "tg-time"]
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\f\v"
_STRIP = " \t\r\n\f\v"
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")


class FormattingError(ValueError):
    """Text the Bot API would refuse; ``description`` is Telegram's error text."""

    @property
    def description(self) -> str:
        return f"Bad Request: {self}"


class EntityParseError(FormattingError):
    """Raised for text Telegram would refuse with "can't parse entities"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def description(self) -> str:
        return f"Bad Request: can't parse entities: {self.reason}"


class UnsupportedParseMode(FormattingError):
    """An unknown parse mode, or a Markdown one, which the sandbox does not implement."""


@dataclass(frozen=True)
class FormattedText:
    """Visible text (what the user reads) with its entities, after Telegram's trimming."""

    text: str
    entities: tuple[dict[str, Any], ...] = field(default=())

    @property
    def length(self) -> int:
        """Length in UTF-16 code units, the unit of Telegram's text limits."""
        return utf16_len(self.text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_begin: int
    expandable: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, pos: int, *, strict: bool) -> tuple[str, int] | None:
    """Decode the character reference starting at ``text[pos] == '&'``.

    Returns the decoded character and the index after the reference, or None when the
    ampersand is literal. With ``strict`` an unknown named reference is an error.
    """
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        digits = 0
        if end < n and text[end] in "xX":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
                digits += 1
                if value >= 0x10FFFF:
                    return None
        else:
            while end < n and text[end].isascii() and text[end].isdigit():
                value = value * 10 + int(text[end])
                end += 1
                digits += 1
                if value >= 0x10FFFF:
                    return None
        if digits == 0 or value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            if strict and name and end < n and text[end] == ";":
                raise EntityParseError(
                    f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(text, pos)}'
                )
            return None
        char = _NAMED_ENTITIES[name]
    if end < n and text[end] == ";":
        end += 1
    return char, end


def parse_html(source: str) -> FormattedText:
    """Parse ``parse_mode=HTML`` text into visible text and entities, or raise EntityParseError."""
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0
    while i < n:
        c = source[i]
        if c == "&":
            decoded = _decode_entity(source, i, strict=True)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                utf16 += utf16_len(char)
                continue
        if c != "<":
            out.append(c)
            utf16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i < n and source[i] == "/":
            i = _close_tag(source, begin, i, stack, entities, utf16)
            continue
        name_begin = i
        while i < n and source[i] not in _SPACES and source[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(
                f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
            )
        tag = source[name_begin:i].lower()
        if tag not in _ALLOWED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(source, begin)}'
            )
        opened, i = _read_attributes(source, begin, i, tag)
        opened.utf16_begin = utf16
        stack.append(opened)
        i += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return _strip("".join(out), entities)


def _read_attributes(source: str, begin: int, i: int, tag: str) -> tuple[_Open, int]:
    """Read the attributes of a start tag; returns the open tag and the index of its ``>``."""
    n = len(source)
    opened = _Open(tag=tag, argument="", utf16_begin=0)
    at = _byte_offset(source, begin)
    while True:
        while i < n and source[i] in _SPACES:
            i += 1
        if i >= n:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {at}')
        if source[i] == ">":
            break
        attr_begin = i
        while i < n and source[i] not in _SPACES and source[i] not in "=>":
            i += 1
        attr = source[attr_begin:i].lower()
        if not attr:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {at}')
        while i < n and source[i] in _SPACES:
            i += 1
        if i >= n or source[i] != "=":
            if tag == "blockquote" and attr == "expandable":
                opened.expandable = True
                continue
            raise EntityParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {at}'
            )
        i += 1
        while i < n and source[i] in _SPACES:
            i += 1
        if i >= n:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {at}')
        if source[i] not in "'\"":
            match = _NAME_TOKEN.match(source, i)
            assert match is not None
            value = match.group().lower()
            i = match.end()
            if i >= n or (source[i] not in _SPACES and source[i] != ">"):
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(source, i)}"
                )
        else:
            quote = source[i]
            i += 1
            chars: list[str] = []
            while i < n and source[i] != quote:
                if source[i] == "&":
                    decoded = _decode_entity(source, i, strict=True)
                    if decoded is not None:
                        chars.append(decoded[0])
                        i = decoded[1]
                        continue
                chars.append(source[i])
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {at}")
            i += 1
            value = "".join(chars)
        _apply_attribute(opened, attr, value)
    if tag == "span" and opened.argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    return opened, i


def _apply_attribute(opened: _Open, attr: str, value: str) -> None:
    tag = opened.tag
    if tag == "a" and attr == "href":
        opened.argument = value
    elif tag == "code" and attr == "class" and value.startswith("language-"):
        opened.argument = value[len("language-") :]
    elif tag == "span" and attr == "class" and value.startswith("tg-"):
        opened.argument = value[len("tg-") :]
    elif tag == "tg-emoji" and attr == "emoji-id":
        opened.argument = value
    elif tag == "tg-time" and attr in ("unix", "format"):
        opened.extra[attr] = value


def _close_tag(
    source: str,
    begin: int,
    i: int,
    stack: list[_Open],
    entities: list[dict[str, Any]],
    utf16_end: int,
) -> int:
    """Handle an end tag starting at ``begin`` (``source[i] == '/'``); returns the next index."""
    n = len(source)
    at = _byte_offset(source, begin)
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {at}")
    i += 1
    name_begin = i
    while i < n and source[i] not in _SPACES and source[i] != ">":
        i += 1
    end_name = source[name_begin:i].lower()
    while i < n and source[i] in _SPACES:
        i += 1
    if i >= n or source[i] != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {at}")
    opened = stack.pop()
    if end_name and end_name != opened.tag:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {at}, expected "</{opened.tag}>", '
            f'found "</{end_name}>"'
        )
    length = utf16_end - opened.utf16_begin
    entity = _entity_for(opened, length, stack, entities)
    if entity is not None and length > 0:
        entities.append(entity)
    return i + 1


def _entity_for(
    opened: _Open, length: int, stack: list[_Open], entities: list[dict[str, Any]]
) -> dict[str, Any] | None:
    base: dict[str, Any] = {"offset": opened.utf16_begin, "length": length}
    tag = opened.tag
    if tag in _SIMPLE_TAGS:
        return {"type": _SIMPLE_TAGS[tag], **base}
    if tag == "span":
        return {"type": "spoiler", **base}
    if tag == "a":
        url = opened.argument
        if url.startswith("tg://user?id="):
            user_id = url[len("tg://user?id=") :]
            if user_id.isdigit():
                return {"type": "text_mention", **base, "user": {"id": int(user_id)}}
        if not url:
            return None
        return {"type": "text_link", **base, "url": url}
    if tag == "code":
        parent = stack[-1] if stack else None
        if (
            opened.argument
            and parent is not None
            and parent.tag == "pre"
            and parent.utf16_begin == opened.utf16_begin
        ):
            parent.argument = opened.argument
            return None
        return {"type": "code", **base}
    if tag == "pre":
        if opened.argument:
            return {"type": "pre", **base, "language": opened.argument}
        return {"type": "pre", **base}
    if tag == "blockquote":
        kind = "expandable_blockquote" if opened.expandable else "blockquote"
        return {"type": kind, **base}
    if tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        return {"type": "custom_emoji", **base, "custom_emoji_id": opened.argument}
    unix = opened.extra.get("unix", "")
    if not unix.isdigit():
        raise EntityParseError("Invalid Unix time specified in the tg-time tag")
    entity = {"type": "date_time", **base, "unix_time": int(unix)}
    if "format" in opened.extra:
        entity["date_time_format"] = opened.extra["format"]
    return entity


def _strip(text: str, entities: list[dict[str, Any]]) -> FormattedText:
    """Trim surrounding whitespace like Telegram and clip the entities to what remains."""
    stripped_left = text.lstrip(_STRIP)
    shift = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip(_STRIP)
    limit = utf16_len(result)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return FormattedText(result, tuple(kept))


def parse_text(text: str, parse_mode: str | None) -> FormattedText:
    """Apply ``parse_mode`` (None or HTML) the way sendMessage does before its limits apply.

    Markdown modes are refused: the sandbox only implements HTML, which the bot uses.
    """
    if parse_mode is None or parse_mode == "":
        return _strip(text, [])
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode in ("markdown", "markdownv2"):
        raise UnsupportedParseMode(f"parse_mode {parse_mode} is not supported by the sandbox")
    raise UnsupportedParseMode(f"unsupported parse_mode {parse_mode}")


def visible_text(text: str, parse_mode: str | None = "HTML") -> str:
    """What the user reads: tags removed, entities unescaped, surrounding whitespace trimmed."""
    return parse_text(text, parse_mode).text
