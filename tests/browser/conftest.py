"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, live servers in
threads (uvicorn on a free port) over stores the fixtures fill, and screenshots.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``apt-get install
chromium``). Without it (or without the ``playwright`` package) the tests skip locally and fail
when ``CI=true``. Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.server import ServerConfig, create_app
from modelyard.tracking.service import TrackingService
from tests.browser.seed import Seeded, ensure_ui, seed_demo
from tests.conftest import require_service
from tests.fixtures.stores import joined_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
_SERVER_START_TIMEOUT = 30.0


@dataclass
class LiveServer:
    url: str
    seeded: Seeded | None
    tracking: TrackingService
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(app: Any, tracking: TrackingService, seeded: Seeded | None) -> LiveServer:
    """uvicorn serving ``app`` on a free port in a daemon thread; returns once it accepts."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + _SERVER_START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", seeded, tracking, server, thread)


@pytest.fixture(scope="package")
def chromium_browser() -> Iterator[Any]:
    """One browser for the browser tests. Package-scoped, not session-scoped: Playwright's sync
    API runs an event loop in this thread while it is open, and the tests after these call
    ``asyncio.run`` (SDK runs in asyncio tasks), which refuses to start inside a running loop."""
    require_service(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service(False, "the playwright package is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as playwright:
        # launch() gives every browser a fresh temporary profile (user-data-dir), removed on close.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo projects (see seed.py) behind a live server, auth off."""
    root = tmp_path_factory.mktemp("browser")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    tracking = TrackingService(store, artifacts)
    seeded = seed_demo(tracking)
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=store.stores)), tracking, seeded)
    yield server
    server.stop()
    store.close()


class PageErrors:
    """What a page did wrong: script errors, and requests to anywhere but the test server."""

    def __init__(self) -> None:
        self.script_errors: list[str] = []
        self.external_requests: list[str] = []


@pytest.fixture
def new_page(chromium_browser: Any) -> Iterator[Callable[[str], Any]]:
    """``new_page(base_url)``: a page in a fresh browser context that may reach only that server.

    Any request elsewhere (a CDN, a font service) is aborted and fails the test, as does any
    uncaught script error."""
    contexts: list[tuple[Any, PageErrors]] = []

    def make(base_url: str) -> Any:
        context = chromium_browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base_url)
        errors = PageErrors()
        allowed = urlsplit(base_url).netloc

        def guard(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).netloc == allowed or url.startswith(("data:", "blob:", "about:")):
                route.continue_()
            else:
                errors.external_requests.append(url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.script_errors.append(str(exc)))
        contexts.append((context, errors))
        return page

    yield make
    for context, errors in contexts:
        context.close()
        assert errors.external_requests == [], f"the UI requested outside the server: {errors.external_requests}"
        assert errors.script_errors == [], f"script errors on the page: {errors.script_errors}"


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, name)`` saves a full-page PNG under test-artifacts/screenshots/."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar is drawn mid-page
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
