"""Fixtures of the client-side tests: the pinned JavaScript libraries, the
servers, and one Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from client.client_support import (
    Seen,
    Site,
    build_app,
    build_foreign,
    install_client_libraries,
)
from support.parts import require_binary
from support.servers import serve_asgi

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def client_libraries() -> Path:
    return install_client_libraries()


def _serve(app_seen: tuple[object, Seen]) -> Iterator[Site]:
    app, seen = app_seen
    with serve_asgi(app) as url:
        yield Site(url, seen)


@pytest.fixture(scope="module")
def site(client_libraries: Path) -> Iterator[Site]:
    """The protected app; the helper is on unless the page says ?helper=0."""
    seen = Seen()
    yield from _serve((build_app(client_libraries, seen), seen))


@pytest.fixture(scope="module")
def spa_site(client_libraries: Path) -> Iterator[Site]:
    """The same app with the XSRF-TOKEN cookie convention on."""
    seen = Seen()
    yield from _serve((build_app(client_libraries, seen, spa=True), seen))


@pytest.fixture(scope="module")
def foreign_site() -> Iterator[Site]:
    """Another origin (same host, another port) that records what it gets."""
    seen = Seen()
    yield from _serve((build_foreign(seen), seen))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_binary("/usr/bin/chromium", "chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shared_page(browser: Browser) -> Iterator[Page]:
    """One context and tab for the module: a new renderer per test would
    cost more than the test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(shared_page: Page, site: Site, spa_site: Site) -> Iterator[Page]:
    """The module's tab with no cookies, and servers whose records start
    empty. Tabs a test opens beside it are closed after it."""
    shared_page.context.clear_cookies()
    site.seen.clear()
    spa_site.seen.clear()
    try:
        yield shared_page
    finally:
        for other in shared_page.context.pages:
            if other is not shared_page:
                other.close()
