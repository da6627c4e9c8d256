"""The WSGI adapter's handling of ``wsgi.input`` and ``start_response``
over waitress and in-process: chunked bodies, lying or missing lengths,
``readline`` readers, lazy apps, split Cookie headers."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from adversarial2.adv2_support import COOKIE, raw_request
from adversarial2.conftest import Served
from forgeproof import MemorySessionStore
from forgeproof.wsgi import CSRFMiddleware, SessionMiddleware


def _session(target: Served) -> tuple[str, str]:
    """A live session id and one of its tokens."""
    response = httpx.get(target.base + "/page")
    assert response.status_code == 200
    return response.cookies[COOKIE], response.text


def _chunked(body: bytes, size: int = 7) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def _post(
    target: Served,
    session_id: str,
    body: bytes,
    *,
    path: str = "/echo",
    content_type: str = "application/x-www-form-urlencoded",
    framing: bytes | None = None,
    extra: bytes = b"",
) -> bytes:
    if framing is None:
        framing = b"Content-Length: %d\r\n" % len(body)
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path.encode(), target.port)
        + b"Cookie: %s=%s\r\n" % (COOKIE.encode(), session_id.encode())
        + b"Content-Type: %s\r\n" % content_type.encode()
        + framing
        + extra
        + b"Connection: close\r\n\r\n"
        + body
    )


def test_chunked_form_with_token_reaches_the_app_with_every_byte(
    wsgi_target: Served,
) -> None:
    session_id, token = _session(wsgi_target)
    body = b"a=1&csrf_token=" + quote(token).encode() + b"&rest=" + b"z" * 70_000

    response = raw_request(
        wsgi_target.port,
        _post(
            wsgi_target,
            session_id,
            _chunked(body, 4096),
            framing=b"Transfer-Encoding: chunked\r\n",
        ),
    )

    assert response.status == 200
    assert wsgi_target.recorder.bodies == [body]


def test_chunked_form_without_token_is_refused_and_the_app_does_not_run(
    wsgi_target: Served,
) -> None:
    session_id, _ = _session(wsgi_target)
    body = b"a=1&rest=" + b"z" * 70_000

    response = raw_request(
        wsgi_target.port,
        _post(
            wsgi_target,
            session_id,
            _chunked(body, 4096),
            framing=b"Transfer-Encoding: chunked\r\n",
        ),
    )

    assert response.status == 403
    assert b"token_missing" in response.body
    assert wsgi_target.recorder.ran == []


def test_token_smuggled_after_a_zero_content_length_is_not_read(
    wsgi_target: Served,
) -> None:
    session_id, token = _session(wsgi_target)
    hidden = b"csrf_token=" + quote(token).encode()

    response = raw_request(
        wsgi_target.port,
        _post(wsgi_target, session_id, hidden, framing=b"Content-Length: 0\r\n"),
    )

    assert response.status == 403
    assert b"token_missing" in response.body
    assert wsgi_target.recorder.ran == []


def test_token_past_a_short_content_length_is_not_read(wsgi_target: Served) -> None:
    session_id, token = _session(wsgi_target)
    body = b"a=1&csrf_token=" + quote(token).encode()

    response = raw_request(
        wsgi_target.port,
        _post(wsgi_target, session_id, body, framing=b"Content-Length: 4\r\n"),
    )

    assert response.status == 403
    assert wsgi_target.recorder.ran == []


def test_app_reading_by_readline_gets_the_exact_multipart_body(
    wsgi_target: Served,
) -> None:
    session_id, token = _session(wsgi_target)
    boundary = "b0undary"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; name=csrf_token\r\n\r\n"
            f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=f; "
            f'filename="a.bin"\r\n\r\n'
        ).encode()
        + (b"line\n" * 30_000)
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = raw_request(
        wsgi_target.port,
        _post(
            wsgi_target,
            session_id,
            body,
            path="/echo?lines",
            content_type=f"multipart/form-data; boundary={boundary}",
        ),
    )

    assert response.status == 200
    assert wsgi_target.recorder.bodies == [body]


class _LazyBody:
    """A WSGI response iterable that starts the response on first
    iteration and must be closed (it holds a resource)."""

    def __init__(self, start_response: Callable[..., Any]) -> None:
        self.start_response = start_response
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        self.start_response("200 OK", [("content-type", "text/plain")])
        yield b"body"

    def close(self) -> None:
        self.closed = True


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
    }


def test_lazy_app_body_is_closed_when_iterated() -> None:
    bodies: list[_LazyBody] = []

    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        bodies.append(_LazyBody(start))
        return bodies[-1]

    stack = SessionMiddleware(CSRFMiddleware(app), store=MemorySessionStore())
    result = stack(_environ(), lambda *args: None)
    assert b"".join(result) == b"body"
    getattr(result, "close", lambda: None)()

    assert bodies[0].closed


def test_lazy_app_body_is_closed_even_when_never_iterated() -> None:
    bodies: list[_LazyBody] = []

    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        bodies.append(_LazyBody(start))
        return bodies[-1]

    stack = SessionMiddleware(CSRFMiddleware(app), store=MemorySessionStore())
    result = stack(_environ(), lambda *args: None)
    getattr(result, "close", lambda: None)()

    assert bodies[0].closed


def test_session_cookie_in_two_cookie_headers_is_refused_by_both_adapters(
    either: Served,
) -> None:
    session_id, token = _session(either)
    other, _ = _session(either)
    request = (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % either.port
        + f"Cookie: {COOKIE}={session_id}\r\nCookie: {COOKIE}={other}\r\n".encode()
        + f"X-CSRF-Token: {token}\r\n".encode()
        + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )

    response = raw_request(either.port, request)

    assert response.status == 403
    assert either.recorder.ran == []


def _whoami_with_split_cookie(target: Served) -> str:
    with httpx.Client(base_url=target.base) as client:
        token = client.get("/page").text
        login = client.post("/login", headers={"X-CSRF-Token": token})
        assert login.status_code == 200
        session_id = client.cookies[COOKIE]
    request = (
        b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % target.port
        + f"Cookie: {COOKIE}={session_id}\r\nCookie: theme=dark\r\n".encode()
        + b"Connection: close\r\n\r\n"
    )
    return raw_request(target.port, request).body.decode()


def test_asgi_reads_a_session_cookie_beside_a_second_cookie_header(
    asgi_served: Served,
) -> None:
    assert _whoami_with_split_cookie(asgi_served) == "alice"


def test_wsgi_reads_a_session_cookie_beside_a_second_cookie_header(
    wsgi_served: Served,
) -> None:
    assert _whoami_with_split_cookie(wsgi_served) == "alice"
