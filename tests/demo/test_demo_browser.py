"""The demo in a real browser: Debian's Chromium driven by Playwright.

The attacker site is another origin of the same site, so Chromium sends
the SameSite=Lax session cookie with every forged request: each attack
against ``--unprotected`` really changes something (the control), and the
same attack against the protected app changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Response,
    expect,
    sync_playwright,
)

from demo.demo_support import ACCOUNTS, DemoProcess, DemoRunner
from support.parts import require_binary

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Each attack page: the request it makes (as the access log shows it), the
# status the app answers with, protected and not, and what it does to alice
# when protection is off. The <img> GET is harmless either way.
ATTACKS = [
    pytest.param(
        "hidden-form",
        "POST /notes",
        403,
        303,
        "Forged by a hidden form",
        id="hidden form",
    ),
    pytest.param(
        "text-plain-json",
        "POST /api/notes",
        403,
        201,
        "Forged by a text/plain form",
        id="text/plain JSON",
    ),
    pytest.param(
        "no-cors-fetch",
        "POST /api/notes",
        403,
        201,
        "Forged by a no-cors fetch",
        id="no-cors fetch",
    ),
    pytest.param("logout-form", "POST /logout", 403, 303, None, id="logout form"),
    pytest.param("img-get", "GET /notes?", 405, 405, "", id="img GET"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_binary("/usr/bin/chromium", "chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def protected(module_runner: DemoRunner) -> DemoProcess:
    return module_runner.start()


@pytest.fixture(scope="module")
def unprotected(module_runner: DemoRunner) -> DemoProcess:
    return module_runner.start("--unprotected")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    fresh = browser.new_context()
    try:
        yield fresh
    finally:
        fresh.close()


def log_in(page: Page, demo: DemoProcess, username: str = "alice") -> None:
    page.goto(f"{demo.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", ACCOUNTS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{demo.url}/")


def api_notes(context: BrowserContext, demo: DemoProcess) -> list[str] | None:
    """The notes the context's session sees, or ``None`` if logged out."""
    response = context.request.get(f"{demo.url}/api/notes")
    if response.status == 401:
        return None
    assert response.status == 200
    body: dict[str, Any] = response.json()
    return [note["text"] for note in body["notes"]]


def add_note(page: Page, text: str) -> None:
    page.fill("textarea[name=text]", text)
    page.click("text=Add note")
    expect(page.locator(".notes li", has_text=text)).to_have_count(1)


def launch_attack(page: Page, demo: DemoProcess, slug: str) -> Response | None:
    """Open an attack page, click its button, and wait for the forged
    request to be answered.

    Returns the response as the page sees it: ``None`` for the <img>, whose
    answer Chromium's Opaque Response Blocking withholds from the page.
    """
    assert demo.attacker_url is not None
    page.goto(f"{demo.attacker_url}/attacks/{slug}")
    with page.expect_request(lambda r: r.url.startswith(f"{demo.url}/")) as sent:
        page.click("[data-launch]")
    response = sent.value.response()
    page.wait_for_load_state()
    return response


def answered(demo: DemoProcess, request_line: str, status: int) -> int:
    """How often the app's access log shows *request_line* answered *status*."""
    return demo.stderr().count(f'"{request_line} HTTP/1.1" {status}')


def test_legitimate_path_logs_in_adds_with_a_file_deletes_and_logs_out(
    context: BrowserContext, protected: DemoProcess
) -> None:
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    log_in(page, protected, "bob")

    add_note(page, "Water the plants")
    page.fill("textarea[name=text]", "Quarterly report")
    page.set_input_files(
        "input[name=attachment]",
        files=[
            {"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"%" * 4096}
        ],
    )
    page.click("text=Add note")
    report = page.locator(".notes li", has_text="Quarterly report")
    expect(report).to_contain_text("report.pdf (4096 bytes)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)

    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        page.locator(".notes li", has_text="Water the plants").locator(
            "button.delete"
        ).click()
    assert deleted.value.status == 204
    expect(page.locator(".notes li", has_text="Water the plants")).to_have_count(0)
    notes = api_notes(context, protected)
    assert notes is not None
    assert "Water the plants" not in notes
    assert "Quarterly report" in notes

    page.click("text=Log out")
    page.wait_for_url(f"{protected.url}/login")
    assert api_notes(context, protected) is None
    assert violations == []


@pytest.mark.parametrize(
    ("slug", "request_line", "status", "unprotected_status", "effect"), ATTACKS
)
def test_attack_page_against_the_protected_app_changes_nothing(
    context: BrowserContext,
    protected: DemoProcess,
    slug: str,
    request_line: str,
    status: int,
    unprotected_status: int,
    effect: str | None,
) -> None:
    page = context.new_page()
    log_in(page, protected)
    before = api_notes(context, protected)
    seen = answered(protected, request_line, status)

    answer = launch_attack(page, protected, slug)

    assert answered(protected, request_line, status) == seen + 1
    if answer is not None and answer.request.is_navigation_request():
        assert "cross_site_request" in page.content()
    assert api_notes(context, protected) == before


@pytest.mark.parametrize(
    ("slug", "request_line", "status", "unprotected_status", "effect"), ATTACKS
)
def test_attack_page_against_the_unprotected_app_does_change_things(
    context: BrowserContext,
    unprotected: DemoProcess,
    slug: str,
    request_line: str,
    status: int,
    unprotected_status: int,
    effect: str | None,
) -> None:
    """The control: without it, the test above would prove nothing."""
    page = context.new_page()
    log_in(page, unprotected)
    before = api_notes(context, unprotected)
    assert before is not None
    seen = answered(unprotected, request_line, unprotected_status)

    launch_attack(page, unprotected, slug)

    assert answered(unprotected, request_line, unprotected_status) == seen + 1
    after = api_notes(context, unprotected)
    if effect is None:
        assert after is None  # logged out
    elif effect:
        assert after == [*before, effect]
    else:
        assert after == before


def test_rejection_page_tells_the_user_what_happened(
    context: BrowserContext, protected: DemoProcess
) -> None:
    page = context.new_page()
    log_in(page, protected)

    answer = launch_attack(page, protected, "hidden-form")

    assert answer is not None
    assert answer.status == 403
    expect(page.locator("h1")).to_have_text("Request blocked")
    expect(page.locator("body")).to_contain_text("Nothing was changed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "rejected.png", full_page=True)
    assert "reason=cross_site_request" in protected.stderr()


def test_two_tabs_keep_working_after_each_has_used_its_token(
    context: BrowserContext, protected: DemoProcess
) -> None:
    one = context.new_page()
    log_in(one, protected, "bob")
    for text in ("tab note 1", "tab note 2", "tab note 3"):
        add_note(one, text)
    two = context.new_page()
    two.goto(f"{protected.url}/")

    for page, text in ((one, "tab note 1"), (two, "tab note 2"), (one, "tab note 3")):
        note = page.locator(".notes li", has_text=text)
        with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
            note.locator("button.delete").click()
        assert deleted.value.status == 204
        expect(note).to_have_count(0)
    add_note(two, "added from tab two")

    notes = api_notes(context, protected)
    assert notes is not None
    assert "added from tab two" in notes
    assert not {"tab note 1", "tab note 2", "tab note 3"} & set(notes)
