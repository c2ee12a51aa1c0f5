"""Settings from the environment (prefix ``FK_``), checked once at start-up.

Every setting is declared here with its type, default and help text; the README's table is the same
list. Unknown ``FK_`` variables and bad values stop the start with one line naming the problem.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PREFIX = "FK_"
ENVIRONMENTS = ("demo", "production", "test")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SAME_SITE = ("lax", "strict")


class ConfigError(Exception):
    """A setting is missing, unknown or has a value that cannot be used."""


def _parse_int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _parse_choice(choices: tuple[str, ...], upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _parse_database_url(name: str, raw: str) -> str:
    scheme = urlsplit(raw).scheme.split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"{name}: expected a sqlite:/// or postgresql:// URL, got scheme {scheme or '(none)'!r}")
    return raw


def _parse_redis_url(name: str, raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name}: expected a redis:// or rediss:// URL, got {raw!r}")
    return raw


def _parse_broker_url(name: str, raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp", "sqla+sqlite", "sqla+postgresql"):
        raise ConfigError(f"{name}: unsupported broker scheme {scheme!r} (redis, amqp or sqla+sqlite)")
    return raw


def _parse_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: expected an http(s):// URL, got {raw!r}")
    return raw.rstrip("/")


def _parse_str(name: str, raw: str) -> str:
    return raw


_TILE_HOST = re.compile(r"^(\{s\}\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def _parse_tile_url(name: str, raw: str) -> str:
    """An http(s) URL template of map tiles with {z}, {x} and {y}; {s} (subdomains) only as the host's first label."""
    raw = raw.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: expected an http(s):// URL of map tiles, got {raw!r}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in raw]
    if missing:
        raise ConfigError(f"{name}: the tile URL must contain {', '.join(missing)}, got {raw!r}")
    if "@" in parts.netloc or not _TILE_HOST.match(parts.netloc):
        raise ConfigError(f"{name}: the tile URL's host may contain {{s}} only as its first part, got {raw!r}")
    return raw


def _parse_locale(name: str, raw: str) -> str:
    from familienkarte.i18n import SUPPORTED_LOCALES

    if raw not in SUPPORTED_LOCALES:
        raise ConfigError(f"{name}: expected one of {', '.join(SUPPORTED_LOCALES)}, got {raw!r}")
    return raw


def _parse_city(name: str, raw: str) -> str:
    from familienkarte.city import load_city

    try:
        load_city(raw.strip())
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return raw.strip()


_RATE = re.compile(r"^([0-9]{1,7})/([0-9]{1,6})$")


def _parse_rate(name: str, raw: str) -> tuple[int, int]:
    """A rate limit as requests/seconds, e.g. 600/60: at most 600 requests in any 60 s window."""
    match = _RATE.match(raw.strip())
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ConfigError(f"{name}: expected requests/seconds such as 600/60, got {raw!r}")
    return int(match[1]), int(match[2])


def _parse_token(name: str, raw: str) -> str:
    if len(raw) < 32 or any(ch.isspace() for ch in raw):
        raise ConfigError(f"{name}: expected a random value of 32+ characters without spaces")
    return raw


def _parse_forwarded_ips(name: str, raw: str) -> str:
    """Comma-separated addresses or networks (CIDR) of the proxies whose X-Forwarded-* headers are believed, or *."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        raise ConfigError(f"{name}: expected addresses or networks such as 10.0.0.0/8, or *")
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {entry!r} is no IP address or network (CIDR)") from None
    return ",".join(entries)


def _setting(default: Any, parse: Callable[[str, str], Any], doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    env: str = _setting("demo", _parse_choice(ENVIRONMENTS), "Run mode: demo, production or test.")
    data_dir: Path = _setting(
        Path("var"), lambda n, r: Path(r), "Folder for the SQLite files, mail files and generated secrets."
    )
    database_url: str = _setting(
        "", _parse_database_url, "Database URL; default: SQLite file familienkarte.db in the data folder."
    )
    redis_url: str = _setting(
        "", _parse_redis_url, "Redis for sessions, rate limits and the broker; default: none (embedded)."
    )
    broker_url: str = _setting(
        "", _parse_broker_url, "Celery broker; default: the Redis URL, else SQLite file broker.sqlite."
    )
    secret_key: str = _setting(
        "", _parse_str, "Deployment secret (32+ characters); required in production, generated in demo."
    )
    base_url: str = _setting("http://127.0.0.1:8000", _parse_url, "Public URL of the site, for e-mail links.")
    host: str = _setting("127.0.0.1", _parse_str, "Address the web server listens on.")
    port: int = _setting(8000, lambda n, r: _parse_int(n, r, 1), "Port the web server listens on.")
    default_locale: str = _setting("de", _parse_locale, "Language for visitors without a preference.")
    log_level: str = _setting("INFO", _parse_choice(LOG_LEVELS, upper=True), "DEBUG, INFO, WARNING or ERROR.")
    log_format: str = _setting("json", _parse_choice(LOG_FORMATS), "json (one object per line) or text.")
    cookie_secure: bool | None = _setting(None, _parse_bool, "Secure flag on cookies; default: on outside the demo.")
    cookie_samesite: str = _setting("lax", _parse_choice(SAME_SITE), "SameSite on the session cookie.")
    session_idle_minutes: int = _setting(
        30, lambda n, r: _parse_int(n, r, 1), "A session ends after this many minutes without a request."
    )
    session_max_hours: int = _setting(
        12, lambda n, r: _parse_int(n, r, 1), "A session ends this many hours after sign-in at the latest."
    )
    login_max_attempts: int = _setting(
        5, lambda n, r: _parse_int(n, r, 1), "Failed sign-ins per account and address before a pause."
    )
    catalogue_cache_seconds: int = _setting(
        30,
        _parse_int,
        "How long a web process remembers the catalogue's counts (matches, the finder's groups, what comes up and "
        "its cards) and the map's places and markers; 0: never. Changes made in the same process are seen at once.",
    )
    login_window_seconds: int = _setting(
        900, lambda n, r: _parse_int(n, r, 1), "Length of the window the failed sign-ins are counted in."
    )
    login_link_minutes: int = _setting(
        20, lambda n, r: _parse_int(n, r, 1), "How long an e-mailed sign-in link for families works."
    )
    mail_from: str = _setting("Familienkarte <familienkarte@example.org>", _parse_str, "Sender of all e-mail.")
    mail_dir: Path | None = _setting(
        None,
        lambda n, r: Path(r),
        "Write e-mail as .eml files here instead of sending it; default without FK_SMTP_HOST: data folder/mail "
        "(demo and test only: production needs FK_SMTP_HOST or this setting).",
    )
    smtp_host: str = _setting("", _parse_str, "SMTP server; when set, e-mail is sent there.")
    smtp_port: int = _setting(25, lambda n, r: _parse_int(n, r, 1), "SMTP port.")
    smtp_user: str = _setting("", _parse_str, "SMTP user name (optional).")
    smtp_password: str = _setting("", _parse_str, "SMTP password (optional).")
    smtp_starttls: bool = _setting(False, _parse_bool, "Use STARTTLS with the SMTP server.")
    redis_prefix: str = _setting("fk:", _parse_str, "Prefix of every Redis key this deployment writes.")
    map_tile_url: str = _setting(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        _parse_tile_url,
        "Map tiles: an http(s) URL with {z}, {x} and {y} ({s} for subdomains); the map page may load images from it.",
    )
    map_attribution: str = _setting(
        "© OpenStreetMap contributors",
        _parse_str,
        "Attribution shown on the map (plain text), as the tiles' licence asks.",
    )
    map_attribution_url: str = _setting(
        "https://www.openstreetmap.org/copyright", _parse_url, "Where the map's attribution links to."
    )
    pos_scan_limit: tuple[int, int] = _setting(
        (600, 60),
        _parse_rate,
        "Verifications and redemptions per API key or cashier session, as requests/seconds (a till scans a family "
        "every few seconds; a POS server serves several tills).",
    )
    pos_typed_limit: tuple[int, int] = _setting(
        (20, 600),
        _parse_rate,
        "Card numbers typed by hand per API key or cashier session, as requests/seconds: tight, since nothing but "
        "the number protects a card against guessing.",
    )
    forwarded_allow_ips: str = _setting(
        "127.0.0.1",
        _parse_forwarded_ips,
        "Proxies (addresses or CIDR networks, comma-separated, or *) whose X-Forwarded-For and -Proto are believed.",
    )
    metrics_token: str = _setting(
        "", _parse_token, "Bearer token for GET /metrics (32+ characters); default: none, /metrics answers 404."
    )
    city: str = _setting(
        "koeln", _parse_city, "The city: koeln, hamm or the path of a TOML file (see City configuration in the README)."
    )

    @property
    def is_demo(self) -> bool:
        return self.env == "demo"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'familienkarte.db'}"

    @property
    def effective_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        if self.redis_url:
            return self.redis_url
        return f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    @property
    def effective_cookie_secure(self) -> bool:
        return (not self.is_demo) if self.cookie_secure is None else self.cookie_secure

    @property
    def effective_mail_dir(self) -> Path | None:
        if self.mail_dir is not None:
            return self.mail_dir
        if self.smtp_host:
            return None
        return self.data_dir / "mail"


SETTING_NAMES = {PREFIX + f.name.upper(): f for f in fields(Settings)}
# Read by the test suite, not by the service; listed so that they are not reported as unknown.
TEST_ONLY = {"FK_TEST_DATABASE_URL", "FK_REQUIRE_BROWSER"}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read, check and return the settings. Raises ConfigError with one clear line."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(PREFIX) or name in TEST_ONLY:
            continue
        spec = SETTING_NAMES.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, [*SETTING_NAMES], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"Unknown setting {name}{hint}. The README lists every setting.")
        if raw == "" and spec.default == "":
            continue
        values[spec.name] = spec.metadata["parse"](name, raw)
    values.update(overrides)
    settings = _with_secret(Settings(**values))
    _check_mail(settings)
    return settings


def _check_mail(settings: Settings) -> None:
    if settings.env == "production" and not settings.smtp_host and settings.mail_dir is None:
        raise ConfigError(
            "FK_SMTP_HOST is required in production, so that e-mail reaches people "
            "(or set FK_MAIL_DIR to write e-mail to files on purpose)"
        )


def _with_secret(settings: Settings) -> Settings:
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ConfigError("FK_SECRET_KEY: must be at least 32 characters long")
        return settings
    if settings.env == "production":
        raise ConfigError(
            "FK_SECRET_KEY is required in production: set it to a random value of 32+ characters "
            "(for example the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    # Demo and test: a secret generated once and kept in the data folder, never in the repository.
    path = settings.data_dir / "secret_key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot keep the generated secret in {path}: {exc.strerror}") from None
    return _replace(settings, secret_key=secret)


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def settings_table() -> list[tuple[str, str, str]]:
    """(name, default, help) for every setting: the README's table is generated from this."""
    rows = []
    for name, spec in SETTING_NAMES.items():
        default = spec.default
        shown = "" if default in ("", None) else str(default)
        rows.append((name, shown, spec.metadata["doc"]))
    return rows
