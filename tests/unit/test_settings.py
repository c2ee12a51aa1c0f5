"""Settings: every bad value is named by its FK_ variable, defaults that work, and the README's table is complete."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from familienkarte.settings import SETTING_NAMES, ConfigError, Settings, load_settings, settings_table

# A value each setting refuses, and the words the refusal must contain besides the variable's name.
BAD_VALUES: dict[str, tuple[str, str]] = {
    "FK_ENV": ("staging", "demo, production, test"),
    "FK_DATABASE_URL": ("mysql://db/familienkarte", "postgresql"),
    "FK_REDIS_URL": ("http://127.0.0.1:6379", "redis://"),
    "FK_BROKER_URL": ("kafka://broker:9092", "unsupported broker"),
    "FK_SECRET_KEY": ("too-short", "32 characters"),
    "FK_BASE_URL": ("familienkarte.example", "http(s)://"),
    "FK_PORT": ("eighty", "whole number"),
    "FK_DEFAULT_LOCALE": ("xx", "expected one of"),
    "FK_LOG_LEVEL": ("LOUD", "DEBUG, INFO, WARNING, ERROR"),
    "FK_LOG_FORMAT": ("xml", "json, text"),
    "FK_COOKIE_SECURE": ("perhaps", "true or false"),
    "FK_COOKIE_SAMESITE": ("none", "lax, strict"),
    "FK_SESSION_IDLE_MINUTES": ("0", "at least 1"),
    "FK_SESSION_MAX_HOURS": ("-3", "at least 1"),
    "FK_LOGIN_MAX_ATTEMPTS": ("many", "whole number"),
    "FK_LOGIN_WINDOW_SECONDS": ("0", "at least 1"),
    "FK_CATALOGUE_CACHE_SECONDS": ("-1", "at least 0"),
    "FK_LOGIN_LINK_MINUTES": ("1.5", "whole number"),
    "FK_SMTP_PORT": ("smtp", "whole number"),
    "FK_SMTP_STARTTLS": ("sometimes", "true or false"),
    "FK_CITY": ("berlin", "neither a shipped city"),
    "FK_MAP_TILE_URL": ("https://tiles.example/{z}/{x}.png", "{y}"),
    "FK_MAP_ATTRIBUTION_URL": ("tiles.example", "http(s)://"),
    "FK_POS_SCAN_LIMIT": ("600", "requests/seconds"),
    "FK_POS_TYPED_LIMIT": ("0/600", "requests/seconds"),
    "FK_FORWARDED_ALLOW_IPS": ("10.0.0.0/8, proxy.local", "no IP address or network"),
    "FK_METRICS_TOKEN": ("short", "32+ characters"),
}
# Free text or paths: every value is accepted, so there is no parse error to check.
ANY_VALUE = {
    "FK_DATA_DIR",
    "FK_MAP_ATTRIBUTION",
    "FK_HOST",
    "FK_MAIL_FROM",
    "FK_MAIL_DIR",
    "FK_SMTP_HOST",
    "FK_SMTP_USER",
    "FK_SMTP_PASSWORD",
    "FK_REDIS_PREFIX",
}


def _load(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"FK_DATA_DIR": str(tmp_path), **env})


def test_every_setting_is_either_checked_here_or_free_text() -> None:
    assert set(BAD_VALUES) | ANY_VALUE == set(SETTING_NAMES)
    assert not set(BAD_VALUES) & ANY_VALUE


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_is_refused_naming_the_variable(name: str, tmp_path: Path) -> None:
    value, words = BAD_VALUES[name]
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, **{name: value})
    message = str(refused.value)
    assert name in message
    assert words in message
    assert "\n" not in message


def test_an_unknown_variable_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown setting FK_DATABSE_URL \(did you mean FK_DATABASE_URL\?\)"):
        _load(tmp_path, FK_DATABSE_URL="sqlite:///x.db")


def test_an_unknown_variable_without_a_near_name_is_still_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^Unknown setting FK_XYZZY_QWERTY\. The README lists every setting"):
        _load(tmp_path, FK_XYZZY_QWERTY="1")


def test_other_variables_and_the_test_database_url_are_not_settings(tmp_path: Path) -> None:
    settings = _load(tmp_path, PATH="/bin", FK_TEST_DATABASE_URL="postgresql://x/y", HOME="/root")
    assert settings.env == "demo"


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FK_SECRET_KEY is required in production"):
        _load(tmp_path, FK_ENV="production")
    secret = "s" * 40
    assert _load(tmp_path, FK_ENV="production", FK_SECRET_KEY=secret, FK_SMTP_HOST="mail").secret_key == secret


def test_production_requires_a_way_to_deliver_mail(tmp_path: Path) -> None:
    secret = "s" * 40
    with pytest.raises(ConfigError, match="FK_SMTP_HOST is required in production"):
        _load(tmp_path, FK_ENV="production", FK_SECRET_KEY=secret)
    chosen = _load(tmp_path, FK_ENV="production", FK_SECRET_KEY=secret, FK_MAIL_DIR=str(tmp_path / "out"))
    assert chosen.effective_mail_dir == tmp_path / "out"
    assert not (tmp_path / "secret_key").exists()


def test_outside_production_a_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = _load(tmp_path)
    second = _load(tmp_path)
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_defaults() -> None:
    defaults = Settings()
    assert defaults.env == "demo"
    assert defaults.is_demo
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8000)
    assert defaults.base_url == "http://127.0.0.1:8000"
    assert defaults.effective_database_url == "sqlite:///var/familienkarte.db"
    assert defaults.effective_broker_url == "sqla+sqlite:///var/broker.sqlite"
    assert defaults.effective_mail_dir == Path("var/mail")
    # The demo runs on http://127.0.0.1; everywhere else cookies are Secure.
    assert defaults.effective_cookie_secure is False
    assert Settings(env="production").effective_cookie_secure is True


def test_redis_becomes_the_broker_and_smtp_replaces_the_mail_folder(tmp_path: Path) -> None:
    settings = _load(tmp_path, FK_REDIS_URL="redis://cache:6379/0", FK_SMTP_HOST="mail.example")
    assert settings.effective_broker_url == "redis://cache:6379/0"
    assert settings.effective_mail_dir is None
    explicit = _load(tmp_path, FK_REDIS_URL="redis://cache:6379/0", FK_BROKER_URL="amqp://rabbit//")
    assert explicit.effective_broker_url == "amqp://rabbit//"


def test_values_are_parsed(tmp_path: Path) -> None:
    settings = _load(
        tmp_path, FK_PORT="9000", FK_LOG_LEVEL="debug", FK_COOKIE_SECURE="yes", FK_BASE_URL="https://karte.example/"
    )
    assert settings.port == 9000
    assert settings.log_level == "DEBUG"
    assert settings.cookie_secure is True
    assert settings.base_url == "https://karte.example"


def test_settings_table_covers_every_setting_with_help() -> None:
    table = settings_table()
    assert [row[0] for row in table] == [f"FK_{f.name.upper()}" for f in fields(Settings)]
    assert all(row[2].strip() for row in table)
    defaults = {row[0]: row[1] for row in table}
    assert defaults["FK_PORT"] == "8000"
    assert defaults["FK_SECRET_KEY"] == ""


def test_a_rate_limit_reads_as_requests_per_seconds(tmp_path: Path) -> None:
    settings = _load(tmp_path, FK_POS_SCAN_LIMIT=" 3000/60 ", FK_POS_TYPED_LIMIT="5/300")
    assert (settings.pos_scan_limit, settings.pos_typed_limit) == ((3000, 60), (5, 300))
    assert _load(tmp_path).pos_typed_limit == (20, 600)
