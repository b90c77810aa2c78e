"""Reading a catalog file (YAML 1.2, or JSON) from disk into a validated :class:`Catalog`.

YAML is read with ruamel.yaml's safe loader, which follows YAML 1.2: ``kind: ON`` unquoted is
the string ``"ON"`` (PyYAML, a YAML 1.1 loader, would turn it into ``True``). Problems with the
file itself (missing, not UTF-8, not YAML/JSON, duplicate keys) are reported as one
:class:`CatalogInvalid` problem whose path is ``"<file>"``; problems with the content carry
their path in the document (see :func:`domain.catalog_parse.parse_catalog`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from domain.catalog import Catalog
from domain.catalog_parse import parse_catalog
from domain.errors import CatalogInvalid

__all__ = ["FILE_PATH", "load_catalog_file", "load_catalog_text", "read_catalog_data"]

FILE_PATH = "<file>"


def _file_problem(message: str) -> CatalogInvalid:
    return CatalogInvalid([(FILE_PATH, message)])


def _to_plain(value: object) -> object:
    """Recursively turn loader-specific containers and scalars into plain Python values."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else _to_plain(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return [_to_plain(v) for v in sorted(value, key=repr)]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    return value


def _yaml_error_message(error: YAMLError) -> str:
    if isinstance(error, MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        if mark is not None:
            return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        return f"invalid YAML: {problem}"
    return f"invalid YAML: {error}"


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_catalog_data(text: str, *, json_format: bool = False) -> object:
    """Parse catalog text into plain Python data, without checking the catalog rules.

    Raises :class:`CatalogInvalid` (path ``"<file>"``) when the text is not YAML/JSON.
    """
    if json_format:
        try:
            return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
        except json.JSONDecodeError as error:
            raise _file_problem(
                f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from error
        except ValueError as error:
            raise _file_problem(f"invalid JSON: {error}") from error
    yaml = YAML(typ="safe", pure=True)
    try:
        data = yaml.load(text)
    except YAMLError as error:
        raise _file_problem(_yaml_error_message(error)) from error
    except ValueError as error:  # e.g. an impossible date such as 2026-02-30
        raise _file_problem(f"invalid value: {error}") from error
    return _to_plain(data)


def load_catalog_text(text: str, *, json_format: bool = False) -> Catalog:
    """Parse and validate catalog text; raises :class:`CatalogInvalid` with every problem."""
    data = read_catalog_data(text, json_format=json_format)
    if data is None:
        raise _file_problem("the file is empty")
    return parse_catalog(data)


def load_catalog_file(path: str | os.PathLike[str]) -> Catalog:
    """Read, parse and validate a catalog file.

    ``*.json`` files are read as JSON; anything else as YAML 1.2 (which also reads JSON).
    Raises :class:`CatalogInvalid`; nothing else escapes for a bad or unreadable file.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise _file_problem(f"cannot read {file}: {error.strerror or error}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _file_problem(f"cannot read {file}: not UTF-8 text (byte {error.start})") from error
    return load_catalog_text(text, json_format=file.suffix.lower() == ".json")
