"""The bot's settings, read from the environment (and a ``.env`` file) with pydantic-settings.

Variable names and defaults are the contract's ("Environment"). Values are checked when the
settings are built, so a bad deployment fails at start with one line per bad variable
(:func:`format_settings_errors`), e.g. ``HTTP_PORT: must be between 1 and 65535 (got 'abc')``.

Secrets (``BOT_TOKEN``, ``WEBHOOK_SECRET``, ``VNPTPAY_API_KEY``, ``VNPTPAY_SECRET_KEY``) are
:class:`SecretStr`: their values never appear in ``repr``/``str``, logs or error lines; the
password of a database or Redis URL is masked in ``repr`` and error lines too.

Empty variables (``REDIS_URL=``) count as unset. Base URLs (``TELEGRAM_API_URL``,
``PUBLIC_URL``, ``VNPTPAY_URL``) are returned without a trailing slash so paths can be appended.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "format_settings_errors", "load_settings", "mask_url_password"]

_SECRET_FIELDS = frozenset({"bot_token", "webhook_secret", "vnptpay_api_key", "vnptpay_secret_key"})
_URL_FIELDS = frozenset({"database_url", "redis_url"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ASYNC_DB_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9:_.-]{1,64}")
_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")

_RULES: dict[str, str] = {
    "http_port": "must be between 1 and 65535",
    "default_locale": "must be vi or en",
    "log_format": "must be text or json",
    "event_loop": "must be asyncio or uvloop",
    "log_level": f"must be one of {', '.join(_LOG_LEVELS)}",
    "admin_ids": "must be comma-separated Telegram user ids, e.g. 123456789,987654321",
    "draft_ttl_hours": "must be a whole number ≥ 1",
    "order_expiry_minutes": "must be a whole number ≥ 1",
    "reconcile_after_minutes": "must be a whole number ≥ 1",
    "renewal_grace_days": "must be a whole number of days ≥ 0",
    "renewal_reminder_days": "must be comma-separated whole numbers of days 1–400, e.g. 7,3,1",
    "catalog_refresh_seconds": "must be a whole number ≥ 1",
    "flood_chat_interval": "must be a number of seconds ≥ 0, e.g. 1 or 0.5",
    "flood_global_rate": "must be a whole number ≥ 1",
    "telegram_retry_attempts": "must be a whole number ≥ 1",
    "telegram_retry_max_seconds": "must be a number of seconds ≥ 0, e.g. 60",
    "webhook_max_connections": "must be a whole number between 1 and 100",
}


def mask_url_password(url: str) -> str:
    """``postgresql+asyncpg://u:secret@h/db`` → ``postgresql+asyncpg://u:***@h/db``."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def _whole_number(value: object, minimum: int, maximum: int | None, rule: str) -> int:
    if isinstance(value, bool):
        raise ValueError(rule)
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(rule)
        value = int(text)
    if not isinstance(value, int):
        raise ValueError(rule)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(rule)
    return value


def _http_url(value: str, *, base: bool) -> str:
    text = value.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError as error:
        raise ValueError("must be an http(s) URL, e.g. https://example.com") from error
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", text):
        raise ValueError("must be an http(s) URL, e.g. https://example.com")
    return text.rstrip("/") if base else text


class Settings(BaseSettings):
    """Every setting of the bot; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///onesme.db"
    redis_url: str | None = None
    #: the prefix of every Redis key the bot writes (several bots, or test runs, share a Redis)
    redis_prefix: str = "onesme:"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    #: setWebhook's ``max_connections``: webhook requests Telegram keeps open at once. The
    #: answer to an update is the webhook's answer, and a reply that waits for its chat's flood
    #: slot (up to ``flood_chat_interval``) holds its request open, so Telegram's default of
    #: 40 made other chats' updates queue behind such waits (docs/performance.md, round 8)
    webhook_max_connections: int = 100
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    #: where the payment return page sends the payer back to; default https://t.me/<bot>
    chat_url: str | None = None
    vnptpay_url: str | None = None
    vnptpay_merchant_service_id: str | None = None
    vnptpay_api_key: SecretStr | None = None
    vnptpay_secret_key: SecretStr | None = None
    catalog_file: Path | None = None
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    default_locale: Literal["vi", "en"] = "vi"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    #: the event loop of ``run``: asyncio's own, or uvloop (installed with the ``uvloop`` extra)
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    draft_ttl_hours: int = 24
    order_expiry_minutes: int = 30
    reconcile_after_minutes: int = 5
    catalog_refresh_seconds: int = 30
    #: how often at least the outbox worker looks for rows written by other processes (rows
    #: written by this process wake it at once; retries and expired leases are looked for when
    #: they are due); None: 1 s on PostgreSQL (other replicas write), 30 s on SQLite (one
    #: process, so only a safety net)
    outbox_poll_seconds: float | None = None
    #: how long a claimed outbox row is held by one process before another may take it
    #: (a process that died mid-send leaves its rows for that long)
    outbox_lease_seconds: float = 120.0
    #: outgoing flood control: seconds between two messages to one chat, messages a second
    flood_chat_interval: float = 1.0
    flood_global_rate: int = 30
    #: retries of failed Bot API calls: attempts for 5xx/timeouts, time bound for all retries
    telegram_retry_attempts: int = 5
    telegram_retry_max_seconds: float = 60.0
    #: days after the period end before an ACTIVE subscription that was not renewed expires
    renewal_grace_days: int = 0
    #: renewal reminders, in days before the period end (each sent once per period)
    renewal_reminder_days: Annotated[tuple[int, ...], NoDecode] = (7, 3, 1)

    @field_validator("http_port", mode="before")
    @classmethod
    def _port(cls, value: object) -> int:
        return _whole_number(value, 1, 65535, _RULES["http_port"])

    @field_validator("webhook_max_connections", mode="before")
    @classmethod
    def _max_connections(cls, value: object) -> int:
        return _whole_number(value, 1, 100, _RULES["webhook_max_connections"])

    @field_validator(
        "draft_ttl_hours",
        "order_expiry_minutes",
        "reconcile_after_minutes",
        "catalog_refresh_seconds",
        "flood_global_rate",
        "telegram_retry_attempts",
        mode="before",
    )
    @classmethod
    def _positive(cls, value: object) -> int:
        return _whole_number(value, 1, None, "must be a whole number ≥ 1")

    @field_validator("renewal_grace_days", mode="before")
    @classmethod
    def _grace(cls, value: object) -> int:
        return _whole_number(value, 0, 3650, _RULES["renewal_grace_days"])

    @field_validator("renewal_reminder_days", mode="before")
    @classmethod
    def _reminder_days(cls, value: object) -> tuple[int, ...]:
        rule = _RULES["renewal_reminder_days"]
        items: list[object]
        if isinstance(value, str):
            items = [item for item in re.split(r"[,\s]+", value.strip()) if item]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise ValueError(rule)
        days = [_whole_number(item, 1, 400, rule) for item in items]
        if len(set(days)) != len(days):
            raise ValueError(rule + " (each once)")
        return tuple(sorted(days, reverse=True))

    @field_validator("outbox_poll_seconds", mode="after")
    @classmethod
    def _poll(cls, value: float | None) -> float | None:
        if value is not None and not 0.05 <= value <= 60:
            raise ValueError("must be a number of seconds between 0.05 and 60")
        return value

    @field_validator("outbox_lease_seconds", mode="after")
    @classmethod
    def _lease(cls, value: float) -> float:
        if not 2 <= value <= 3600:
            raise ValueError("must be a number of seconds between 2 and 3600")
        return value

    @field_validator("flood_chat_interval", "telegram_retry_max_seconds", mode="before")
    @classmethod
    def _seconds(cls, value: object, info: ValidationInfo) -> float:
        rule = _RULES[str(info.field_name)]
        if isinstance(value, bool):
            raise ValueError(rule)
        try:
            seconds = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(rule) from None
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(rule)
        return seconds

    @field_validator("telegram_api_url", "public_url", "vnptpay_url", mode="after")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, base=True)

    @field_validator("webhook_url", "chat_url", mode="after")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _http_url(value, base=False)

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1–256 characters of A-Z, a-z, 0-9, '_' and '-'")
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme, sep, rest = value.strip().partition("://")
        if (
            not sep
            or scheme not in _ASYNC_DB_SCHEMES
            or (scheme.startswith("postgres") and not rest)
        ):
            raise ValueError(
                "must be an async SQLAlchemy URL: sqlite+aiosqlite:///FILE "
                "or postgresql+asyncpg://USER@HOST/DB"
            )
        return value.strip()

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
            raise ValueError("must be a Redis URL: redis://HOST:6379/0 or rediss://…")
        return value.strip()

    @field_validator("redis_prefix", mode="after")
    @classmethod
    def _redis_prefix(cls, value: str) -> str:
        if not _REDIS_PREFIX.fullmatch(value):
            raise ValueError("must be 1–64 characters of A-Z, a-z, 0-9, ':', '_', '.' and '-'")
        return value

    @field_validator("http_host", mode="after")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.strip() or re.search(r"\s", value.strip()):
            raise ValueError("must be a host name or IP address, e.g. 0.0.0.0")
        return value.strip()

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> tuple[int, ...]:
        rule = _RULES["admin_ids"]
        items: list[object]
        if isinstance(value, str):
            items = [item for item in re.split(r"[,\s]+", value.strip()) if item]
        elif isinstance(value, list | tuple | set | frozenset):
            items = list(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [value]
        else:
            raise ValueError(rule)
        ids = tuple(_whole_number(item, 1, None, rule) for item in items)
        return tuple(dict.fromkeys(ids))

    @field_validator("default_locale", "log_format", "event_loop", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> str:
        level = value.strip().upper() if isinstance(value, str) else ""
        level = "WARNING" if level == "WARN" else level
        if level not in _LOG_LEVELS:
            raise ValueError(_RULES["log_level"])
        return level

    @property
    def vnptpay_configured(self) -> bool:
        return all(
            (
                self.vnptpay_url,
                self.vnptpay_merchant_service_id,
                self.vnptpay_api_key,
                self.vnptpay_secret_key,
            )
        )

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name in _URL_FIELDS and isinstance(value, str):
                yield name, mask_url_password(value)
            else:
                yield name, value


def load_settings(**overrides: Any) -> Settings:
    """Settings from (in increasing priority) defaults, ``.env``, the environment, overrides.

    Override keys are field names in any case (``http_port=9000`` or ``HTTP_PORT=9000``);
    ``_env_file=None`` skips the ``.env`` file. Raises pydantic's ``ValidationError``; turn it
    into lines with :func:`format_settings_errors`.
    """
    values = {
        key if key.startswith("_") else key.lower(): value for key, value in overrides.items()
    }
    return Settings(**values)


def _shown(field: str, value: object) -> str:
    if field in _SECRET_FIELDS:
        return ""
    if isinstance(value, SecretStr):
        return ""
    if field in _URL_FIELDS and isinstance(value, str):
        value = mask_url_password(value)
    return f" (got {value!r})"


def format_settings_errors(error: ValidationError) -> list[str]:
    """One line per bad variable, ``NAME: rule (got 'value')``; secret values are never shown."""
    lines: dict[str, str] = {}
    for item in error.errors(include_url=False):
        loc = item.get("loc", ())
        field = str(loc[0]) if loc else "settings"
        name = field.upper()
        if name in lines:
            continue
        if item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        else:
            message = _RULES.get(field, item["msg"][:1].lower() + item["msg"][1:])
        lines[name] = f"{name}: {message}{_shown(field, item.get('input'))}"
    order = {name.upper(): i for i, name in enumerate(Settings.model_fields)}
    return [lines[name] for name in sorted(lines, key=lambda n: order.get(n, len(order)))]
