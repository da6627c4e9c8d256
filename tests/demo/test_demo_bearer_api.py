"""The demo's stateless side: ``/api/auth/token`` and ``/api/v1/notes``.

No session and no CSRF token: a bearer token is never attached by a
browser on its own, so a forged request cannot carry one. Cookies are
ignored there.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from demo.demo_support import ACCOUNTS, DemoProcess, meta_token


def access_token(demo: DemoProcess, username: str = "alice") -> str:
    response = httpx.post(
        f"{demo.url}/api/auth/token",
        json={"username": username, "password": ACCOUNTS[username]},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_token_endpoint_returns_a_bearer_token_and_sets_no_cookie(
    demo: DemoProcess,
) -> None:
    response = httpx.post(
        f"{demo.url}/api/auth/token",
        json={"username": "alice", "password": "alice-password"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert len(body["access_token"]) >= 32
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"username": "alice", "password": "bob-password"}, id="wrong"),
        pytest.param({"username": "nobody", "password": "x"}, id="unknown user"),
        pytest.param({"username": "alice"}, id="no password"),
        pytest.param({"username": 1, "password": ["x"]}, id="not strings"),
    ],
)
def test_token_endpoint_refuses_bad_credentials_with_401(
    demo: DemoProcess, credentials: dict[str, object]
) -> None:
    response = httpx.post(f"{demo.url}/api/auth/token", json=credentials)

    assert response.status_code == 401
    assert "access_token" not in response.text
    assert "set-cookie" not in response.headers


def test_bearer_token_lists_and_creates_notes_without_csrf_token(
    demo: DemoProcess,
) -> None:
    auth = {"Authorization": f"Bearer {access_token(demo, 'bob')}"}

    created = httpx.post(
        f"{demo.url}/api/v1/notes", json={"text": "via bearer"}, headers=auth
    )
    listed = httpx.get(f"{demo.url}/api/v1/notes", headers=auth)

    assert created.status_code == 201
    assert created.json()["text"] == "via bearer"
    assert "set-cookie" not in created.headers
    assert listed.status_code == 200
    assert listed.json()["notes"][-1] == created.json()
    with demo.client() as bob:
        assert bob.logged_in("bob").notes()[-1] == created.json()


def test_bearer_notes_are_the_token_owners_only(demo: DemoProcess) -> None:
    alice_auth = {"Authorization": f"Bearer {access_token(demo, 'alice')}"}
    bob_auth = {"Authorization": f"Bearer {access_token(demo, 'bob')}"}
    note = httpx.post(
        f"{demo.url}/api/v1/notes", json={"text": "alice only"}, headers=alice_auth
    ).json()

    bobs = httpx.get(f"{demo.url}/api/v1/notes", headers=bob_auth).json()["notes"]

    assert note["id"] not in [n["id"] for n in bobs]


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no header"),
        pytest.param("Bearer not-a-token", id="unknown token"),
        pytest.param("Bearer", id="no token after the scheme"),
        pytest.param("Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=", id="basic credentials"),
    ],
)
def test_bearer_api_without_a_valid_token_is_401(
    demo: DemoProcess, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with demo.client() as client:
        before = client.logged_in("alice").note_texts()
        client.cookies.clear()

        listed = httpx.get(f"{demo.url}/api/v1/notes", headers=headers)
        created = httpx.post(
            f"{demo.url}/api/v1/notes", json={"text": "no"}, headers=headers
        )

        assert listed.status_code == 401
        assert created.status_code == 401
        assert listed.headers["www-authenticate"] == "Bearer"
    with demo.client() as client:
        assert client.logged_in("alice").note_texts() == before


def test_session_cookie_is_ignored_by_the_bearer_api(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()
        token = meta_token(client.get("/").text)

        listed = client.get("/api/v1/notes")
        created = client.post(
            "/api/v1/notes",
            json={"text": "cookie only"},
            headers={"X-CSRF-Token": token},
        )

        assert listed.status_code == 401
        assert created.status_code == 401
        assert client.note_texts() == before


def test_bearer_request_that_also_carries_a_cookie_acts_as_the_bearer(
    demo: DemoProcess,
) -> None:
    auth = {"Authorization": f"Bearer {access_token(demo, 'bob')}"}
    with demo.client() as alice:
        alice.logged_in("alice")
        before = alice.note_texts()

        created = alice.post("/api/v1/notes", json={"text": "bob's"}, headers=auth)

        assert created.status_code == 201
        assert alice.note_texts() == before


def test_access_tokens_and_passwords_are_stored_only_as_hashes(
    demo: DemoProcess,
) -> None:
    token = access_token(demo, "alice")

    with sqlite3.connect(demo.db) as db:
        dump = "\n".join(db.iterdump())

    assert token not in dump
    assert "alice-password" not in dump
    assert "scrypt$" in dump


def test_bearer_token_never_appears_in_the_output(demo: DemoProcess) -> None:
    token = access_token(demo, "alice")
    httpx.get(f"{demo.url}/api/v1/notes", headers={"Authorization": f"Bearer {token}"})
    httpx.get(f"{demo.url}/api/v1/notes", params={"access_token": token})

    assert token not in demo.output()
