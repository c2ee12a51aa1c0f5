"""A PostgreSQL cluster of the benchmark's own, configured as docker-compose.production.yml configures the
database: the machine's shared server keeps its distribution's defaults (128 MB of shared buffers, a checkpoint
after every 1 GB of write-ahead log), which a city's server would not run with.

The cluster is durable (fsync and full-page writes on, as in production), listens on 127.0.0.1 on a free port,
lives in a temporary folder and is removed afterwards with everything in it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.fault_servers import PostgresServer, _postgres_bin
from tests.unit.test_compose_production import raw_production


def production_settings(production: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The ``-c name=value`` settings of the postgres service's command in the production file."""
    data = raw_production() if production is None else production
    command = [str(word) for word in data["services"]["postgres"]["command"]]
    pairs = [command[at + 1] for at, word in enumerate(command[:-1]) if word == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


@contextmanager
def private_server() -> Iterator[str]:
    """A started cluster with the production settings: the URL of its ``postgres`` database."""
    binaries = _postgres_bin()
    if binaries is None:
        raise SystemExit("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    server = PostgresServer(binaries, settings=production_settings(), durable=True).init()
    try:
        server.start()
        yield server.url
    finally:
        try:
            server.stop()
        finally:
            server.remove()
