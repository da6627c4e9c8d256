"""Key flows over real HTTP: the Starlette app behind forgeproof, served by
uvicorn on 127.0.0.1, driven by httpx as a browser would be."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from core.core_app import AppState, build_app, token_in
from core.core_kit import BigMultipart
from support.servers import serve_asgi

MiB = 1024 * 1024
COOKIE = "forgeproof_session"


@pytest.fixture
def served() -> Iterator[tuple[str, AppState]]:
    app, state = build_app()
    with serve_asgi(app) as base_url:
        yield base_url, state


def browser(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30)


def page_token(client: httpx.Client) -> str:
    page = client.get("/")
    assert page.status_code == 200
    return token_in(page.text)


def test_a_note_posted_with_the_page_token_is_saved(
    served: tuple[str, AppState],
) -> None:
    base_url, state = served
    with browser(base_url) as client:
        token = page_token(client)

        response = client.post("/notes", data={"csrf_token": token, "note": "hello"})

    assert response.status_code == 200
    assert state.notes == ["hello"]


def test_a_note_posted_without_the_token_is_refused_and_notes_unchanged(
    served: tuple[str, AppState], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, state = served
    with browser(base_url) as client:
        page_token(client)
        sid = client.cookies[COOKIE]

        response = client.post("/notes", data={"note": "forged"})

    assert response.status_code == 403
    assert response.json()["reason"] == "token_missing"
    assert state.notes == []
    assert state.calls == 0
    assert "reason=token_missing" in caplog.text
    assert sid not in caplog.text + response.text


def test_a_token_of_another_session_is_refused(
    served: tuple[str, AppState], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, state = served
    with browser(base_url) as attacker, browser(base_url) as victim:
        attackers_token = page_token(attacker)
        page_token(victim)

        response = victim.post(
            "/notes", data={"csrf_token": attackers_token, "note": "forged"}
        )
        control = victim.post(
            "/notes", data={"csrf_token": page_token(victim), "note": "mine"}
        )

    assert response.status_code == 403
    assert response.json()["reason"] == "token_invalid"
    assert control.status_code == 200
    assert state.notes == ["mine"]
    assert attackers_token not in caplog.text + response.text


def test_login_rotates_the_session_and_kills_every_earlier_token(
    served: tuple[str, AppState],
) -> None:
    base_url, state = served
    with browser(base_url) as client:
        anonymous_token = page_token(client)
        anonymous_id = client.cookies[COOKIE]

        login = client.post("/login", data={"csrf_token": anonymous_token, "user": "a"})
        logged_in_id = client.cookies[COOKIE]
        stale = client.post("/notes", data={"csrf_token": anonymous_token, "note": "x"})
        fresh = client.post(
            "/notes", data={"csrf_token": page_token(client), "note": "y"}
        )

        # The id from before login is gone from the store too (fixation).
        client.cookies.clear()
        client.cookies.set(COOKIE, anonymous_id)
        fixated = client.post(
            "/notes", data={"csrf_token": anonymous_token, "note": "z"}
        )

    assert login.status_code == 200
    assert logged_in_id != anonymous_id
    assert stale.status_code == 403
    assert stale.json()["reason"] == "token_invalid"
    assert fresh.status_code == 200
    assert fixated.status_code == 403
    assert fixated.json()["reason"] == "session_missing"
    assert state.notes == ["y"]


def test_logout_deletes_the_session_its_cookie_and_its_tokens(
    served: tuple[str, AppState],
) -> None:
    base_url, state = served
    with browser(base_url) as client:
        token = page_token(client)
        client.post("/login", data={"csrf_token": token, "user": "a"})
        token = page_token(client)
        session_id = client.cookies[COOKIE]

        logout = client.post("/logout", data={"csrf_token": token})
        cookie_after_logout = client.cookies.get(COOKIE)
        # A copy of the old cookie (another tab, a thief) no longer works.
        replayed = client.post(
            "/notes",
            data={"csrf_token": token, "note": "x"},
            headers={"Cookie": f"{COOKIE}={session_id}"},
        )
        # Nor does the old token in the next session.
        client.cookies.clear()
        page_token(client)
        stale = client.post("/notes", data={"csrf_token": token, "note": "x"})

    assert logout.status_code == 200
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert cookie_after_logout is None
    assert replayed.status_code == 403
    assert replayed.json()["reason"] == "session_missing"
    assert stale.status_code == 403
    assert stale.json()["reason"] == "token_invalid"
    assert state.notes == []


def test_a_50_mb_upload_with_the_token_first_passes_whole(
    served: tuple[str, AppState],
) -> None:
    base_url, _ = served
    with browser(base_url) as client:
        upload = BigMultipart(page_token(client), file_size=50 * MiB)
        expected = hashlib.sha256()
        for piece in upload.pieces():
            expected.update(piece)

        response = client.post(
            "/upload",
            content=upload.pieces(),
            headers={
                "Content-Type": upload.content_type,
                "Content-Length": str(upload.length),
            },
        )

    assert response.status_code == 200
    assert response.json() == {"size": upload.length, "sha256": expected.hexdigest()}


def test_a_token_after_a_2_mib_file_part_is_refused_with_the_reason(
    served: tuple[str, AppState], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, state = served
    with browser(base_url) as client:
        upload = BigMultipart(page_token(client), file_size=2 * MiB, token_first=False)

        response = client.post(
            "/upload",
            content=b"".join(upload.pieces()),
            headers={"Content-Type": upload.content_type},
        )

    assert response.status_code == 403
    problem = response.json()
    assert problem["reason"] == "token_missing"
    assert "before any file part" in problem["detail"]
    assert state.calls == 0
    assert "reason=token_missing" in caplog.text
    assert upload.token not in caplog.text
