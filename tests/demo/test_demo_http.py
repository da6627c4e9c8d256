"""The demo's HTTP contract (docs/demo-contract.md), over real HTTP against
``forgeproof demo`` running as a subprocess.

Every rejection test asserts the status, the reason code, that the notes
(or the login state) did not change, and that the demo's output has the
reason but not the token or the session id. Each has its control: the same
request done right succeeds.
"""

from __future__ import annotations

import pytest

from demo.demo_support import DemoClient, DemoProcess, form_token, meta_token


def assert_rejected(response_status: int, body: str, reason: str) -> None:
    assert response_status == 403
    assert reason in body


def assert_not_in_output(demo: DemoProcess, *values: str) -> None:
    output = demo.output()
    for value in values:
        assert value not in output


# Login and logout.


def test_login_page_starts_a_session_and_carries_the_token_twice(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        response = client.get("/login")

        assert response.status_code == 200
        assert "forgeproof_session=" in response.headers["set-cookie"]
        assert '<form method="post" action="/login"' in response.text
        assert 'name="username"' in response.text
        assert 'name="password"' in response.text
        assert meta_token(response.text) != form_token(response.text)


def test_pages_carry_a_strict_content_security_policy(demo: DemoProcess) -> None:
    with demo.client() as client:
        response = client.get("/login")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in response.text
    assert " onclick=" not in response.text


def test_login_with_the_form_token_rotates_the_session_id(demo: DemoProcess) -> None:
    with demo.client() as client:
        token = client.token("/login")
        anonymous_id = client.session_id()

        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": "alice-password",
                "csrf_token": token,
            },
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/"
        assert client.session_id() != anonymous_id
        assert client.get("/").status_code == 200
    assert_not_in_output(demo, token, anonymous_id)


def test_tokens_issued_before_login_are_rejected_after_it(demo: DemoProcess) -> None:
    with demo.client() as client:
        old_token = client.token("/login")
        client.logged_in("alice")
        before = client.note_texts()

        response = client.post(
            "/notes", data={"text": "with a pre-login token", "csrf_token": old_token}
        )

        assert_rejected(response.status_code, response.text, "token_invalid")
        assert client.note_texts() == before
    assert_not_in_output(demo, old_token)


def test_wrong_password_gets_401_and_the_form_again(demo: DemoProcess) -> None:
    with demo.client() as client:
        token = client.token("/login")
        response = client.post(
            "/login",
            data={"username": "alice", "password": "wrong", "csrf_token": token},
        )

        assert response.status_code == 401
        assert '<form method="post" action="/login"' in response.text
        assert client.get("/api/notes").status_code == 401


def test_unknown_user_gets_401(demo: DemoProcess) -> None:
    with demo.client() as client:
        token = client.token("/login")
        response = client.post(
            "/login", data={"username": "mallory", "password": "x", "csrf_token": token}
        )

    assert response.status_code == 401


def test_login_without_token_is_rejected_and_logs_nobody_in(demo: DemoProcess) -> None:
    """Login CSRF: another site must not log the victim in as the attacker."""
    with demo.client() as client:
        client.get("/login")
        response = client.post(
            "/login", data={"username": "alice", "password": "alice-password"}
        )

        assert_rejected(response.status_code, response.text, "token_missing")
        assert client.get("/api/notes").status_code == 401
    assert "reason=token_missing" in demo.stderr()


def test_login_without_a_session_is_rejected_as_session_missing(
    demo: DemoProcess,
) -> None:
    with demo.client() as donor:
        token = donor.token("/login")
    with demo.client() as client:
        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": "alice-password",
                "csrf_token": token,
            },
        )

        assert_rejected(response.status_code, response.text, "session_missing")
        assert "set-cookie" not in response.headers
    assert_not_in_output(demo, token)


def test_home_redirects_to_login_when_logged_out(demo: DemoProcess) -> None:
    with demo.client() as client:
        response = client.get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_api_notes_is_401_when_logged_out(demo: DemoProcess) -> None:
    with demo.client() as client:
        response = client.get("/api/notes")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/")


def test_logout_deletes_the_session_so_old_cookie_and_tokens_die(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("bob")
        old_id = client.session_id()
        token = client.token("/")

        response = client.post("/logout", data={"csrf_token": token})

        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert client.get("/api/notes").status_code == 401

    with demo.client(cookies={"forgeproof_session": old_id}) as replay:
        assert replay.get("/api/notes").status_code == 401
        response = replay.post(
            "/api/notes", json={"text": "after logout"}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 403
        assert response.json()["reason"] == "session_missing"
    assert_not_in_output(demo, token, old_id)


def test_logout_without_token_is_rejected_and_stays_logged_in(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("bob")

        response = client.post("/logout")

        assert_rejected(response.status_code, response.text, "token_missing")
        assert client.get("/api/notes").status_code == 200


# Notes through forms.


def test_note_posted_by_urlencoded_form_with_token_is_stored(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        token = client.token("/")

        response = client.post(
            "/notes", data={"text": "urlencoded note", "csrf_token": token}
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/"
        assert client.note_texts()[-1] == "urlencoded note"


def test_note_posted_by_multipart_form_keeps_attachment_name_and_size(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        token = client.token("/")

        response = client.post(
            "/notes",
            data={"csrf_token": token, "text": "multipart note"},
            files={"attachment": ("minutes.txt", b"x" * 1234, "text/plain")},
        )

        assert response.status_code == 303
        assert client.note_texts()[-1] == "multipart note"
        page = client.get("/").text
        assert "minutes.txt (1234 bytes)" in page


def test_note_posted_without_token_gets_an_html_page_and_changes_nothing(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()

        response = client.post(
            "/notes", data={"text": "forged"}, headers={"Accept": "text/html"}
        )

        assert_rejected(response.status_code, response.text, "token_missing")
        assert response.headers["content-type"].startswith("text/html")
        assert client.note_texts() == before


def test_rejection_asked_for_as_json_is_problem_json_outside_the_api(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("alice")

        response = client.post(
            "/notes", data={"text": "forged"}, headers={"Accept": "application/json"}
        )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "token_missing"


def test_token_after_more_than_the_scan_limit_of_file_data_is_not_found(
    demo: DemoProcess,
) -> None:
    file_part = ("big.bin", b"\0" * (2 * 1024 * 1024), "application/octet-stream")
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()
        token = client.token("/")

        # httpx writes the data fields first, so the file goes into "files"
        # ahead of a csrf_token part to put the token after it.
        late = client.post(
            "/notes",
            data={"text": "token too late"},
            files=[
                ("attachment", file_part),
                ("csrf_token", (None, token.encode(), None)),
            ],
        )

        assert_rejected(late.status_code, late.text, "token_missing")
        assert "before any file part" in late.text
        assert client.note_texts() == before

        early = client.post(
            "/notes",
            data={"csrf_token": token, "text": "token first"},
            files={"attachment": file_part},
        )
        assert early.status_code == 303
        assert client.note_texts()[-1] == "token first"
    assert_not_in_output(demo, token)


def test_attachment_over_64_mib_is_refused_with_413(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()
        token = client.token("/")

        response = client.post(
            "/notes",
            data={"csrf_token": token, "text": "too big"},
            files={"attachment": ("huge.bin", b"\0" * (65 * 1024 * 1024))},
        )

        assert response.status_code == 413
        assert client.note_texts() == before


# The JSON API of the browser session.


def test_api_create_update_patch_delete_with_header_token(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        headers = {"X-CSRF-Token": meta_token(client.get("/").text)}

        created = client.post("/api/notes", json={"text": "api"}, headers=headers)
        assert created.status_code == 201
        note = created.json()
        assert note["text"] == "api"
        assert isinstance(note["id"], int)
        assert client.notes()[-1] == note

        put = client.put(
            f"/api/notes/{note['id']}", json={"text": "put"}, headers=headers
        )
        assert put.status_code == 200
        assert put.json() == {"id": note["id"], "text": "put"}

        patch = client.patch(
            f"/api/notes/{note['id']}", json={"text": "patched"}, headers=headers
        )
        assert patch.status_code == 200
        assert patch.json()["text"] == "patched"

        deleted = client.delete(f"/api/notes/{note['id']}", headers=headers)
        assert deleted.status_code == 204
        assert note["id"] not in [n["id"] for n in client.notes()]

        again = client.delete(f"/api/notes/{note['id']}", headers=headers)
        assert again.status_code == 404


def test_api_notes_are_listed_oldest_first(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("bob")
        headers = {"X-CSRF-Token": meta_token(client.get("/").text)}
        for text in ("first", "second"):
            client.post("/api/notes", json={"text": text}, headers=headers)

        ids = [note["id"] for note in client.notes()]

    assert ids == sorted(ids)


def test_api_accepts_the_token_as_top_level_json_key(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        token = meta_token(client.get("/").text)

        response = client.post(
            "/api/notes", json={"text": "json token", "csrf_token": token}
        )

        assert response.status_code == 201
        assert client.note_texts()[-1] == "json token"


@pytest.mark.parametrize(
    "header_name", ["X-CSRF-Token", "x-csrf-token", "X-CSRF-TOKEN"], ids=str
)
def test_token_header_name_is_matched_in_any_letter_case(
    demo: DemoProcess, header_name: str
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        token = meta_token(client.get("/").text)

        response = client.post(
            "/api/notes", json={"text": header_name}, headers={header_name: token}
        )

    assert response.status_code == 201


def test_api_rejection_is_problem_json_with_reason(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()

        response = client.post(
            "/api/notes", json={"text": "forged"}, headers={"Accept": "text/html"}
        )

        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 403
        assert problem["reason"] == "token_missing"
        assert problem["title"]
        assert problem["detail"]
        assert client.note_texts() == before


def test_token_in_the_query_string_does_not_count_and_is_never_logged(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()
        token = meta_token(client.get("/").text)

        response = client.post(
            "/api/notes", params={"csrf_token": token}, json={"text": "query"}
        )

        assert response.status_code == 403
        assert response.json()["reason"] == "token_missing"
        assert client.note_texts() == before
        # A GET with it is logged by the access log, without the query.
        assert client.get("/api/notes", params={"csrf_token": token}).status_code == 200
    assert_not_in_output(demo, token)
    assert '"GET /api/notes? HTTP/1.1" 200' in demo.stderr()


def test_every_page_shows_a_new_token_and_all_of_them_stay_valid(
    demo: DemoProcess,
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        tokens = [meta_token(client.get("/").text) for _ in range(3)]
        assert len(set(tokens)) == 3

        for token in tokens:
            response = client.post(
                "/api/notes", json={"text": "tab"}, headers={"X-CSRF-Token": token}
            )
            assert response.status_code == 201


def test_token_of_another_session_is_rejected(demo: DemoProcess) -> None:
    with demo.client() as bob:
        bobs_token = meta_token(bob.logged_in("bob").get("/").text)
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()

        response = client.post(
            "/api/notes", json={"text": "x"}, headers={"X-CSRF-Token": bobs_token}
        )

        assert response.status_code == 403
        assert response.json()["reason"] == "token_invalid"
        assert client.note_texts() == before
    assert_not_in_output(demo, bobs_token)


def test_malformed_token_is_rejected_as_invalid(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")

        response = client.post(
            "/api/notes", json={"text": "x"}, headers={"X-CSRF-Token": "AAAA"}
        )

    assert response.status_code == 403
    assert response.json()["reason"] == "token_invalid"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(
            {"Origin": "http://evil.example"}, "origin_not_allowed", id="foreign origin"
        ),
        pytest.param(
            {"Origin": "http://127.0.0.1:1"}, "origin_not_allowed", id="other port"
        ),
        pytest.param({"Origin": "null"}, "origin_null", id="null origin"),
        pytest.param(
            {"Sec-Fetch-Site": "cross-site"}, "cross_site_request", id="cross-site"
        ),
        pytest.param(
            {"Sec-Fetch-Site": "same-site"}, "cross_site_request", id="same-site"
        ),
    ],
)
def test_request_from_elsewhere_is_rejected_even_with_a_valid_token(
    demo: DemoProcess, headers: dict[str, str], reason: str
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        before = client.note_texts()
        token = meta_token(client.get("/").text)

        response = client.post(
            "/api/notes",
            json={"text": "from elsewhere"},
            headers={"X-CSRF-Token": token, **headers},
        )

        assert response.status_code == 403
        assert response.json()["reason"] == reason
        assert client.note_texts() == before
    assert f"reason={reason}" in demo.stderr()
    assert_not_in_output(demo, token)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "{own}"}, id="own origin"),
        pytest.param(
            {"Origin": "{own}", "Sec-Fetch-Site": "same-origin"}, id="same-origin"
        ),
        pytest.param(
            {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
            id="null origin vouched for",
        ),
        pytest.param({"Sec-Fetch-Site": "none"}, id="typed or bookmarked"),
        pytest.param({}, id="no origin at all"),
    ],
)
def test_request_from_the_app_itself_with_a_valid_token_is_accepted(
    demo: DemoProcess, headers: dict[str, str]
) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        token = meta_token(client.get("/").text)
        sent = {key: value.format(own=demo.url) for key, value in headers.items()}

        response = client.post(
            "/api/notes", json={"text": "own"}, headers={"X-CSRF-Token": token, **sent}
        )

    assert response.status_code == 201


def test_session_cookie_sent_twice_is_rejected_as_ambiguous(demo: DemoProcess) -> None:
    with demo.client() as client:
        client.logged_in("alice")
        session_id = client.session_id()
        token = meta_token(client.get("/").text)
        before = client.note_texts()

    with DemoClient(demo.url) as raw:
        cookie = f"forgeproof_session={session_id}; forgeproof_session={session_id}"
        response = raw.post(
            "/api/notes",
            json={"text": "ambiguous"},
            headers={"Cookie": cookie, "X-CSRF-Token": token},
        )
        assert response.status_code == 403
        assert response.json()["reason"] == "session_cookie_ambiguous"

        control = raw.get(
            "/api/notes", headers={"Cookie": f"forgeproof_session={session_id}"}
        )
        assert [n["text"] for n in control.json()["notes"]] == before
    assert_not_in_output(demo, token, session_id)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_never_rejected_for_csrf(
    demo: DemoProcess, method: str
) -> None:
    with demo.client() as client:
        client.logged_in("alice")

        response = client.request(
            method, "/api/notes", headers={"Origin": "http://evil.example"}
        )

    assert response.status_code != 403


def test_note_of_another_user_cannot_be_changed_or_deleted(demo: DemoProcess) -> None:
    with demo.client() as bob:
        bob.logged_in("bob")
        bob_headers = {"X-CSRF-Token": meta_token(bob.get("/").text)}
        note = bob.post(
            "/api/notes", json={"text": "bob's"}, headers=bob_headers
        ).json()

        with demo.client() as alice:
            alice.logged_in("alice")
            headers = {"X-CSRF-Token": meta_token(alice.get("/").text)}
            path = f"/api/notes/{note['id']}"

            assert alice.delete(path, headers=headers).status_code == 404
            assert (
                alice.put(path, json={"text": "x"}, headers=headers).status_code == 404
            )
            assert note["id"] not in [n["id"] for n in alice.notes()]

        assert note in bob.notes()


def test_rejection_never_shows_the_rejected_token(demo: DemoProcess) -> None:
    with demo.client() as bob:
        foreign = meta_token(bob.logged_in("bob").get("/").text)
    with demo.client() as client:
        client.logged_in("alice")

        page = client.post(
            "/notes",
            data={"text": "x", "csrf_token": foreign},
            headers={"Accept": "text/html"},
        )
        problem = client.post(
            "/api/notes", json={"text": "x"}, headers={"X-CSRF-Token": foreign}
        )

    assert page.status_code == 403
    assert foreign not in page.text
    assert problem.status_code == 403
    assert foreign not in problem.text
