"""``forgeproof demo`` under attack through its own routes
(docs/demo-contract.md): note ids of other users and out of range, the
bearer API with and without cookies, login CSRF, upload limits, and what
its logs keep of tokens sent in query strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.demo_support import DemoClient, DemoProcess, DemoRunner, form_token


@pytest.fixture(scope="module")
def _runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRunner]:
    demos = DemoRunner(tmp_path_factory.mktemp("adv2-demo"))
    try:
        yield demos
    finally:
        demos.stop_all()


@pytest.fixture(scope="module")
def demo(_runner: DemoRunner) -> DemoProcess:
    return _runner.start(attacker=False)


@pytest.fixture
def own_demo(tmp_path: Path) -> Iterator[DemoProcess]:
    """A demo of this test alone, whose log no other test writes to."""
    demos = DemoRunner(tmp_path)
    try:
        yield demos.start(attacker=False)
    finally:
        demos.stop_all()


def _api_token(client: DemoClient) -> str:
    page = client.get("/")
    assert page.status_code == 200
    return form_token(page.text)


def _note(client: DemoClient, text: str) -> int:
    response = client.post(
        "/api/notes", json={"text": text}, headers={"X-CSRF-Token": _api_token(client)}
    )
    assert response.status_code == 201
    note_id: int = response.json()["id"]
    return note_id


def test_owner_can_change_and_delete_a_note(demo: DemoProcess) -> None:
    with demo.client() as alice:
        alice.logged_in("alice")
        note_id = _note(alice, "mine")
        headers = {"X-CSRF-Token": _api_token(alice)}
        put = alice.put(f"/api/notes/{note_id}", json={"text": "x"}, headers=headers)
        deleted = alice.delete(f"/api/notes/{note_id}", headers=headers)

    assert put.status_code == 200
    assert deleted.status_code == 204


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_another_users_note_is_not_found_and_unchanged(
    demo: DemoProcess, method: str
) -> None:
    with demo.client() as alice, demo.client() as bob:
        alice.logged_in("alice")
        note_id = _note(alice, f"alice's secret {method}")
        bob.logged_in("bob")
        response = bob.request(
            method,
            f"/api/notes/{note_id}",
            json={"text": "bob was here"},
            headers={"X-CSRF-Token": _api_token(bob)},
        )
        texts = alice.note_texts()

    assert response.status_code == 404
    assert f"alice's secret {method}" in texts
    assert "bob was here" not in texts


@pytest.mark.parametrize("note_id", ["0", "-1", "00001", "1e3", "0x10", "%31"])
def test_odd_note_ids_are_answered_without_error(
    demo: DemoProcess, note_id: str
) -> None:
    with demo.client() as alice:
        alice.logged_in("alice")
        response = alice.delete(
            f"/api/notes/{note_id}", headers={"X-CSRF-Token": _api_token(alice)}
        )

    assert response.status_code in (204, 404)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_note_id_beyond_64_bits_is_not_found_rather_than_an_error(
    own_demo: DemoProcess, method: str
) -> None:
    with own_demo.client() as alice:
        alice.logged_in("alice")
        response = alice.request(
            method,
            "/api/notes/" + "9" * 30,
            json={"text": "x"},
            headers={"X-CSRF-Token": _api_token(alice)},
        )

    assert response.status_code == 404
    assert "Traceback" not in own_demo.stderr()


def _access_token(demo: DemoProcess, username: str = "alice") -> str:
    response = httpx.post(
        demo.url + "/api/auth/token",
        json={"username": username, "password": f"{username}-password"},
    )
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    token: str = response.json()["access_token"]
    return token


def test_bearer_api_ignores_the_session_cookie(demo: DemoProcess) -> None:
    with demo.client() as alice:
        alice.logged_in("alice")
        before = alice.note_texts()
        cookie_only = alice.post("/api/v1/notes", json={"text": "forged via cookie"})
        after = alice.note_texts()

    assert cookie_only.status_code == 401
    assert after == before


def test_bearer_api_works_with_the_bearer_token_alone(demo: DemoProcess) -> None:
    bearer = {"Authorization": "Bearer " + _access_token(demo)}

    response = httpx.post(
        demo.url + "/api/v1/notes", json={"text": "by bearer"}, headers=bearer
    )

    assert response.status_code == 201


def test_bearer_header_does_not_exempt_a_cookie_route_carrying_the_cookie(
    demo: DemoProcess,
) -> None:
    bearer = {"Authorization": "Bearer " + _access_token(demo)}
    with demo.client() as alice:
        alice.logged_in("alice")
        before = alice.note_texts()
        forged = alice.post("/api/notes", json={"text": "forged"}, headers=bearer)
        with_token = alice.post(
            "/api/notes",
            json={"text": "real"},
            headers={**bearer, "X-CSRF-Token": _api_token(alice)},
        )
        after = alice.note_texts()

    assert forged.status_code == 403
    assert forged.json()["reason"] == "token_missing"
    assert with_token.status_code == 201
    assert after == [*before, "real"]


def test_login_without_a_session_is_refused(demo: DemoProcess) -> None:
    with demo.client() as attacker:
        token = attacker.token("/login")
    with demo.client() as victim:
        response = victim.post(
            "/login",
            data={"username": "bob", "password": "bob-password", "csrf_token": token},
            headers={"Accept": "application/json"},
        )
        home = victim.get("/")

    assert response.status_code == 403
    assert response.json()["reason"] == "session_missing"
    assert home.status_code == 303


def test_login_with_the_attackers_token_in_the_victims_session_is_refused(
    demo: DemoProcess,
) -> None:
    with demo.client() as attacker:
        token = attacker.token("/login")
    with demo.client() as victim:
        victim.get("/login")
        response = victim.post(
            "/login",
            data={"username": "bob", "password": "bob-password", "csrf_token": token},
            headers={"Accept": "application/json"},
        )
        home = victim.get("/")

    assert response.status_code == 403
    assert response.json()["reason"] == "token_invalid"
    assert home.status_code == 303


def test_tokens_in_query_strings_never_reach_the_log(own_demo: DemoProcess) -> None:
    with own_demo.client() as alice:
        alice.logged_in("alice")
        token = _api_token(alice)
        alice.get("/", params={"csrf_token": token})
        alice.post("/api/notes", params={"csrf_token": token}, json={"text": "q"})
        alice.get("/no-such-page", params={"x": token})
        alice.post("/logout", params={"csrf_token": token})
        session_id = alice.cookies.get("forgeproof_session") or ""

    output = own_demo.output()
    assert "/api/notes" in output
    assert token not in output
    assert token[:20] not in output
    assert session_id == "" or session_id not in output


def test_upload_over_the_limit_without_length_is_refused(
    own_demo: DemoProcess,
) -> None:
    boundary = "adv2boundary"
    with own_demo.client() as alice:
        alice.logged_in("alice")
        token = _api_token(alice)
        before = alice.note_texts()
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=csrf_token\r\n\r\n"
            f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=text"
            f"\r\n\r\ntoo big\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name=attachment; filename="big.bin"\r\n\r\n'
        ).encode()

        def body() -> Iterator[bytes]:
            # No Content-Length: chunked, so only counting can stop it.
            yield head
            block = b"\0" * (1024 * 1024)
            for _ in range(66):
                yield block
            yield f"\r\n--{boundary}--\r\n".encode()

        try:
            status = alice.post(
                "/notes",
                content=body(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            ).status_code
        except httpx.TransportError:
            # The 413 goes out and the connection closes while the client is
            # still sending; the client may see only the reset.
            status = 413
        after = alice.note_texts()

    assert status == 413
    assert after == before
    assert "Traceback" not in own_demo.stderr()
