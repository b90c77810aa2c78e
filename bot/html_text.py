"""Telegram HTML as text: its length in Telegram's units, its plain reading, and long HTML
split into messages that each stay well-formed (see :mod:`bot.render`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

MESSAGE_LIMIT = 4096

_TAG = re.compile(r"<[^>]*>")
_TOKEN = re.compile(r"<(/?)([A-Za-z][\w-]*)[^>]*>|&#?\w+;|\n|[^\S\n]+|[^\s<&]+|[<&]")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits."""
    return len(text.encode("utf-16-le")) // 2


def _escape(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "'")


def html_to_plain(text: str) -> str:
    """Telegram HTML → the text the user reads (for callback answers, which are plain)."""
    return html.unescape(_TAG.sub("", text))


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


@dataclass(slots=True)
class _Atom:
    raw: str
    #: for a tag: (closing?, name); None for text and entities
    tag: tuple[bool, str] | None = None


def _atoms(text: str, limit: int) -> list[_Atom]:
    atoms: list[_Atom] = []
    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        if match.group(2) is not None:
            atoms.append(_Atom(raw, (match.group(1) == "/", match.group(2).lower())))
        elif len(raw) > limit // 2:
            atoms.extend(_Atom(raw[i : i + limit // 2]) for i in range(0, len(raw), limit // 2))
        else:
            atoms.append(_Atom(raw))
    return atoms


def _closers(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _openers(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(raw for _, raw in stack)


def _after(stack: list[tuple[str, str]], atom: _Atom) -> list[tuple[str, str]]:
    """The open-tag stack once ``atom`` is added."""
    if atom.tag is None:
        return stack
    closing, name = atom.tag
    if not closing:
        return [*stack, (name, atom.raw)]
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] == name:
            return stack[:i]
    return stack


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut Telegram HTML into parts of at most ``limit`` UTF-16 units each (markup included,
    so the visible text is shorter still), preferring line ends. Tags open at a cut are closed
    there and reopened at the start of the next part; blank parts are dropped."""
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    opened: list[tuple[str, str]] = []  # open when the current part starts (reopened there)
    current: list[_Atom] = []
    stack: list[tuple[str, str]] = []  # open after the current part's atoms
    size = 0
    line_end: tuple[int, list[tuple[str, str]]] | None = None

    def emit(atoms: Sequence[_Atom], at_end: Sequence[tuple[str, str]]) -> None:
        body = _openers(opened) + "".join(a.raw for a in atoms) + _closers(at_end)
        if html_to_plain(body).strip():
            parts.append(body)

    def restart(at: list[tuple[str, str]], rest: Sequence[_Atom]) -> None:
        nonlocal opened, current, stack, size, line_end
        opened, current, stack, line_end = list(at), [], list(at), None
        size = utf16_len(_openers(at))
        for atom in rest:
            push(atom)

    def push(atom: _Atom) -> None:
        nonlocal stack, size, line_end
        current.append(atom)
        size += utf16_len(atom.raw)
        stack = _after(stack, atom)
        if atom.raw == "\n":
            line_end = (len(current), stack)

    def fits(atom: _Atom) -> bool:
        return size + utf16_len(atom.raw) + utf16_len(_closers(_after(stack, atom))) <= limit

    for atom in _atoms(text, limit):
        if current and not fits(atom):
            cut, at = line_end if line_end is not None else (len(current), stack)
            rest = current[cut:]
            emit(current[:cut], at)
            restart(at, rest)
            if current and not fits(atom):
                emit(current, stack)
                restart(stack, ())
        push(atom)
    emit(current, stack)
    return parts
