"""docker-compose.production.yml (HTTPS proxy and metrics) merged onto docker-compose.yml, without a Docker engine."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from familienkarte.settings import SETTING_NAMES, load_settings
from tests.unit.test_compose import (
    GIVEN,
    ROOT,
    SECRET_WORDS,
    InterpolationError,
    interpolate,
    raw_compose,
    service_environment,
)

PRODUCTION = ROOT / "docker-compose.production.yml"
CADDYFILE = ROOT / "deploy" / "Caddyfile"
TOKEN = "t" * 48
PRODUCTION_GIVEN = {**GIVEN, "FK_BASE_URL": "https://familienkarte.example.org", "FK_METRICS_TOKEN": TOKEN}


class _Reset:
    """Compose's ``!reset``: the key is removed from what the file below gave."""


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


_Loader.add_constructor("!reset", lambda _loader, _node: _Reset())


def raw_production() -> dict[str, Any]:
    data = yaml.load(PRODUCTION.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    assert isinstance(data, dict)
    return data


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, _Reset):
                merged.pop(key, None)
            else:
                merged[key] = _merge(base.get(key), value)
        return merged
    return override


def merged(environ: Mapping[str, str] = PRODUCTION_GIVEN) -> dict[str, Any]:
    return dict(interpolate(_merge(raw_compose(), raw_production()), environ))


def test_only_the_proxy_is_published_and_web_believes_forwarded_headers_from_the_edge_network_alone() -> None:
    services = merged()["services"]
    assert "ports" not in services["web"]
    assert sorted(services["proxy"]["ports"]) == ["443:443", "443:443/udp", "80:80"]
    assert set(services["proxy"]["networks"]) == {"edge"}
    # Nothing but the proxy and web on the edge network, whose addresses are the ones web believes.
    on_edge = {name for name, service in services.items() if "edge" in (service.get("networks") or [])}
    assert on_edge == {"proxy", "web"}
    subnet = raw_production()["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    allowed = service_environment(services["web"])["FK_FORWARDED_ALLOW_IPS"]
    assert ipaddress.ip_network(allowed) == ipaddress.ip_network(subnet)


def test_web_loads_the_merged_environment_with_the_metrics_token_and_https() -> None:
    settings = load_settings(service_environment(merged()["services"]["web"]))
    assert settings.metrics_token == TOKEN
    assert settings.base_url == "https://familienkarte.example.org"
    assert settings.forwarded_allow_ips == "172.30.253.0/24"
    assert settings.effective_cookie_secure is True


def test_the_worker_command_serves_metrics_inside_the_network() -> None:
    from familienkarte.cli import worker

    words = merged()["services"]["worker"]["command"]
    assert words[0] == "worker"
    with worker.make_context("worker", list(words[1:])) as ctx:
        assert (ctx.params["metrics_port"], ctx.params["metrics_host"]) == (9808, "0.0.0.0")  # noqa: S104
    assert "ports" not in merged()["services"]["worker"]


@pytest.mark.parametrize("missing", ["FK_BASE_URL", "FK_METRICS_TOKEN"])
def test_the_production_file_refuses_to_start_without(missing: str) -> None:
    with pytest.raises(InterpolationError, match=missing):
        merged({k: v for k, v in PRODUCTION_GIVEN.items() if k != missing})


def test_every_fk_variable_is_a_real_setting_and_no_secret_is_written() -> None:
    used = set(re.findall(r"\bFK_[A-Z0-9_]+", PRODUCTION.read_text() + CADDYFILE.read_text()))
    assert sorted(used - set(SETTING_NAMES)) == []
    for service in raw_production()["services"].values():
        for key, value in service_environment(service).items():
            if any(word in key for word in SECRET_WORDS):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), key


def test_the_proxy_serves_the_site_address_and_never_passes_metrics_on() -> None:
    caddyfile = CADDYFILE.read_text()
    assert re.search(r"^\{\$FK_BASE_URL\} \{", caddyfile, re.MULTILINE)
    assert re.search(r"^\s*respond /metrics 404$", caddyfile, re.MULTILINE)
    assert "reverse_proxy web:8000" in caddyfile
    volumes = merged()["services"]["proxy"]["volumes"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in volumes


def test_postgresql_runs_with_production_settings_that_the_benchmarks_take_over() -> None:
    from bench.private_server import production_settings

    settings = production_settings()
    assert settings["shared_buffers"] == "2GB"
    assert settings["max_wal_size"] == "8GB"
    assert all(name and value for name, value in settings.items())
    assert merged()["services"]["postgres"]["shm_size"] == "1gb"
    assert production_settings({"services": {"postgres": {"command": ["postgres", "-c", "work_mem=1MB"]}}}) == {
        "work_mem": "1MB"
    }
