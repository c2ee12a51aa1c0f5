"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is read as Docker Compose reads it (YAML with merge keys, then ``${...}`` interpolation from the
environment), and the environment it gives the service is loaded with the service's own settings loader, so a
misspelt setting or a bad value fails here instead of in a container.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped]

from familienkarte.settings import SETTING_NAMES, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES = {"postgres", "redis", "mailpit", "migrate", "web", "worker", "beat"}
APP_SERVICES = ("migrate", "web", "worker", "beat")
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")
GIVEN = {"FK_SECRET_KEY": "k" * 48, "POSTGRES_PASSWORD": "pg-Pass_word-123"}


class InterpolationError(Exception):
    """What `docker compose` prints when a required variable is missing."""


_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<word>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate_value(value: str, environ: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, word = match.group("op"), match.group("word") or ""
        present = name in environ and (environ[name] != "" or not (op or "").startswith(":"))
        if op in (":?", "?"):
            if not present:
                raise InterpolationError(f"required variable {name} is missing a value: {word}")
            return environ[name]
        if op in (":-", "-"):
            return environ[name] if present else word
        if op in (":+", "+"):
            return word if present else ""
        return environ.get(name, "")

    return _VARIABLE.sub(replace, value)


def interpolate(node: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_value(node, environ)
    if isinstance(node, list):
        return [interpolate(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, environ) for key, value in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def compose(environ: Mapping[str, str] = GIVEN) -> dict[str, Any]:
    return dict(interpolate(raw_compose(), environ))


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


# -- compose: the services and their order ----------------------------------------------------------------------


def test_compose_runs_the_seven_services() -> None:
    assert set(compose()["services"]) >= SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_health_check_or_runs_once(name: str) -> None:
    service = compose()["services"][name]
    check = service.get("healthcheck") or {}
    if name == "migrate":
        # One-shot: it exits after migrating and is never restarted.
        assert service.get("restart") == "no"
        return
    assert not check.get("disable"), name
    test = check.get("test")
    assert test, name
    assert test not in (["NONE"], "NONE"), name


def test_the_health_checks_ask_what_matters() -> None:
    services = compose()["services"]

    def command(name: str) -> str:
        test = services[name]["healthcheck"]["test"]
        return test if isinstance(test, str) else " ".join(test)

    assert "/health/ready" in command("web")
    assert "pg_isready" in command("postgres")
    assert "redis-cli ping" in command("redis")
    assert "inspect ping" in command("worker")
    assert "readyz" in command("mailpit")


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_service_processes_start_after_the_migration_succeeded(name: str) -> None:
    deps = depends_on(compose()["services"][name])
    assert deps.get("migrate") == "service_completed_successfully"
    assert deps.get("redis") == "service_healthy"


def test_the_migration_waits_for_a_healthy_database() -> None:
    migrate = compose()["services"]["migrate"]
    assert depends_on(migrate).get("postgres") == "service_healthy"
    assert migrate["command"] in (["db", "upgrade"], "db upgrade")


def test_the_service_processes_run_the_cli_commands() -> None:
    services = compose()["services"]
    assert [services[name]["command"] for name in ("web", "worker", "beat")] == [["serve"], ["worker"], ["beat"]]
    # The image's entry point is the CLI, so the commands above are `familienkarte serve` and so on.
    assert dockerfile_instructions(runtime_stage())["ENTRYPOINT"] == ['["familienkarte"]']


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_command_of_each_service_exists(name: str) -> None:
    import click

    from familienkarte.cli import main

    words = compose()["services"][name]["command"]
    command: click.Command | None = main
    for word in words if isinstance(words, list) else words.split():
        assert isinstance(command, click.Group), words
        command = command.get_command(click.Context(command), word)
        assert command is not None, words
    assert not isinstance(command, click.Group), f"{words} names a group, not a command"


def test_web_listens_on_every_interface_and_is_published() -> None:
    web = compose()["services"]["web"]
    assert service_environment(web)["FK_HOST"] == "0.0.0.0"  # noqa: S104 (inside its container)
    assert any(str(port).endswith("8000:8000") for port in web["ports"])


# -- compose: settings and secrets -------------------------------------------------------------------------------


def test_every_fk_variable_in_the_compose_file_is_a_real_setting() -> None:
    # Comments included: what they tell an operator to set must exist too.
    used = set(re.findall(r"\bFK_[A-Z0-9_]+", COMPOSE.read_text(encoding="utf-8")))
    assert used, "no FK_ variable found"
    assert sorted(used - set(SETTING_NAMES)) == []


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_service_accepts_the_environment_compose_gives_it(name: str) -> None:
    env = service_environment(compose()["services"][name])
    settings: Settings = load_settings(env)
    assert settings.env == "production"
    assert settings.secret_key == GIVEN["FK_SECRET_KEY"]
    database = urlsplit(settings.effective_database_url)
    assert (database.hostname, database.password) == ("postgres", GIVEN["POSTGRES_PASSWORD"])
    assert urlsplit(settings.redis_url).hostname == "redis"
    assert settings.effective_broker_url == settings.redis_url
    assert (settings.smtp_host, settings.smtp_port) == ("mailpit", 1025)
    assert settings.effective_cookie_secure is True
    assert settings.effective_mail_dir is None


def test_the_database_url_matches_the_postgres_service() -> None:
    services = compose()["services"]
    postgres = service_environment(services["postgres"])
    url = urlsplit(service_environment(services["web"])["FK_DATABASE_URL"])
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


@pytest.mark.parametrize("missing", sorted(GIVEN))
def test_compose_refuses_to_start_without_a_required_secret(missing: str) -> None:
    environ = {key: value for key, value in GIVEN.items() if key != missing}
    with pytest.raises(InterpolationError, match=missing):
        compose(environ)


def test_an_empty_secret_is_refused_too() -> None:
    with pytest.raises(InterpolationError, match="FK_SECRET_KEY"):
        compose({**GIVEN, "FK_SECRET_KEY": ""})


def test_no_secret_is_written_in_the_compose_file() -> None:
    literal = []
    for name, service in raw_compose()["services"].items():
        for key, value in service_environment(service).items():
            if any(word in key for word in SECRET_WORDS) and not re.fullmatch(r"\$\{\w+:\?[^}]*\}", value):
                literal.append(f"{name}: {key}")
            password = urlsplit(value).password if "://" in value else None
            if password and not re.fullmatch(r"\$\{\w+:\?[^}]*", password):
                literal.append(f"{name}: password in {key}")
    assert literal == []


def test_the_interpolation_used_by_these_tests_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate_value("a${SET}b$SET$$HOME", env) == "axbx$HOME"
    assert interpolate_value("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", env) == "d d "
    with pytest.raises(InterpolationError):
        interpolate_value("${EMPTY:?needed}", env)
    assert interpolate_value("${EMPTY?needed}", env) == ""


# -- Dockerfile --------------------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions (keyword, arguments) per stage, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: list[list[tuple[str, str]]] = [[]]
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _sep, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def runtime_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def dockerfile_instructions(stage: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for keyword, arguments in stage:
        found.setdefault(keyword, []).append(arguments)
    return found


def test_the_image_starts_from_python_3_11_slim_in_several_stages() -> None:
    bases = [stage[0][1] for stage in dockerfile_stages()[1:]]
    assert len(bases) >= 3
    args = dict(
        arguments.split("=", 1)
        for keyword, arguments in dockerfile_stages()[0]
        if keyword == "ARG" and "=" in arguments
    )
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert bases[-1].startswith("${PYTHON_IMAGE}")


def test_the_image_installs_the_locked_environment_without_dev_tools() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "uv sync --frozen --no-dev" in text
    assert "npm ci" in text


def test_the_image_uses_the_same_uv_as_the_makefile() -> None:
    makefile = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    image = re.search(r"^ARG UV_VERSION=(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert makefile
    assert image
    assert image.group(1) == makefile.group(1)


def test_the_image_runs_as_a_user_with_a_health_check_on_port_8000() -> None:
    final = dockerfile_instructions(runtime_stage())
    user = final["USER"][-1]
    assert user not in ("root", "0", "0:0")
    assert final["EXPOSE"] == ["8000"]
    assert "/health/live" in final["HEALTHCHECK"][-1]
    assert json.loads(final["CMD"][-1]) == ["serve"]


def test_every_front_end_library_the_site_serves_is_in_the_image() -> None:
    """Each vendor folder the app mounts (the API page, the card's QR code, the map) is copied into the image."""
    from familienkarte.app import ROOT as APP_ROOT
    from familienkarte.app import VENDOR_MOUNTS

    final = dockerfile_instructions(runtime_stage())
    assert final["WORKDIR"] == ["/app"]
    for folder in VENDOR_MOUNTS.values():
        target = "/app/" + folder.relative_to(APP_ROOT).as_posix()
        assert any(copy.startswith("--from=frontend") and copy.endswith(target) for copy in final["COPY"]), target


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates for pattern in patterns)


def test_everything_the_image_copies_is_in_the_build_context() -> None:
    ignore = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    missing = []
    for stage in dockerfile_stages():
        for keyword, arguments in stage:
            if keyword != "COPY" or arguments.startswith("--from"):
                continue
            for source in arguments.split()[:-1]:
                if not (ROOT / source).exists() or _ignored(source, ignore):
                    missing.append(source)
    assert missing == []
    # And what must stay out of the image does.
    for private in (".env", ".venv", "var", "node_modules", ".git"):
        assert _ignored(private, ignore), private


def test_the_settings_loader_rejects_what_these_tests_would_miss() -> None:
    # The environment test above is only worth something if a bad value fails.
    env = service_environment(compose()["services"]["web"])
    with pytest.raises(ConfigError):
        load_settings({**env, "FK_SMTP_PORT": "smtp"})
