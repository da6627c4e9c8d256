"""SessionMiddleware when its store fails: unsafe requests are refused with
503, nothing changes, one ERROR per outage, and it recovers by itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from sessions.notes_app import FlakyStore, NotesApp, json_headers
from support.servers import serve_asgi

SESSIONS_LOGGER = "forgeproof.sessions"


@pytest.fixture
def store() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def notes(store: FlakyStore) -> NotesApp:
    return NotesApp(store)


@pytest.fixture
def client(notes: NotesApp) -> Iterator[httpx.Client]:
    with serve_asgi(notes.app) as url, httpx.Client(base_url=url) as client:
        yield client


def _token(client: httpx.Client) -> str:
    response = client.get("/form")
    assert response.status_code == 200
    token: str = response.json()["token"]
    return token


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == SESSIONS_LOGGER and r.levelno == logging.ERROR
    ]


def test_an_unsafe_request_while_the_store_is_down_gets_503_and_changes_nothing(
    client: httpx.Client,
    notes: NotesApp,
    store: FlakyStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = _token(client)
    session_id = client.cookies["forgeproof_session"]
    calls = notes.calls
    store.down = True

    response = client.post("/notes", json={"text": "x"}, headers=json_headers(token))

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == "store_unavailable"
    assert notes.calls == calls
    assert notes.notes == []
    assert "set-cookie" not in response.headers
    assert "store_unavailable" in caplog.text
    assert token not in caplog.text
    assert session_id not in caplog.text


def test_the_same_unsafe_request_succeeds_once_the_store_is_back(
    client: httpx.Client, notes: NotesApp, store: FlakyStore
) -> None:
    token = _token(client)
    store.down = True
    refused = client.post("/notes", json={"text": "x"}, headers=json_headers(token))
    store.down = False

    response = client.post("/notes", json={"text": "x"}, headers=json_headers(token))

    assert refused.status_code == 503
    assert response.status_code == 201
    assert notes.notes == ["x"]


def test_a_safe_request_that_needs_no_session_works_while_the_store_is_down(
    client: httpx.Client, notes: NotesApp, store: FlakyStore
) -> None:
    _token(client)
    store.down = True

    response = client.get("/ping")
    listing = client.get("/notes")

    assert response.status_code == 200
    assert response.text == "pong"
    assert listing.status_code == 200


@pytest.mark.parametrize("with_cookie", [True, False], ids=["cookie", "first visit"])
def test_a_page_that_needs_a_session_gets_503_while_the_store_is_down(
    client: httpx.Client, notes: NotesApp, store: FlakyStore, with_cookie: bool
) -> None:
    """A page whose token could not be kept would fail on submit; worse, a
    fresh session saved for a visitor whose real one could not be loaded
    would log them out."""
    if with_cookie:
        _token(client)
    store.down = True

    response = client.get("/form", headers=json_headers())

    assert response.status_code == 503
    assert response.json()["reason"] == "store_unavailable"
    assert "token" not in response.json()
    assert "set-cookie" not in response.headers


def test_a_session_that_cannot_be_saved_turns_the_response_into_503(
    client: httpx.Client, store: FlakyStore
) -> None:
    token = _token(client)
    store.writes_fail = True

    response = client.post("/login", headers=json_headers(token))

    assert response.status_code == 503
    assert response.json()["reason"] == "store_unavailable"
    assert "set-cookie" not in response.headers


def test_an_outage_logs_one_error_however_many_requests_fail(
    client: httpx.Client, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(client)
    caplog.set_level(logging.WARNING, logger=SESSIONS_LOGGER)

    store.down = True
    for _ in range(5):
        client.post("/notes", json={"text": "x"}, headers=json_headers(token))
        client.get("/form")
    assert len(_errors(caplog)) == 1

    store.down = False
    client.post("/notes", json={"text": "x"}, headers=json_headers(token))
    client.post("/notes", json={"text": "y"}, headers=json_headers(token))
    recovered = [
        r
        for r in caplog.records
        if r.name == SESSIONS_LOGGER and r.levelno == logging.WARNING
    ]
    assert [r.getMessage() for r in recovered] == ["session store available again"]

    store.down = True
    client.post("/notes", json={"text": "z"}, headers=json_headers(token))
    assert len(_errors(caplog)) == 2
    assert token not in caplog.text
