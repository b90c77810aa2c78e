"""Logging setup: ``LOG_LEVEL``, ``LOG_FORMAT`` (text | json) and secret redaction.

Secrets leak into logs in unexpected places: aiogram and aiohttp put the bot token in request
URLs (``/bot<token>/sendMessage``) and exception texts. :class:`RedactingFilter` sits on the
handler, so it sees every record that reaches it (the bot's, aiogram's, aiohttp's, the
database driver's), and replaces each known secret — and anything shaped like a bot token — with
``***`` in the message, the arguments, the traceback and the stack.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["REDACTED", "JsonFormatter", "RedactingFilter", "configure_logging"]

REDACTED = "***"
#: a Telegram bot token: the bot id, a colon, then 30+ url-safe characters
_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
_MIN_SECRET_LENGTH = 6
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_HANDLER_NAME = "onesme-bot"


class RedactingFilter(logging.Filter):
    """Replaces ``secrets`` (and bot-token-shaped strings) in a record before it is written.

    A bot token's secret part (after ``:``) is redacted on its own too, since it can appear
    URL-encoded or split from the id.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        values: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            values.add(secret)
            _, colon, tail = secret.partition(":")
            if colon and len(tail) >= _MIN_SECRET_LENGTH:
                values.add(tail)
        usable = sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(v) for v in usable)) if usable else None

    def redact(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return _TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must still be logged, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message`` and, when present,
    ``exception`` and ``stack``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    secrets: Iterable[str | None] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install the bot's handler on the root logger (replacing one installed before) and
    return it. Other handlers (pytest's, for example) are left alone."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiogram logs every update at INFO ("Update id=… is handled"): ours covers that with metrics
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))
    return handler
