"""``familienkarte demo``: the whole platform on the embedded default, in one command.

Migrates the database, seeds the demo data once (a restart changes nothing), prints the demo logins, starts a
real Celery worker and beat as child processes (on the SQLite broker, or Redis when FK_REDIS_URL is set) and
runs the web server in the foreground. Ctrl-C or SIGTERM stops the web server and then the children.

The demo's passwords are generated at the first start and kept in ``<data folder>/demo-logins.json`` (mode
0600), never in the repository.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import MutableMapping
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from familienkarte.settings import Settings

if TYPE_CHECKING:
    from familienkarte.seed import DemoLogin

# The database layer is imported where it is used: a wrong setting is reported before it loads.

log = logging.getLogger("familienkarte.demo")

LOGINS_FILE = "demo-logins.json"
STOP_TIMEOUT = 15.0
_PR_SET_PDEATHSIG = 1


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """The demo's defaults, for this process and its children: demo mode, readable logs, links to this server."""
    env = os.environ if environ is None else environ
    env.setdefault("FK_ENV", "demo")
    env.setdefault("FK_LOG_FORMAT", "text")
    if "FK_BASE_URL" not in env:
        host = env.get("FK_HOST", "127.0.0.1")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        port = env.get("FK_PORT", "8000")
        # An unparseable port is reported by the settings check, naming FK_PORT.
        if port.isdigit():
            env["FK_BASE_URL"] = f"http://{shown}:{port}"


def logins_path(settings: Settings) -> Path:
    return settings.data_dir / LOGINS_FILE


def read_logins(path: Path) -> dict[str, str]:
    """E-mail to password of the logins handed out before; empty when the file is missing or unreadable."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {e["email"]: e["password"] for e in entries if isinstance(e, dict) and e.get("password")}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def write_logins(path: Path, logins: list[DemoLogin]) -> None:
    """Write the logins readable by this user only (0600), replacing the file in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".demo-logins.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump([asdict(login) for login in logins], handle, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def seed(settings: Settings) -> list[DemoLogin]:
    """Seed the demo data (idempotent) and keep the logins file in step with the accounts."""
    from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_transaction
    from familienkarte.seed import seed_demo

    path = logins_path(settings)
    engine = make_sync_engine(settings.effective_database_url)
    try:
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            logins = seed_demo(session, read_logins(path), secret_key=settings.secret_key)
    finally:
        engine.dispose()
    write_logins(path, logins)
    return logins


def login_table(settings: Settings, logins: list[DemoLogin]) -> str:
    from familienkarte.seed import DEMO_PARTNER

    mail_dir = settings.effective_mail_dir
    family_note = "sign in by e-mail link; the e-mail appears in " + (
        f"{mail_dir}/" if mail_dir is not None else f"the mailbox at {settings.smtp_host}"
    )
    rows = [("role", "e-mail", "password")]
    rows += [(login.role, login.email, login.password or family_note) for login in logins]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [
        "",
        f"Familienkarte demo: {settings.base_url}",
        f"Partner in the demo: {DEMO_PARTNER}. Logins (also in {logins_path(settings)}):",
        "",
    ]
    for index, (role, email, password) in enumerate(rows):
        lines.append(f"  {role:<{widths[0]}}  {email:<{widths[1]}}  {password}")
        if index == 0:
            lines.append(f"  {'-' * widths[0]}  {'-' * widths[1]}  {'-' * 8}")
    lines += ["", f"Open {settings.base_url} in a browser. Stop with Ctrl-C.", ""]
    return "\n".join(lines)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: the child gets SIGTERM when the demo process dies, even by SIGKILL, so nothing is left running.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The worker and beat processes of the demo; reports one that stops on its own."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()

    def start(self, name: str, *args: str) -> None:
        command = [sys.executable, "-m", "familienkarte.cli", *args]
        process = subprocess.Popen(
            command,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the children in order.
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.processes[name] = process
        threading.Thread(target=self._watch, args=(name, process), daemon=True).start()

    def _watch(self, name: str, process: subprocess.Popen[bytes]) -> None:
        status = process.wait()
        if not self._stopping.is_set():
            log.error("The demo's %s stopped (exit status %s); restart the demo to get it back.", name, status)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self._stopping.set()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("The demo's %s did not stop within %.0f s; killing it.", name, timeout)
                process.kill()
                process.wait()


class _Stop(Exception):
    """SIGTERM arrived: leave the web server's loop and stop the children."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def run_demo(settings: Settings) -> None:
    """Everything after the settings check (familienkarte.cli.demo): migrate, seed, start, wait, stop."""
    from familienkarte.cli import quiet_alembic, run_web
    from familienkarte.migrate import upgrade

    quiet_alembic(keep_migrations=True)
    upgrade(settings.effective_database_url)
    logins = seed(settings)
    children = Children()
    # uvicorn restores this handler after its own graceful shutdown and raises the signal again.
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        children.start("worker", "worker", "--pool=solo", "--concurrency=1", "--quiet")
        children.start("beat", "beat", "--quiet")
        click.echo(login_table(settings, logins))
        run_web(settings)
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        children.stop()
        signal.signal(signal.SIGTERM, previous)
    log.info("demo stopped")
