"""Information leaks: tokens, secrets and session ids must never show up in
pages, logs, reprs or exception messages, whatever the attacker sends."""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path

import httpx
import pytest

from adversarial.adv_support import (
    COOKIE,
    Target,
    http_request,
    reason_of,
    session_id_from,
)
from forgeproof.errors import StoreUnavailableError
from forgeproof.sessions.base import Session, SessionConfig, SessionRecord
from forgeproof.sessions.memory import MemorySessionStore
from forgeproof.sessions.sqlite import SQLiteSessionStore
from forgeproof.tokens import mask_secret, new_secret


def _secret_spellings(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        repr(secret),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        base64.b64encode(secret).decode().rstrip("="),
    ]


def _assert_clean(text: str, *, secrets_: list[str]) -> None:
    for value in secrets_:
        assert value not in text


def _rejections(target: Target, session_id: str, token: str) -> list[httpx.Response]:
    """One request per rejection reason reachable over HTTP, each carrying
    the session's real token somewhere."""
    other_token = target.new_session()[1]
    forms = {"content-type": "application/x-www-form-urlencoded"}
    return [
        # token_invalid, with the victim's session and another token
        target.post(session_id=session_id, headers={"x-csrf-token": other_token}),
        # token_missing
        target.post(session_id=session_id, content=f"x={token}".encode()),
        # token_conflict
        target.post(
            session_id=session_id, headers={"x-csrf-token": f"{token}, {other_token}"}
        ),
        # origin_not_allowed with a valid token
        target.post(
            session_id=session_id,
            headers={"origin": "http://evil.example", "x-csrf-token": token},
        ),
        # origin_null
        target.post(
            session_id=session_id, headers={"origin": "null", "x-csrf-token": token}
        ),
        # cross_site_request
        target.post(
            session_id=session_id,
            headers={"sec-fetch-site": "cross-site", "x-csrf-token": token},
        ),
        # session_missing with the real token
        target.post(headers={"x-csrf-token": token}),
        # session_cookie_ambiguous
        target.post(
            headers={
                "cookie": f"{COOKIE}={session_id}; {COOKIE}={session_id}",
                "x-csrf-token": token,
            }
        ),
        # malformed_body
        target.post(
            session_id=session_id,
            content=b"--x",
            headers={"content-type": "multipart/form-data"},
        ),
        # body_too_large
        target.post(
            session_id=session_id,
            content=b'{"csrf_token": "' + token.encode() + b'"' + b" " * (1 << 21),
            headers={"content-type": "application/json"},
        ),
        # token in the query string
        target.post(f"/notes?csrf_token={token}", session_id=session_id),
        target.post(
            session_id=session_id,
            content=f"csrf_token={token}x".encode(),
            headers=forms,
        ),
    ]


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_rejection_pages_never_echo_token_session_id_or_secret(
    target: Target, accept: str
) -> None:
    session_id, token = target.new_session()
    secret = target.secret_of(session_id)
    responses = _rejections(target, session_id, token)

    reasons = set()
    for response in responses:
        assert response.status_code in (403, 404), response.text
        if response.status_code == 403:
            assert response.headers["cache-control"] == "no-store"
            reasons.add(reason_of(response) or "html")
        page = response.text + "\n".join(
            f"{k}: {v}" for k, v in response.headers.items()
        )
        _assert_clean(page, secrets_=[token, session_id, *_secret_spellings(secret)])
    assert target.notes_effects() == []

    # Also with the Accept header of a browser or an API client.
    html = target.post(
        session_id=session_id,
        headers={"accept": accept, "x-csrf-token": token + "x"},
    )
    assert token not in html.text
    assert len(reasons) >= 8 or accept == "text/html"


def test_logs_never_contain_token_session_id_or_secret(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session_id, token = target.new_session()
    secret = target.secret_of(session_id)
    _rejections(target, session_id, token)
    # A body the parser refuses is logged as a rejection, not a traceback.
    malformed = target.post(
        session_id=session_id,
        content=b"x",
        headers={"content-type": "multipart/form-data; boundary=" + "b" * 300},
    )
    assert malformed.status_code == 403
    # And a successful login and logout.
    login = target.post(
        "/login", session_id=session_id, data={"user": "u", "csrf_token": token}
    )
    new_id = session_id_from(login)
    assert new_id is not None
    new_token = login.json()["token"]
    target.post("/logout", session_id=new_id, headers={"x-csrf-token": new_token})

    warnings = [r for r in caplog.records if r.name == "forgeproof.csrf"]
    assert len(warnings) >= 10
    assert all("reason=" in r.getMessage() for r in warnings)

    # Only the server side: httpx's own DEBUG lines show what the client sent.
    server = [r for r in caplog.records if r.name.startswith(("forgeproof", "uvicorn"))]
    text = "\n".join(
        logging.Formatter("%(message)s %(exc_text)s").format(r) for r in server
    )
    _assert_clean(
        text,
        secrets_=[token, new_token, session_id, new_id, *_secret_spellings(secret)],
    )


def test_log_lines_cannot_be_forged_through_path_or_origin(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="forgeproof.csrf")
    session_id, _ = target.new_session()
    http_request(
        target,
        path="/notes%0d%0aWARNING%20forged%20line",
        headers=[
            ("Cookie", f"{COOKIE}={session_id}"),
            ("Origin", "http://x\x85WARNING\tforged"),
        ],
    )
    long_path = http_request(target, path="/" + "a" * 10_000)
    assert long_path.status == 403, long_path

    records = [r for r in caplog.records if r.name == "forgeproof.csrf"]
    assert len(records) == 2, [r.getMessage() for r in caplog.records]
    for record in records:
        message = record.getMessage()
        assert "\n" not in message
        assert "\r" not in message
        assert "\x85" not in message
        assert "\t" not in message
        assert len(message) < 1000


def test_html_rejection_page_does_not_reflect_the_origin(target: Target) -> None:
    session_id, token = target.new_session()
    evil = "http://<script>alert(1)</script>"
    html = target.post(
        session_id=session_id,
        headers={"origin": evil, "accept": "text/html", "x-csrf-token": token},
    )
    problem = target.post(
        session_id=session_id, headers={"origin": evil, "x-csrf-token": token}
    )

    assert html.status_code == 403
    assert "<script>" not in html.text
    assert html.headers["content-security-policy"].startswith(
        "default-src 'none'; style-src 'sha256-"
    )
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.headers["x-content-type-options"] == "nosniff"


def test_rejection_sets_no_new_session_cookie(target: Target) -> None:
    response = target.post(headers={"x-csrf-token": "A" * 86})

    assert response.status_code == 403
    assert "set-cookie" not in response.headers


# -- reprs and messages --------------------------------------------------------


def test_session_repr_shows_neither_id_nor_secret() -> None:
    secret = new_secret()
    record = SessionRecord({"user": "alice"}, secret, 1.0, 1.0)
    session = Session("S" * 43, record, now=2.0)

    text = repr(session) + str(session)
    assert "S" * 43 not in text
    _assert_clean(text, secrets_=_secret_spellings(secret))


def test_store_reprs_show_no_session_data(tmp_path: Path) -> None:
    secret = new_secret()
    record = SessionRecord({"user": "alice"}, secret, 1.0, 1.0)
    memory = MemorySessionStore()
    memory.save("k" * 64, record, 1e12)
    sqlite = SQLiteSessionStore(str(tmp_path / "s.db"))
    sqlite.save("k" * 64, record, 1e12)
    try:
        text = repr(memory) + repr(sqlite)
    finally:
        sqlite.close()

    assert "alice" not in text
    assert "k" * 64 not in text
    _assert_clean(text, secrets_=_secret_spellings(secret))


def test_session_record_repr_hides_the_secret() -> None:
    secret = new_secret()
    record = SessionRecord({"user": "alice"}, secret, 1.0, 1.0)

    _assert_clean(repr(record), secrets_=_secret_spellings(secret))


def test_session_write_repr_hides_secret_and_session_id() -> None:
    session = Session(None, None, now=1.0)
    secret = session.csrf_secret
    write = session.plan_write(SessionConfig(), "https")
    assert write is not None
    assert session.id is not None

    text = repr(write)
    assert session.id not in text
    _assert_clean(text, secrets_=_secret_spellings(secret))


def test_store_unavailable_error_names_no_key_or_value(tmp_path: Path) -> None:
    db = tmp_path / "locked"
    db.mkdir()  # a directory: sqlite cannot open it
    key = "f" * 64
    with pytest.raises(StoreUnavailableError) as info:
        SQLiteSessionStore(str(db)).load(key)

    assert key not in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_mask_secret_error_does_not_echo_the_bad_secret() -> None:
    bad = b"\x01\x02supersecretvalue"
    with pytest.raises(ValueError, match="32 bytes") as info:
        mask_secret(bad)

    assert "supersecret" not in str(info.value)
