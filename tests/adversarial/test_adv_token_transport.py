"""Where the token may travel, and every way of smuggling a wrong one."""

from __future__ import annotations

import socket
import time

import pytest

from adversarial.adv_support import (
    COOKIE,
    Target,
    assert_accepted,
    assert_rejected,
    http_request,
    parse_raw_response,
)
from forgeproof import tokens


def test_header_token_of_the_session_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    response = target.post(session_id=session_id, headers={"x-csrf-token": token})

    assert_accepted(target, response)
    assert len(target.notes_effects()) == 1


def test_unsafe_request_without_token_is_rejected(target: Target) -> None:
    session_id, _ = target.new_session()
    response = target.post(session_id=session_id, content=b"note=hi")

    assert_rejected(target, response, "token_missing")


def test_token_in_query_string_never_counts(target: Target) -> None:
    session_id, token = target.new_session()
    response = target.post(
        f"/notes?csrf_token={token}&X-CSRF-Token={token}", session_id=session_id
    )

    assert_rejected(target, response, "token_missing")


def test_token_of_another_session_is_rejected(target: Target) -> None:
    session_id, _ = target.new_session()
    _, foreign_token = target.new_session()
    response = target.post(
        session_id=session_id, headers={"x-csrf-token": foreign_token}
    )

    assert_rejected(target, response, "token_invalid")


@pytest.mark.parametrize("name", ["x-csrf-token", "X-CSRF-TOKEN", "X-Csrf-Token"])
def test_header_name_matches_in_any_letter_case(target: Target, name: str) -> None:
    session_id, token = target.new_session()
    response = http_request(
        target,
        headers=[(name, token), ("Cookie", f"{COOKIE}={session_id}")],
    )

    assert response.status == 200
    assert len(target.notes_effects()) == 1


def test_header_with_valid_and_invalid_token_joined_by_comma_is_a_conflict(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    forged = "A" * tokens.TOKEN_LENGTH
    response = target.post(
        session_id=session_id, headers={"x-csrf-token": f"{token}, {forged}"}
    )

    assert_rejected(target, response, "token_conflict")


def test_header_sent_twice_with_valid_and_invalid_token_is_a_conflict(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    forged = "A" * tokens.TOKEN_LENGTH
    for pair in ([token, forged], [forged, token]):
        response = http_request(
            target,
            headers=[
                ("X-CSRF-Token", pair[0]),
                ("X-CSRF-Token", pair[1]),
                ("Cookie", f"{COOKIE}={session_id}"),
            ],
        )
        assert response.status == 403
        assert b"token_conflict" in response.body
    assert target.recorder.reached == []

    control = http_request(
        target,
        headers=[
            ("X-CSRF-Token", token),
            ("X-CSRF-Token", token),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )
    assert control.status == 200


def test_header_with_trailing_comma_is_not_the_bare_token(target: Target) -> None:
    session_id, token = target.new_session()
    response = target.post(session_id=session_id, headers={"x-csrf-token": f"{token},"})

    assert response.status_code == 403
    assert target.recorder.reached == []


def test_surrounding_whitespace_is_ignored_but_inner_whitespace_is_not(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    inner = f"{token[:40]} {token[40:]}"
    rejected = target.post(session_id=session_id, headers={"x-csrf-token": inner})
    assert_rejected(target, rejected, "token_invalid")

    accepted = http_request(
        target,
        headers=[
            ("X-CSRF-Token", f"  {token}\t"),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )
    assert accepted.status == 200


def test_empty_header_does_not_fall_back_to_nothing(target: Target) -> None:
    session_id, _ = target.new_session()
    response = http_request(
        target,
        headers=[("X-CSRF-Token", ""), ("Cookie", f"{COOKIE}={session_id}")],
    )

    assert response.status == 403
    assert target.recorder.reached == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "==",  # padding
        lambda t: t.replace("-", "+").replace("_", "/"),  # standard alphabet
        lambda t: t[:-1],  # one short
        lambda t: t + "A",  # one long
        lambda t: t[:-1] + "\u00e9",  # non-ASCII
        lambda t: t.upper(),
        lambda t: t[43:] + t[:43],  # halves swapped
        lambda t: "%" + t[1:],
    ],
    ids=[
        "padding",
        "std-alphabet",
        "short",
        "long",
        "non-ascii",
        "upper",
        "swapped",
        "percent",
    ],
)
def test_mangled_token_in_form_field_is_invalid(target: Target, mangle: object) -> None:
    assert callable(mangle)
    # Some manglings leave a token unchanged (no '-' to swap, say): draw
    # fresh sessions until this one really changes it.
    for _ in range(50):
        session_id, token = target.new_session()
        bad = str(mangle(token))
        if bad != token:
            break
    assert bad != token
    response = target.post(
        session_id=session_id,
        data={"csrf_token": bad},
    )

    assert response.status_code == 403
    assert target.recorder.reached == []
    assert target.recorder.errors == []


def test_hundred_kilobyte_header_token_is_refused_without_error(
    target: Target,
) -> None:
    session_id, _ = target.new_session()
    response = http_request(
        target,
        headers=[("X-CSRF-Token", "A" * 100_000), ("Cookie", f"{COOKIE}={session_id}")],
    )

    assert response.status is not None
    assert response.status != 500
    assert response.status >= 400
    assert target.recorder.reached == []
    assert target.recorder.errors == []


def test_ten_kilobyte_header_token_is_invalid(target: Target) -> None:
    session_id, _ = target.new_session()
    response = target.post(
        session_id=session_id, headers={"x-csrf-token": "A" * 10_000}
    )

    assert_rejected(target, response, "token_invalid")


def test_token_matches_compares_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Timing cannot be measured reliably in a test; what can be pinned is
    # that the final comparison goes through hmac.compare_digest.
    calls: list[tuple[bytes, bytes]] = []
    real = tokens.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    secret = tokens.new_secret()
    assert tokens.token_matches(tokens.mask_secret(secret), secret)
    assert not tokens.token_matches(tokens.mask_secret(tokens.new_secret()), secret)
    assert len(calls) == 2


def test_form_fields_with_valid_and_invalid_token_in_one_chunk_conflict(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    forged = "A" * tokens.TOKEN_LENGTH
    for body in (
        f"csrf_token={token}&csrf_token={forged}",
        f"csrf_token={forged}&csrf_token={token}",
    ):
        response = target.post(
            session_id=session_id,
            content=body.encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_rejected(target, response, "token_conflict")


def _chunked_post(target: Target, session_id: str, parts: list[bytes]) -> bytes:
    """POST a chunked body, one chunk per element, with pauses between."""
    head = (
        f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
        f"Cookie: {COOKIE}={session_id}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.sendall(head)
        for part in parts:
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            time.sleep(0.2)
        sock.sendall(b"0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_form_fields_with_valid_then_invalid_token_in_later_chunk_conflict(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    forged = "A" * tokens.TOKEN_LENGTH
    raw = _chunked_post(
        target,
        session_id,
        [f"csrf_token={token}&".encode(), f"csrf_token={forged}".encode()],
    )
    response = parse_raw_response(raw)

    assert response.status == 403
    assert b"token_conflict" in response.body
    assert target.notes_effects() == []


def test_chunked_form_body_with_token_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    raw = _chunked_post(
        target, session_id, [b"note=hello&", f"csrf_token={token}".encode()]
    )
    response = parse_raw_response(raw)

    assert response.status == 200
    effects = target.notes_effects()
    assert len(effects) == 1
    assert effects[0]["body"] == f"note=hello&csrf_token={token}".encode()
