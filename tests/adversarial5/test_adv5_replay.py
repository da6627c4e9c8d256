"""The WSGI replay stream (``_ReplayInput``) after the token scan: never
past CONTENT_LENGTH, no byte lost or repeated, and on a real waitress no
bleeding between pipelined requests on one connection."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from adversarial4.adv4_support import (
    COOKIE,
    HOST,
    ORIGIN,
    ChunkedInput,
    Login,
    Stack,
    wsgi_stack,
)
from forgeproof import wsgi as fp_wsgi
from forgeproof.sessions import SessionConfig
from support.servers import free_port, serve_wsgi

_HOWS = ["", "readline", "readline7", "readinto", "iterate", "readlines", "small"]
_TRAILER = b"GET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n"


def _form(token: str, size: int = 0) -> bytes:
    tail = b"&note=" + b"x\ny" * size if size else b"&note=hi"
    return f"csrf_token={token}".encode() + tail


def _environ(login: Login, body: bytes, stream: Any, how: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": f"/read/{how}" if how else "/notes",
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": HOST,
        "HTTP_ORIGIN": ORIGIN,
        "HTTP_COOKIE": f"{COOKIE}={login.session_id}",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _run(stack: Stack, environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    started: list[str] = []

    def start_response(status: str, headers: Any, exc: Any = None) -> Any:
        started[:] = [status]
        return lambda data: None

    stack.seen.clear()
    out = b"".join(stack.app(environ, start_response))
    return started[0], json.loads(out)


@pytest.mark.parametrize("how", _HOWS)
@pytest.mark.parametrize("seekable", [True, False])
@pytest.mark.parametrize("size", [0, 40_000])
def test_the_app_never_reads_past_content_length_after_the_scan(
    how: str, seekable: bool, size: int
) -> None:
    stack = wsgi_stack()
    login = stack.visit()
    body = _form(login.token, size)
    raw = body + _TRAILER  # the next request on the connection
    stream: Any = (
        io.BytesIO(raw) if seekable else ChunkedInput([raw[:5000], raw[5000:]])
    )
    status, payload = _run(stack, _environ(login, body, stream, how))
    assert status.startswith("200")
    assert stack.seen == [body]
    assert payload["sha256"] == hashlib.sha256(body).hexdigest()
    # What follows the body is still there for the server.
    assert stream.read() == _TRAILER


@pytest.mark.parametrize("how", _HOWS)
def test_a_seekable_stream_that_ends_with_the_body_is_read_whole(how: str) -> None:
    stack = wsgi_stack()
    login = stack.visit()
    body = _form(login.token, 100_000)
    status, _ = _run(stack, _environ(login, body, io.BytesIO(body), how))
    assert status.startswith("200")
    assert stack.seen == [body]


def test_reads_bigger_than_the_body_return_only_the_body() -> None:
    stack = wsgi_stack()
    login = stack.visit()
    reads: list[bytes] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        reads.extend([stream.read(10**7), stream.read(10**7), stream.readline()])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = fp_wsgi.SessionMiddleware(
        fp_wsgi.CSRFMiddleware(app),
        store=stack.store,
        config=SessionConfig(clock=stack.clock),
    )
    body = _form(login.token, 30_000)
    stream = io.BytesIO(body + _TRAILER)
    started: list[str] = []
    out = b"".join(
        wrapped(
            _environ(login, body, stream, ""),
            lambda status, headers, exc=None: started.append(status),
        )
    )
    assert started == ["200 OK"]
    assert out == b"ok"
    assert reads == [body, b"", b""]
    assert stream.read() == _TRAILER


def test_a_stream_whose_position_is_past_zero_is_replayed_from_where_it_was() -> None:
    stack = wsgi_stack()
    login = stack.visit()
    body = _form(login.token, 20_000)
    stream = io.BytesIO(b"PREAMBLE" + body)
    stream.seek(len(b"PREAMBLE"))
    status, _ = _run(stack, _environ(login, body, stream, "readinto"))
    assert status.startswith("200")
    assert stack.seen == [body]


def test_a_forged_form_leaves_the_stream_for_no_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = wsgi_stack()
    login = stack.visit()
    before = stack.record(login.session_id)
    body = b"csrf_token=" + b"A" * 86 + b"&note=x"
    environ = _environ(login, body, io.BytesIO(body + _TRAILER), "")
    started: list[str] = []
    out = b"".join(
        stack.app(environ, lambda status, headers, exc=None: started.append(status))
    )
    assert started[0].startswith("403")
    assert json.loads(out)["reason"] == "token_invalid"
    assert stack.seen == []
    assert stack.record(login.session_id) == before
    assert login.token not in caplog.text
    assert login.session_id not in caplog.text


# -- waitress over a raw socket ----------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Stack]]:
    stack = wsgi_stack()
    with serve_wsgi(stack.app) as url:
        yield url, stack


def _request(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _responses(sock: socket.socket, count: int) -> list[tuple[int, bytes, str]]:
    buffer = b""
    out: list[tuple[int, bytes, str]] = []
    while len(out) < count:
        while b"\r\n\r\n" not in buffer:
            data = sock.recv(65536)
            assert data, "the server closed the connection early"
            buffer += data
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        cookie = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            if name.lower() == "set-cookie" and value.strip().startswith(COOKIE):
                cookie = value.strip().split(";")[0].split("=", 1)[1]
        while len(buffer) < length:
            data = sock.recv(65536)
            assert data
            buffer += data
        out.append((int(lines[0].split()[1]), buffer[:length], cookie))
        buffer = buffer[length:]
    return out


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


def _login(port: int) -> Login:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_request("GET", "/page", {}, b""))
        ((status, body, cookie),) = _responses(sock, 1)
    assert status == 200
    assert cookie
    return Login(cookie, json.loads(body)["token"])


@pytest.mark.parametrize("how", ["", "readline", "readinto", "iterate", "small"])
def test_pipelined_requests_on_one_waitress_connection_keep_their_own_bodies(
    served: tuple[str, Stack], how: str
) -> None:
    url, _ = served
    port = _port(url)
    login = _login(port)
    headers = {
        "Origin": ORIGIN,
        "Cookie": f"{COOKIE}={login.session_id}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    first = _form(login.token, 50_000)
    second = _form(login.token) + b"&second=1"
    path = f"/read/{how}" if how else "/notes"
    wire = _request("POST", path, headers, first) + _request(
        "POST", path, headers, second
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(wire)
        answers = _responses(sock, 2)
    assert [status for status, _, _ in answers] == [200, 200]
    sizes = [json.loads(body)["sha256"] for _, body, _ in answers]
    assert sizes == [
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]


def test_a_forged_request_pipelined_after_a_good_one_is_still_refused(
    served: tuple[str, Stack],
) -> None:
    url, stack = served
    port = _port(url)
    login = _login(port)
    headers = {
        "Origin": ORIGIN,
        "Cookie": f"{COOKIE}={login.session_id}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    good = _form(login.token, 10_000)
    # The forged body starts where a "read past the body" would reach.
    forged = b"note=forged"
    wire = _request("POST", "/notes", headers, good) + _request(
        "POST", "/notes", headers, forged
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(wire)
        answers = _responses(sock, 2)
    assert answers[0][0] == 200
    assert answers[1][0] == 403
    assert json.loads(answers[1][1])["reason"] == "token_missing"
    # Only the good request ran the app: one write in the session.
    record = stack.record(login.session_id)
    assert record is not None
    assert record.data.get("writes") == 1


def _chunked(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Transfer-Encoding: chunked")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode()
    for start in range(0, len(body), 7000):
        piece = body[start : start + 7000]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("how", ["", "readline", "readinto"])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_large_or_chunked_body_pipelined_before_another_keeps_both_bodies(
    served: tuple[str, Stack], how: str, chunked: bool
) -> None:
    url, _ = served
    port = _port(url)
    login = _login(port)
    headers = {
        "Origin": ORIGIN,
        "Cookie": f"{COOKIE}={login.session_id}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    # Past waitress's in-memory buffer (a temporary file) and the scan limit.
    first = _form(login.token, 700_000)
    second = _form(login.token) + b"&second=1"
    path = f"/read/{how}" if how else "/notes"
    frame = _chunked if chunked else _request
    wire = frame("POST", path, headers, first) + _request("POST", path, headers, second)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(wire)
        answers = _responses(sock, 2)
    assert [status for status, _, _ in answers] == [200, 200]
    assert [json.loads(body)["sha256"] for _, body, _ in answers] == [
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]


_HUGE_LENGTH = "99999999999999999999"  # > sys.maxsize


def _socket_stream(data: bytes) -> Iterator[Any]:
    near, far = socket.socketpair()
    with near, far:
        far.sendall(data)
        far.shutdown(socket.SHUT_WR)
        with near.makefile("rb") as stream:
            yield stream


@pytest.fixture(params=["bytesio", "socket"])
def huge_stream(request: pytest.FixtureRequest) -> Iterator[tuple[str, bytes, Any]]:
    stack_login = wsgi_stack()
    login = stack_login.visit()
    body = _form(login.token)
    if request.param == "bytesio":
        yield request.param, body, (stack_login, login, io.BytesIO(body))
    else:
        for stream in _socket_stream(body):
            yield request.param, body, (stack_login, login, stream)


def test_a_content_length_that_fits_reads_the_body_whole() -> None:
    stack = wsgi_stack()
    login = stack.visit()
    body = _form(login.token)
    for stream in _socket_stream(body):
        status, _ = _run(stack, _environ(login, body, stream, ""))
        assert status.startswith("200")
        assert stack.seen == [body]


@pytest.mark.parametrize("how", ["", "readline"])
def test_a_content_length_beyond_sys_maxsize_does_not_crash_the_replay(
    huge_stream: tuple[str, bytes, Any], how: str
) -> None:
    _, body, (stack, login, stream) = huge_stream
    environ = _environ(login, body, stream, how)
    environ["CONTENT_LENGTH"] = _HUGE_LENGTH
    status, _ = _run(stack, environ)
    assert status.startswith("200")
    assert stack.seen == [body]


@pytest.fixture
def werkzeug_served() -> Iterator[tuple[int, Stack]]:
    from werkzeug.serving import make_server

    stack = wsgi_stack()
    port = free_port()
    server = make_server("127.0.0.1", port, stack.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port, stack
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _half_closed(port: int, raw: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def _werkzeug_login(port: int) -> Login:
    raw = _request("GET", "/page", {"Connection": "close"}, b"")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    session = re.search(rb"forgeproof_session=([^;]+)", data)
    token = re.search(rb'"token": "([^"]+)"', data)
    assert session is not None
    assert token is not None
    return Login(session.group(1).decode(), token.group(1).decode())


def _werkzeug_post(port: int, login: Login, length: str) -> int:
    body = _form(login.token)
    headers = {
        "Origin": ORIGIN,
        "Cookie": f"{COOKIE}={login.session_id}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": length,
        "Connection": "close",
    }
    lines = [f"POST /notes HTTP/1.1\r\nHost: {HOST}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return _half_closed(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def test_werkzeug_serves_a_token_first_form_with_a_true_length(
    werkzeug_served: tuple[int, Stack],
) -> None:
    port, _ = werkzeug_served
    login = _werkzeug_login(port)
    assert _werkzeug_post(port, login, str(len(_form(login.token)))) == 200


def test_werkzeug_does_not_500_on_a_content_length_beyond_sys_maxsize(
    werkzeug_served: tuple[int, Stack],
) -> None:
    port, _ = werkzeug_served
    login = _werkzeug_login(port)
    assert _werkzeug_post(port, login, _HUGE_LENGTH) == 200
