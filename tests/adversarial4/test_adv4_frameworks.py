"""The same attacks through the Flask and Starlette integrations, and over
real uvicorn and waitress servers, where the body arrives as the network
cut it and the framework's own parser reads it after the scan.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adversarial4.adv4_support import (
    COOKIE,
    STACKS,
    Stack,
    capture,
    log_text,
)
from forgeproof import MemorySessionStore, csrf_token, rotate
from forgeproof.integrations.flask import CSRFProtect
from forgeproof.integrations.starlette import middleware
from support.servers import serve_asgi, serve_wsgi

_SET = re.compile(rf"{COOKIE}=([^;]+)")
BOUNDARY = "adv4fw"


@dataclass
class Reply:
    status: int
    body: bytes
    set_cookie: str

    @property
    def reason(self) -> str | None:
        try:
            return str(json.loads(self.body)["reason"])
        except (ValueError, KeyError, TypeError):
            return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Framework:
    """An app under one integration; ``call`` sends one request."""

    name: str
    call: Callable[[str, str, list[tuple[str, str]], bytes], Reply]
    ran: list[str]
    origin: str

    def visit(self) -> tuple[str, str]:
        reply = self.call("GET", "/page", [], b"")
        match = _SET.search(reply.set_cookie)
        assert match is not None
        return match.group(1), str(reply.json()["token"])


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _flask() -> Framework:
    app = flask.Flask(__name__)
    CSRFProtect(app, store=MemorySessionStore())
    ran: list[str] = []

    @app.get("/page")
    def page() -> Any:
        return {"token": csrf_token(flask.request)}

    @app.route("/login", methods=["POST"])
    def login() -> Any:
        rotate(flask.request)
        flask.session["user"] = "alice"
        return {"token": csrf_token(flask.request)}

    @app.route("/notes", methods=["POST", "PUT", "PROPPATCH", "post"])
    def notes() -> Any:
        ran.append("notes")
        upload = flask.request.files.get("upload")
        return {
            "raw": _digest(flask.request.get_data()) if upload is None else None,
            "upload": _digest(upload.read()) if upload is not None else None,
            "form": flask.request.form.to_dict(flat=False),
        }

    client = app.test_client(use_cookies=False)

    def call(
        method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        response = client.open(path, method=method, headers=headers, data=body)
        cookies = ", ".join(response.headers.getlist("Set-Cookie"))
        return Reply(response.status_code, response.get_data(), cookies)

    return Framework("flask", call, ran, "http://localhost")


def _starlette() -> Framework:
    ran: list[str] = []

    async def page(request: Request) -> Response:
        return JSONResponse({"token": csrf_token(request)})

    async def login(request: Request) -> Response:
        rotate(request)
        request.session["user"] = "alice"
        return JSONResponse({"token": csrf_token(request)})

    async def notes(request: Request) -> Response:
        ran.append("notes")
        if request.headers.get("content-type", "").startswith("multipart/"):
            async with request.form() as form:
                upload = form["upload"]
                assert not isinstance(upload, str)
                data = await upload.read()
                fields = {k: [str(v)] for k, v in form.items() if k != "upload"}
            return JSONResponse({"raw": None, "upload": _digest(data), "form": fields})
        raw = await request.body()
        return JSONResponse({"raw": _digest(raw), "upload": None, "form": {}})

    app = Starlette(
        routes=[
            Route("/page", page),
            Route("/login", login, methods=["POST"]),
            Route("/notes", notes, methods=["POST", "PUT", "PROPPATCH", "post"]),
        ],
        middleware=middleware(store=MemorySessionStore()),
    )

    async def send(
        method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            response = await client.request(method, path, headers=headers, content=body)
        cookies = ", ".join(response.headers.get_list("set-cookie"))
        return Reply(response.status_code, response.content, cookies)

    def call(
        method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        return asyncio.run(send(method, path, headers, body))

    return Framework("starlette", call, ran, "http://testserver")


@pytest.fixture(params=["flask", "starlette"])
def framework(request: pytest.FixtureRequest) -> Framework:
    return _flask() if request.param == "flask" else _starlette()


def _multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        extra = f'; filename="{filename}"' if filename else ""
        out += (
            (
                f"--{BOUNDARY}\r\n"
                f'Content-Disposition: form-data; name="{name}"{extra}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


_FORM = ("Content-Type", "application/x-www-form-urlencoded")
_MP = ("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")


def _case(
    name: str,
    expected: str,
    build: Callable[[str, str, str], tuple[list[tuple[str, str]], bytes]],
    method: str = "POST",
) -> Any:
    return pytest.param(build, expected, method, id=name)


_CASES = [
    _case(
        "control: header token", "ok", lambda s, t, o: ([("X-CSRF-Token", t)], b"{}")
    ),
    _case(
        "control: form token",
        "ok",
        lambda s, t, o: ([_FORM], f"csrf_token={t}&a=1".encode()),
    ),
    _case(
        "our cookie named twice",
        "session_cookie_ambiguous",
        lambda s, t, o: (
            [("Cookie", f"{COOKIE}={s}; {COOKIE}={o}"), ("X-CSRF-Token", t)],
            b"",
        ),
    ),
    _case(
        "upper-case cookie name only",
        "session_missing",
        lambda s, t, o: (
            [("Cookie", f"FORGEPROOF_SESSION={s}"), ("X-CSRF-Token", t)],
            b"",
        ),
    ),
    _case(
        "another session's token",
        "token_invalid",
        lambda s, t, o: ([("X-CSRF-Token", o)], b""),
    ),
    _case(
        "token header twice, different",
        "token_conflict",
        lambda s, t, o: ([("X-CSRF-Token", t), ("X-CSRF-Token", o)], b""),
    ),
    _case(
        "form token, then another after 100 KiB",
        "token_conflict",
        lambda s, t, o: (
            [_FORM],
            f"csrf_token={t}&p={'x' * 102400}&csrf_token={o}".encode(),
        ),
    ),
    _case(
        "lower-case post without token",
        "token_missing",
        lambda s, t, o: ([], b"x"),
        "post",
    ),
    _case(
        "PROPPATCH without token",
        "token_missing",
        lambda s, t, o: ([], b"x"),
        "PROPPATCH",
    ),
    _case(
        "lower-case post with token",
        "ok",
        lambda s, t, o: ([("X-CSRF-Token", t)], b"x"),
        "post",
    ),
    _case(
        "evil origin",
        "origin_not_allowed",
        lambda s, t, o: ([("Origin", "http://evil.example"), ("X-CSRF-Token", t)], b""),
    ),
    _case(
        "null origin",
        "origin_null",
        lambda s, t, o: ([("Origin", "null"), ("X-CSRF-Token", t)], b""),
    ),
    _case(
        "text/plain form",
        "token_missing",
        lambda s, t, o: ([("Content-Type", "text/plain")], f"csrf_token={t}".encode()),
    ),
    _case(
        "multipart: token part with a filename",
        "token_missing",
        lambda s, t, o: ([_MP], _multipart(("csrf_token", "t.txt", t.encode()))),
    ),
    _case(
        "json: nested token",
        "token_missing",
        lambda s, t, o: (
            [("Content-Type", "application/json")],
            json.dumps({"d": {"csrf_token": t}}).encode(),
        ),
    ),
]


@pytest.mark.parametrize(("build", "expected", "method"), _CASES)
def test_each_attack_through_the_framework_integrations(
    framework: Framework,
    build: Callable[[str, str, str], tuple[list[tuple[str, str]], bytes]],
    expected: str,
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capture(caplog)
    session_id, token = framework.visit()
    _, other = framework.visit()
    headers, body = build(session_id, token, other)
    sent = list(headers)
    if not any(name == "Cookie" for name, _ in headers):
        sent.append(("Cookie", f"{COOKIE}={session_id}"))
    if not any(name == "Origin" for name, _ in headers):
        sent.append(("Origin", framework.origin))

    reply = framework.call(method, "/notes", sent, body)

    if expected == "ok":
        assert reply.status == 200, reply.body
        assert framework.ran == ["notes"]
        return
    assert reply.status == 403, reply.body
    assert reply.reason == expected
    assert framework.ran == []
    text = log_text(caplog)
    assert f"reason={expected}" in text
    for value in (token, other, session_id):
        assert value not in text


def test_the_framework_parses_a_field_first_upload_whole_after_the_scan(
    framework: Framework,
) -> None:
    session_id, token = framework.visit()
    upload = bytes(range(256)) * 4096 + b"\r\n--" + BOUNDARY.encode() + b"x\r\n"
    body = _multipart(
        ("csrf_token", None, token.encode()),
        ("upload", "u.bin", upload),
        ("after", None, b"tail"),
    )
    headers = [("Origin", framework.origin), ("Cookie", f"{COOKIE}={session_id}"), _MP]

    reply = framework.call("POST", "/notes", headers, body)

    assert reply.status == 200, reply.body
    assert reply.json()["upload"] == _digest(upload)
    assert reply.json()["form"] == {"csrf_token": [token], "after": ["tail"]}


def test_a_token_from_before_login_is_refused_through_the_frameworks(
    framework: Framework,
) -> None:
    session_id, token = framework.visit()
    origin = ("Origin", framework.origin)
    login = framework.call(
        "POST",
        "/login",
        [origin, ("Cookie", f"{COOKIE}={session_id}"), ("X-CSRF-Token", token)],
        b"",
    )
    assert login.status == 200
    match = _SET.search(login.set_cookie)
    assert match is not None
    new_id = match.group(1)

    stale = framework.call(
        "POST",
        "/notes",
        [origin, ("Cookie", f"{COOKIE}={new_id}"), ("X-CSRF-Token", token)],
        b"",
    )
    fresh = framework.call(
        "POST",
        "/notes",
        [
            origin,
            ("Cookie", f"{COOKIE}={new_id}"),
            ("X-CSRF-Token", str(login.json()["token"])),
        ],
        b"",
    )

    assert stale.status == 403
    assert stale.reason == "token_invalid"
    assert fresh.status == 200


# -- real servers ------------------------------------------------------------


@dataclass
class Served:
    kind: str
    stack: Stack
    port: int


@pytest.fixture(params=["asgi", "wsgi"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    kind = str(request.param)
    stack = STACKS[kind]()
    serve = serve_asgi if kind == "asgi" else serve_wsgi
    with serve(stack.app) as base:
        yield Served(kind, stack, int(base.rsplit(":", 1)[1]))


@dataclass
class RawReply:
    status: int
    head: str
    body: bytes

    @property
    def reason(self) -> str | None:
        try:
            return str(json.loads(self.body)["reason"])
        except (ValueError, KeyError, TypeError):
            return None


def raw_http(port: int, pieces: list[bytes], *, pause: float = 0.0) -> RawReply:
    """Send *pieces* as separate TCP writes, then read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass  # the server answered early and closed
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        body = _unchunk(body)
    return RawReply(status, head.decode("latin-1"), body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def _request(
    served: Served, method: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    lines = [f"{method} /notes HTTP/1.1", f"Host: 127.0.0.1:{served.port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _served_login(served: Served) -> tuple[str, str]:
    reply = raw_http(
        served.port,
        [
            f"GET /page HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
            "Connection: close\r\n\r\n".encode()
        ],
    )
    match = _SET.search(reply.head)
    assert match is not None
    return match.group(1), str(json.loads(reply.body)["token"])


def test_a_100_kb_cookie_header_is_read_whole_by_real_servers(served: Served) -> None:
    """uvicorn and waitress both pass a 110 KB Cookie header on: our
    cookie at its end is found, and without it there is no session."""
    session_id, token = _served_login(served)
    junk = "; ".join(f"k{i}={'v' * 40}" for i in range(2400))
    base = [("Origin", f"http://127.0.0.1:{served.port}"), ("X-CSRF-Token", token)]
    ours = [*base, ("Cookie", f"{junk}; {COOKIE}={session_id}")]
    only_junk = [*base, ("Cookie", junk)]

    started = time.perf_counter()
    accepted = raw_http(served.port, [_request(served, "POST", ours, b"{}")])
    refused = raw_http(served.port, [_request(served, "POST", only_junk, b"{}")])

    # Not a speed figure: only a hang or a quadratic scan would cross it.
    assert time.perf_counter() - started < 5
    assert accepted.status == 200
    assert refused.status == 403
    assert refused.reason == "session_missing"


def test_a_token_split_across_tcp_writes_is_found_and_the_body_kept(
    served: Served,
) -> None:
    session_id, token = _served_login(served)
    body = f"a=1&csrf_token={token}&".encode() + b"z=" + b"q" * 70_000
    headers = [
        ("Origin", f"http://127.0.0.1:{served.port}"),
        ("Cookie", f"{COOKIE}={session_id}"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    request = _request(served, "POST", headers, body)
    start = len(request) - len(body)

    for cut in (start + 5, start + 20, start + 60, start + 100):
        reply = raw_http(served.port, [request[:cut], request[cut:]], pause=0.02)
        assert reply.status == 200, reply.body
        assert json.loads(reply.body)["sha256"] == _digest(body)


def test_a_chunked_upload_in_one_byte_chunks_is_found_and_kept(served: Served) -> None:
    session_id, token = _served_login(served)
    body = f"csrf_token={token}&t=".encode() + b"w" * 3000
    chunked = b"".join(b"1\r\n" + body[i : i + 1] + b"\r\n" for i in range(len(body)))
    head = (
        f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
        f"Origin: http://127.0.0.1:{served.port}\r\nCookie: {COOKIE}={session_id}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()

    reply = raw_http(
        served.port, [head, chunked[:400], chunked[400:] + b"0\r\n\r\n"], pause=0.02
    )

    assert reply.status == 200, reply.body
    assert json.loads(reply.body)["sha256"] == _digest(body)


def test_a_token_header_sent_twice_over_real_servers(served: Served) -> None:
    session_id, token = _served_login(served)
    _, other = _served_login(served)
    base = [
        ("Origin", f"http://127.0.0.1:{served.port}"),
        ("Cookie", f"{COOKIE}={session_id}"),
    ]

    same = raw_http(
        served.port,
        [
            _request(
                served,
                "POST",
                [*base, ("X-CSRF-Token", token), ("X-CSRF-Token", token)],
            )
        ],
    )
    different = raw_http(
        served.port,
        [
            _request(
                served,
                "POST",
                [*base, ("X-CSRF-Token", token), ("X-CSRF-Token", other)],
            )
        ],
    )

    assert same.status == 200
    assert different.status == 403
    assert different.reason == "token_conflict"


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_a_session_id_hidden_after_a_comma_is_not_a_session_on_real_servers(
    kind: str,
) -> None:
    stack = STACKS[kind]()
    serve = serve_asgi if kind == "asgi" else serve_wsgi
    attacker = stack.visit()
    logged_in = stack.post(attacker, path="/login")
    fixed_id = logged_in.session_id()
    assert fixed_id is not None

    with serve(stack.app) as base:
        port = int(base.rsplit(":", 1)[1])
        reply = raw_http(
            port,
            [
                f"GET /page HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Cookie: theme=x, {COOKIE}={fixed_id}\r\n"
                "Connection: close\r\n\r\n".encode()
            ],
        )

    assert reply.status == 200
    assert json.loads(reply.body)["user"] is None


@pytest.mark.parametrize("kind", ["form", "multipart"])
def test_a_large_token_first_upload_reaches_the_app_whole_over_real_servers(
    served: Served, kind: str
) -> None:
    """Past the scan the rest of the body comes from the server's own
    stream (waitress spools large bodies to a file): nothing lost, nothing
    repeated, nothing past the body."""
    session_id, token = _served_login(served)
    blob = bytes(range(256)) * 12_000  # 3 MB
    if kind == "form":
        content_type = "application/x-www-form-urlencoded"
        body = f"csrf_token={token}&blob=".encode() + blob.hex().encode()[:1_500_000]
    else:
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        body = _multipart(("csrf_token", None, token.encode()), ("upload", "b", blob))
    headers = [
        ("Origin", f"http://127.0.0.1:{served.port}"),
        ("Cookie", f"{COOKIE}={session_id}"),
        ("Content-Type", content_type),
    ]
    request = _request(served, "POST", headers, body)

    reply = raw_http(served.port, [request[:70_000], request[70_000:]], pause=0.02)

    assert reply.status == 200, reply.body
    assert json.loads(reply.body) == {"size": len(body), "sha256": _digest(body)}
