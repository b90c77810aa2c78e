"""Locale files: every text the bot shows, in Vietnamese and English.

Each language is a folder ``bot/locales/<lang>/`` of YAML files (``bot.yaml`` for the bot
layer's own texts, ``flow.yaml`` for the conversations). The files of one language are merged;
a key defined twice (in one file or across files) is an error, so two authors never silently
override each other. Nested mappings are flattened with dots (``btn: {back: …}`` is
``btn.back``); dotted keys at any level work too.

Templates use ``str.format`` placeholders (``{name}``; a literal brace is ``{{``) and may contain
Telegram HTML. Parameters are passed already formatted and escaped (see :mod:`bot.render`):
this module never escapes.

A key missing in a language falls back to Vietnamese, the default; a key missing everywhere is a
programming error (``KeyError``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = [
    "FALLBACK_LANGUAGE",
    "LANGUAGES",
    "LOCALES_DIR",
    "I18n",
    "LocaleError",
    "load_locales",
    "normalize_language",
    "placeholders",
]

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("vi", "en")
FALLBACK_LANGUAGE = "vi"

_FORMATTER = string.Formatter()


class LocaleError(ValueError):
    """A locale file cannot be used (bad YAML, a non-text value, a duplicate key)."""


def normalize_language(code: str | None) -> str | None:
    """``"en-US"`` → ``"en"``; a language we do not ship (or none) → ``None``."""
    if not code:
        return None
    primary = code.replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def placeholders(template: str) -> frozenset[str]:
    """The parameter names a template uses (``{amount}`` → ``amount``)."""
    names: set[str] = set()
    for _, field, _, _ in _FORMATTER.parse(template):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return frozenset(names)


def _flatten(data: Any, prefix: str, out: dict[str, str], source: str) -> None:
    if not isinstance(data, Mapping):
        raise LocaleError(f"{source}: {prefix or 'the file'} must be a mapping of keys to texts")
    for raw_key, value in data.items():
        if not isinstance(raw_key, str) or not raw_key:
            raise LocaleError(f"{source}: key {raw_key!r} under {prefix or 'the top'} is not text")
        key = f"{prefix}.{raw_key}" if prefix else raw_key
        if isinstance(value, Mapping):
            _flatten(value, key, out, source)
            continue
        if not isinstance(value, str):
            raise LocaleError(f"{source}: {key} must be text, not {type(value).__name__}")
        if key in out:
            raise LocaleError(f"{source}: duplicate key {key}")
        try:
            placeholders(value)
        except ValueError as error:
            raise LocaleError(f"{source}: {key}: bad placeholder: {error}") from error
        out[key] = str(value)


def load_locales(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Every ``*.yaml`` under ``directory/<lang>/``, merged per language.

    Raises :class:`LocaleError` naming the file and key of the first problem.
    """
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = False
    result: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        merged: dict[str, str] = {}
        folder = directory / lang
        for path in sorted(folder.glob("*.yaml")):
            source = f"{lang}/{path.name}"
            try:
                data = yaml.load(path.read_text(encoding="utf-8"))
            except YAMLError as error:
                raise LocaleError(f"{source}: invalid YAML: {error}") from error
            if data is None:
                continue
            found: dict[str, str] = {}
            _flatten(data, "", found, source)
            clash = sorted(found.keys() & merged.keys())
            if clash:
                raise LocaleError(f"{source}: duplicate key {clash[0]} (defined in another file)")
            merged.update(found)
        result[lang] = merged
    return result


class I18n:
    """Looks texts up by language and key; immutable after construction."""

    __slots__ = ("_messages", "fallback")

    def __init__(
        self, messages: Mapping[str, Mapping[str, str]], fallback: str = FALLBACK_LANGUAGE
    ) -> None:
        self._messages = {lang: dict(texts) for lang, texts in messages.items()}
        self.fallback = fallback
        self._messages.setdefault(fallback, {})

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> I18n:
        return cls(load_locales(directory))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._messages)

    def keys(self, lang: str) -> frozenset[str]:
        return frozenset(self._messages.get(lang, {}))

    def has(self, key: str) -> bool:
        return key in self._messages[self.fallback] or any(
            key in texts for texts in self._messages.values()
        )

    def template(self, lang: str, key: str) -> str:
        """The raw template, falling back to the default language; ``KeyError`` if unknown."""
        texts = self._messages.get(lang)
        if texts is not None and key in texts:
            return texts[key]
        try:
            return self._messages[self.fallback][key]
        except KeyError:
            raise KeyError(f"no text for {key!r}") from None

    def t(self, lang: str, key: str, /, **params: Any) -> str:
        """The template for ``key`` formatted with ``params`` (given ready to show)."""
        return self.template(lang, key).format_map(params)
