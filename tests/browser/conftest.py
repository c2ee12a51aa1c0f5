"""Browser tests: the app served by uvicorn on a free port, driven by the system's Chromium through Playwright.

The live server runs in a thread of the test process, one per test module, on the same database as the ``db``
fixture, so that a test sets up families with the service functions and the browser sees them at once. It
records every request that reaches it, so a test can tell a page served by the service worker from one served
by the server.

Without /usr/bin/chromium the browser tests are skipped, unless FK_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy.orm import Session

from familienkarte.accounts import services as account_services
from familienkarte.accounts.models import User
from familienkarte.settings import Settings
from tests.helpers import make_test_settings
from tests.workers_helpers import free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# A German phone. Its requests carry Accept-Language, also those the service worker answers offline from its cache
# (which must therefore ignore the responses' "Vary: Accept-Language").
PHONE = {
    "locale": "de-DE",
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"locale": "de-DE", "viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}
# Playwright's waits (actions and expect) in milliseconds: generous for a busy CI machine, short for a failure.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class RequestLog:
    """The paths of the requests that reached the server, in order."""

    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str) -> None:
        with self.lock:
            self.paths.append(path)

    def since(self, mark: int) -> list[str]:
        with self.lock:
            return self.paths[mark:]

    def mark(self) -> int:
        with self.lock:
            return len(self.paths)


@dataclass(frozen=True)
class LiveServer:
    url: str
    settings: Settings
    requests: RequestLog


def _recording(app: Any, log: RequestLog) -> Any:
    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            log.add(scope["path"])
        await app(scope, receive, send)

    return asgi


@pytest.fixture(scope="module")
def live_server(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from familienkarte.app import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_test_settings(tmp_path_factory.mktemp("live") / "var", migrated_db, FK_BASE_URL=url)
    log = RequestLog()
    config = uvicorn.Config(
        _recording(create_app(settings), log),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="live-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="the live server to start")
    if not server.started:
        pytest.fail("the live server did not start (see the log above)")
    yield LiveServer(url, settings, log)
    server.should_exit = True
    thread.join(timeout=10)


# Module-scoped, not session-scoped: while Playwright's sync API is open, the main thread counts as running its
# event loop, and every later test that runs a loop of its own (asyncio.run, pytest-asyncio) would fail.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        reason = f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("FK_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; FK_REQUIRE_BROWSER=1 forbids skipping them")
        pytest.skip(reason)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def new_context(browser: Browser, live_server: LiveServer, **options: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=live_server.url, timezone_id="Europe/Berlin", service_workers="allow", **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A phone-sized browser context of its own: cookies, IndexedDB and service workers start empty."""
    context = new_context(browser, live_server, **PHONE)
    yield context
    context.close()


@pytest.fixture
def desktop(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = new_context(browser, live_server, **DESKTOP)
    yield context
    context.close()


@pytest.fixture
def sign_in(db: Callable[[], Session]) -> Callable[[Page, User], None]:
    """Sign a family user in on a page the way a family does: open the e-mailed link and press the button."""

    def run(page: Page, user: User) -> None:
        with db() as session, session.begin():
            token = account_services.new_login_link(
                session, user, account_services.LINK_PURPOSE_SIGN_IN, dt.timedelta(minutes=15)
            )
        page.goto(f"/login/family/{token}")
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(lambda url: "/login/" not in url)

    return run


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in var/screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
