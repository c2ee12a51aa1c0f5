"""The PostgreSQL settings of docker-compose.production.yml, started on a real server (no Docker engine here: a
private cluster of the same version as the machine's, with exactly those settings, as bench/stats.py runs it)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from bench.private_server import private_server, production_settings
from familienkarte.db import sync_url
from tests.fault_servers import _postgres_bin

pytestmark = pytest.mark.skipif(_postgres_bin() is None, reason="PostgreSQL's server programs are not installed")


def test_a_real_postgresql_starts_with_the_production_settings_and_takes_every_one() -> None:
    settings = production_settings()
    with private_server() as url:
        engine = create_engine(sync_url(url))
        try:
            with engine.connect() as conn:
                shown = {name: conn.exec_driver_sql(f"SHOW {name}").scalar_one() for name in settings}
                durable = [conn.exec_driver_sql(f"SHOW {name}").scalar_one() for name in ("fsync", "full_page_writes")]
        finally:
            engine.dispose()
    assert shown == settings
    assert durable == ["on", "on"]
