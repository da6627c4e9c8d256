"""Denial of service: huge bodies, trickled bodies, huge headers.

No timings are asserted (those belong in benchmarks/); what is asserted is
how many body bytes the middleware pulled from the server, counted by a
wrapper around ``receive``, and that other clients are still served.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from adversarial.adv_support import (
    COOKIE,
    Target,
    assert_accepted,
    assert_rejected,
    parse_raw_response,
)
from forgeproof.policy import DEFAULT_SCAN_LIMIT

HUGE = 100 * 1024 * 1024
# What may be pulled beyond the limit: the chunk that crosses it, as large
# as the server's read buffer and flow-control window allow.
SLACK = 512 * 1024


def _send_huge(
    target: Target, session_id: str, content_type: str, prefix: bytes = b""
) -> bytes:
    """Stream a 100 MB body; read the answer while still sending."""
    head = (
        f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
        f"Origin: {target.origin}\r\n"
        f"Cookie: {COOKIE}={session_id}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {HUGE}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    answer = bytearray()

    def read() -> None:
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with contextlib.suppress(OSError):
            sock.sendall(head + prefix)
            block = b"a" * (1 << 20)
            for _ in range(HUGE // len(block)):
                if answer:
                    break  # the server has answered; stop, as a client would
                sock.sendall(block)
        reader.join(timeout=20)
    finally:
        sock.close()
    return bytes(answer)


@pytest.mark.parametrize(
    ("content_type", "prefix", "reason"),
    [
        ("application/x-www-form-urlencoded", b"note=", "token_missing"),
        ("multipart/form-data; boundary=XyZ", b"--XyZ\r\n", "malformed_body"),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="f"\r\n\r\n',
            "token_missing",
        ),
        ("application/json", b'{"note": "', "body_too_large"),
    ],
    ids=["urlencoded", "multipart-header", "multipart-field", "json"],
)
def test_hundred_megabyte_body_without_token_is_cut_at_the_scan_limit(
    target: Target, content_type: str, prefix: bytes, reason: str
) -> None:
    session_id, _ = target.new_session()
    raw = _send_huge(target, session_id, content_type, prefix)
    response = parse_raw_response(raw)

    assert response.status == 403
    assert reason.encode() in response.body or reason == "malformed_body"
    assert target.recorder.reached == []
    assert target.recorder.errors == []
    assert target.recorder.received[0] <= DEFAULT_SCAN_LIMIT + SLACK


def test_hundred_megabyte_text_body_is_not_read_at_all(target: Target) -> None:
    session_id, _ = target.new_session()
    raw = _send_huge(target, session_id, "text/plain")
    response = parse_raw_response(raw)

    assert response.status == 403
    assert b"token_missing" in response.body
    assert target.recorder.received == [0]


def test_token_after_a_large_file_part_is_missing_with_a_helpful_detail(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
        + b"x" * (2 * 1024 * 1024)
        + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b"\r\n--XyZ--\r\n"
    )
    response = target.post(
        session_id=session_id,
        content=body,
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )

    assert_rejected(target, response, "token_missing")
    assert "X-CSRF-Token" in response.json()["detail"]

    control = target.post(
        session_id=session_id,
        content=body,
        headers={
            "content-type": "multipart/form-data; boundary=XyZ",
            "x-csrf-token": token,
        },
    )
    assert control.status_code == 200
    assert control.json()["bytes"] == len(body)


@contextlib.contextmanager
def _stalled_uploads(target: Target, session_id: str, count: int) -> Iterator[None]:
    """*count* connections that send headers and a few body bytes, then stall."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
            sock.sendall(
                (
                    f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
                    f"Cookie: {COOKIE}={session_id}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 1000000\r\n\r\nnote=abc"
                ).encode()
            )
            socks.append(sock)
        yield
    finally:
        for sock in socks:
            sock.close()


def test_stalled_bodies_do_not_block_other_clients(target: Target) -> None:
    session_id, token = target.new_session()
    with _stalled_uploads(target, session_id, 50):
        time.sleep(0.2)
        with httpx.Client(base_url=target.base, timeout=5) as client:
            response = client.post(
                "/notes",
                headers={
                    "cookie": f"{COOKIE}={session_id}",
                    "x-csrf-token": token,
                    "origin": target.origin,
                },
            )
            assert response.status_code == 200
            form = client.post(
                "/notes",
                headers={"cookie": f"{COOKIE}={session_id}"},
                data={"csrf_token": token},
            )
            assert form.status_code == 200
    assert target.recorder.errors == []


def test_trickled_body_with_token_is_accepted_once_complete(target: Target) -> None:
    session_id, token = target.new_session()
    body = f"note=slow&csrf_token={token}".encode()
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
                f"Cookie: {COOKIE}={session_id}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        for i in range(0, len(body), 7):
            sock.sendall(body[i : i + 7])
            time.sleep(0.01)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk

    assert parse_raw_response(data).status == 200
    assert target.notes_effects()[0]["body"] == body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"&" * 900_000),
        ("application/x-www-form-urlencoded", b"a" * 900_000 + b"=1"),
        ("application/x-www-form-urlencoded", b"csrf_token=" + b"A" * 900_000),
        ("application/x-www-form-urlencoded", b"%" * 900_000),
        ("application/json", b'{"a":' * 100_000),
        ("application/json", b'"' + b"\\u0000" * 150_000 + b'"'),
        (
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\n" + b"\r\n--XyZ\r\n" * 80_000,
        ),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            + b"\r" * 900_000,
        ),
    ],
    ids=[
        "ampersands",
        "huge-name",
        "huge-token-value",
        "percents",
        "deep-json",
        "escapes",
        "empty-parts",
        "carriage-returns",
    ],
)
def test_pathological_bodies_under_the_limit_are_refused_without_error(
    target: Target, content_type: str, body: bytes
) -> None:
    session_id, _ = target.new_session()
    response = target.post(
        session_id=session_id, content=body, headers={"content-type": content_type}
    )

    assert response.status_code == 403
    assert target.recorder.reached == []
    assert target.recorder.errors == []


def test_token_header_with_large_body_passes_without_scanning(target: Target) -> None:
    session_id, token = target.new_session()
    body = b"x" * (5 * 1024 * 1024)
    response = target.post(
        session_id=session_id,
        content=body,
        headers={"x-csrf-token": token, "content-type": "application/json"},
    )

    assert_accepted(target, response)
    assert response.json()["bytes"] == len(body)


def test_token_first_then_a_large_upload_passes_with_every_byte_delivered(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a"'
        + b"\r\n\r\n"
        + b"x" * (8 * 1024 * 1024)
        + b"\r\n--XyZ--\r\n"
    )
    forged = target.post(
        session_id=session_id,
        content=body.replace(token.encode(), b"A" * 86),
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert_rejected(target, forged, "token_invalid")

    response = target.post(
        session_id=session_id,
        content=body,
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 200
    assert response.json()["bytes"] == len(body)
