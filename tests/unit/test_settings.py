"""Settings: the contract's defaults, environment and .env overrides, one line per bad value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, format_settings_errors, load_settings, mask_url_password

VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No inherited variables and no stray .env: each test sees only what it sets."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def errors_of(**env: str) -> list[str]:
    with pytest.raises(ValidationError) as excinfo:
        load_settings(**env)
    return format_settings_errors(excinfo.value)


def test_defaults_are_the_contracts() -> None:
    s = load_settings()
    assert s.bot_token is None
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_url == "sqlite+aiosqlite:///onesme.db"
    assert s.redis_url is None
    assert s.webhook_url is None
    assert s.webhook_secret is None
    assert s.webhook_max_connections == 100
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.public_url == "http://127.0.0.1:8080"
    assert s.vnptpay_url is None
    assert s.vnptpay_merchant_service_id is None
    assert s.vnptpay_api_key is None and s.vnptpay_secret_key is None
    assert not s.vnptpay_configured
    assert s.catalog_file is None
    assert s.admin_ids == ()
    assert s.default_locale == "vi"
    assert (s.log_level, s.log_format) == ("INFO", "text")
    assert s.event_loop == "asyncio"
    assert (s.draft_ttl_hours, s.order_expiry_minutes) == (24, 30)
    assert (s.reconcile_after_minutes, s.catalog_refresh_seconds) == (5, 30)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "BOT_TOKEN": "123456:ABC-def",
        "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
        "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "WEBHOOK_URL": "https://bot.example.vn/telegram/webhook",
        "WEBHOOK_SECRET": "s3cr3t_-X",
        "HTTP_HOST": "0.0.0.0",
        "HTTP_PORT": "9090",
        "PUBLIC_URL": "https://bot.example.vn/",
        "VNPTPAY_URL": "http://127.0.0.1:8080/vnptpay",
        "VNPTPAY_MERCHANT_SERVICE_ID": "1234",
        "VNPTPAY_API_KEY": "api-key-value",
        "VNPTPAY_SECRET_KEY": "secret-key-value",
        "CATALOG_FILE": "catalog.sample.yaml",
        "ADMIN_IDS": "111, 222,333",
        "DEFAULT_LOCALE": "EN",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
        "DRAFT_TTL_HOURS": "48",
        "ORDER_EXPIRY_MINUTES": "15",
        "RECONCILE_AFTER_MINUTES": "2",
        "CATALOG_REFRESH_SECONDS": "60",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.bot_token is not None and s.bot_token.get_secret_value() == "123456:ABC-def"
    assert s.telegram_api_url == "http://127.0.0.1:8081"
    assert s.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.webhook_url == "https://bot.example.vn/telegram/webhook"
    assert s.webhook_secret is not None and s.webhook_secret.get_secret_value() == "s3cr3t_-X"
    assert (s.http_host, s.http_port) == ("0.0.0.0", 9090)
    assert s.public_url == "https://bot.example.vn"
    assert s.vnptpay_url == "http://127.0.0.1:8080/vnptpay"
    assert s.vnptpay_configured
    assert s.catalog_file == Path("catalog.sample.yaml")
    assert s.admin_ids == (111, 222, 333)
    assert s.default_locale == "en"
    assert (s.log_level, s.log_format) == ("DEBUG", "json")
    assert (s.draft_ttl_hours, s.order_expiry_minutes) == (48, 15)
    assert (s.reconcile_after_minutes, s.catalog_refresh_seconds) == (2, 60)


def test_dotenv_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    (clean_environment / ".env").write_text(
        "HTTP_PORT=7000\nADMIN_IDS=5,6\nLOG_FORMAT=json\nREDIS_URL=\nUNRELATED=1\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LOG_FORMAT", "text")
    s = load_settings()
    assert s.http_port == 7000
    assert s.admin_ids == (5, 6)
    assert s.log_format == "text"
    assert s.redis_url is None
    assert load_settings(_env_file=None).http_port == 8080


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "9000")
    assert load_settings(http_port=9100).http_port == 9100
    assert load_settings(HTTP_PORT="9200").http_port == 9200
    assert load_settings(admin_ids=[7, 8]).admin_ids == (7, 8)


def test_webhook_max_connections_takes_telegrams_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_MAX_CONNECTIONS", "40")
    assert load_settings().webhook_max_connections == 40
    assert load_settings(webhook_max_connections=1).webhook_max_connections == 1


def test_admin_ids_single_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "42")
    assert load_settings().admin_ids == (42,)
    monkeypatch.setenv("ADMIN_IDS", "")
    assert load_settings().admin_ids == ()


def test_http_port_message_matches_the_contract_example() -> None:
    assert errors_of(HTTP_PORT="abc") == ["HTTP_PORT: must be between 1 and 65535 (got 'abc')"]
    assert errors_of(HTTP_PORT="0") == ["HTTP_PORT: must be between 1 and 65535 (got '0')"]
    assert errors_of(HTTP_PORT="65536")[0].startswith("HTTP_PORT: must be between 1 and 65535")


@pytest.mark.parametrize(
    ("name", "value", "start"),
    [
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE: must be vi or en (got 'fr')"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: must be text or json (got 'xml')"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("ADMIN_IDS", "1,two,3", "ADMIN_IDS: must be comma-separated Telegram user ids"),
        ("ADMIN_IDS", "-5", "ADMIN_IDS: must be comma-separated Telegram user ids"),
        ("DATABASE_URL", "sqlite:///x.db", "DATABASE_URL: must be an async SQLAlchemy URL"),
        ("DATABASE_URL", "postgresql://u@h/db", "DATABASE_URL: must be an async SQLAlchemy URL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL: must be a Redis URL"),
        ("WEBHOOK_URL", "bot.example.vn/hook", "WEBHOOK_URL: must be an http(s) URL"),
        ("PUBLIC_URL", "ftp://x", "PUBLIC_URL: must be an http(s) URL"),
        ("VNPTPAY_URL", "localhost:8080", "VNPTPAY_URL: must be an http(s) URL"),
        ("TELEGRAM_API_URL", "https://", "TELEGRAM_API_URL: must be an http(s) URL"),
        ("DRAFT_TTL_HOURS", "0", "DRAFT_TTL_HOURS: must be a whole number ≥ 1 (got '0')"),
        ("ORDER_EXPIRY_MINUTES", "1.5", "ORDER_EXPIRY_MINUTES: must be a whole number ≥ 1"),
        ("OUTBOX_POLL_SECONDS", "0", "OUTBOX_POLL_SECONDS: must be a number of seconds between"),
        ("OUTBOX_POLL_SECONDS", "soon", "OUTBOX_POLL_SECONDS: input should be a valid number"),
        ("OUTBOX_LEASE_SECONDS", "1", "OUTBOX_LEASE_SECONDS: must be a number of seconds between"),
        ("WEBHOOK_MAX_CONNECTIONS", "0", "WEBHOOK_MAX_CONNECTIONS: must be a whole number between"),
        ("WEBHOOK_MAX_CONNECTIONS", "101", "WEBHOOK_MAX_CONNECTIONS: must be a whole number"),
        ("WEBHOOK_MAX_CONNECTIONS", "many", "WEBHOOK_MAX_CONNECTIONS: must be a whole number"),
    ],
)
def test_each_bad_value_gives_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, start: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as excinfo:
        load_settings()
    lines = format_settings_errors(excinfo.value)
    assert len(lines) == 1
    assert lines[0].startswith(start)
    assert f"(got {value!r})" in lines[0] or name in {"DATABASE_URL", "REDIS_URL"}


def test_several_bad_values_give_one_line_each_in_declaration_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    monkeypatch.setenv("HTTP_PORT", "http")
    monkeypatch.setenv("DEFAULT_LOCALE", "de")
    with pytest.raises(ValidationError) as excinfo:
        load_settings()
    lines = format_settings_errors(excinfo.value)
    assert [line.split(":")[0] for line in lines] == ["HTTP_PORT", "DEFAULT_LOCALE", "LOG_FORMAT"]


def test_secret_values_never_appear(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:TOPSECRETTOKEN")
    monkeypatch.setenv("VNPTPAY_API_KEY", "APIKEYVALUE")
    monkeypatch.setenv("VNPTPAY_SECRET_KEY", "SECRETKEYVALUE")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app:DBPASSWORD@db/onesme")
    s = load_settings()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s / %r", s, s)
    shown = repr(s) + str(s) + caplog.text
    for secret in ("TOPSECRETTOKEN", "APIKEYVALUE", "SECRETKEYVALUE", "DBPASSWORD"):
        assert secret not in shown
    assert "postgresql+asyncpg://app:***@db/onesme" in repr(s)
    assert s.database_url.endswith("app:DBPASSWORD@db/onesme")


def test_bad_secret_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "not allowed! TOPSECRET")
    monkeypatch.setenv("DATABASE_URL", "mysql://u:DBPASSWORD@h/db")
    with pytest.raises(ValidationError) as excinfo:
        load_settings()
    lines = format_settings_errors(excinfo.value)
    assert len(lines) == 2
    assert lines[1].startswith("WEBHOOK_SECRET: must be 1–256 characters")
    assert all("TOPSECRET" not in line and "DBPASSWORD" not in line for line in lines)


def test_mask_url_password() -> None:
    assert mask_url_password("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url_password("sqlite+aiosqlite:///onesme.db") == "sqlite+aiosqlite:///onesme.db"


def test_chat_url_is_optional_and_must_be_a_web_address() -> None:
    assert load_settings(_env_file=None).chat_url is None
    assert load_settings(_env_file=None, chat_url="http://127.0.0.1:8080/").chat_url
    with pytest.raises(ValidationError) as info:
        load_settings(_env_file=None, chat_url="ftp://example.com/chat")
    [line] = format_settings_errors(info.value)
    assert line.startswith("CHAT_URL: ")


def test_redis_prefix_defaults_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).redis_prefix == "onesme:"
    monkeypatch.setenv("REDIS_PREFIX", "shop-2:")
    assert load_settings(_env_file=None).redis_prefix == "shop-2:"
    monkeypatch.setenv("REDIS_PREFIX", "two words")
    with pytest.raises(ValidationError) as info:
        load_settings(_env_file=None)
    [line] = format_settings_errors(info.value)
    assert line.startswith("REDIS_PREFIX: must be 1–64 characters")
