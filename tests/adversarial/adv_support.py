"""A forgeproof-protected Starlette app on real HTTP, and the tools to attack it.

The app records every request that gets past ``CSRFMiddleware`` (``reached``)
and every side effect of its routes (``effects``), so an attack test proves
that nothing happened rather than only reading a status code. An outer
wrapper counts the body bytes the server hands to the middleware stack, and
every exception the stack raises is kept: there must never be one.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from forgeproof.asgi import CSRFMiddleware, SessionMiddleware
from forgeproof.sessions.base import store_key
from forgeproof.sessions.memory import MemorySessionStore
from forgeproof.templating import csrf_token, rotate

_TLS = ssl.create_default_context()

TRUSTED_ORIGIN = "https://trusted.example"
COOKIE = "forgeproof_session"
SECURE_COOKIE = "__Host-forgeproof_session"
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "PURGE", "LOCK"]


@dataclass
class Recorder:
    """What the protected app saw; reset before every test."""

    reached: list[tuple[str, str]] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.reached.clear()
            self.effects.clear()
            self.errors.clear()
            self.received.clear()


class _Reached:
    """Innermost: anything recorded here got past the CSRF check."""

    def __init__(self, app: Any, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            with self.recorder.lock:
                self.recorder.reached.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


class _Outermost:
    """Counts body bytes pulled from the server and keeps any exception."""

    def __init__(self, app: Any, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        index = len(self.recorder.received)
        self.recorder.received.append(0)

        async def counting_receive() -> Any:
            message = await receive()
            self.recorder.received[index] += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BaseException as exc:
            self.recorder.errors.append(exc)
            raise


def build_app(
    recorder: Recorder, store: MemorySessionStore, **csrf_options: Any
) -> Any:
    """The app under attack: a login, notes with side effects, a webhook."""

    async def form(request: Request) -> Response:
        return JSONResponse({"token": csrf_token(request)})

    async def login(request: Request) -> Response:
        data = await request.form()
        rotate(request)
        request.session["user"] = str(data.get("user", ""))
        recorder.effects.append({"route": "login", "user": request.session["user"]})
        return JSONResponse({"token": csrf_token(request)})

    async def logout(request: Request) -> Response:
        request.session.clear()
        recorder.effects.append({"route": "logout"})
        return PlainTextResponse("bye")

    async def whoami(request: Request) -> Response:
        return JSONResponse({"user": request.session.get("user")})

    async def notes(request: Request) -> Response:
        body = await request.body()
        recorder.effects.append(
            {
                "route": "notes",
                "method": request.method,
                "path": request.url.path,
                "body": body if len(body) < 4096 else len(body),
            }
        )
        return JSONResponse({"ok": True, "bytes": len(body)})

    routes = [
        Route("/form", form, methods=["GET"]),
        Route("/whoami", whoami, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/notes", notes, methods=WRITE_METHODS),
        Route("/hooks/{name}", notes, methods=["POST"]),
        Route("/hooksx", notes, methods=["POST"]),
        Route("/anything", notes),  # every method, like a careless endpoint
    ]
    options: dict[str, Any] = {
        "trusted_origins": [TRUSTED_ORIGIN],
        "exempt_paths": ["/hooks/"],
    }
    options.update(csrf_options)
    inner = _Reached(Starlette(routes=routes), recorder)
    return _Outermost(
        SessionMiddleware(CSRFMiddleware(inner, **options), store=store), recorder
    )


@dataclass
class Target:
    """A running protected app and what a test needs to attack it."""

    base: str
    port: int
    recorder: Recorder
    store: MemorySessionStore

    @property
    def origin(self) -> str:
        return self.base

    def client(self, **kwargs: Any) -> httpx.Client:
        # One TLS context for all: httpx builds one per client otherwise,
        # which costs more than the plain-http request itself.
        return httpx.Client(base_url=self.base, timeout=10, verify=_TLS, **kwargs)

    def new_session(self) -> tuple[str, str]:
        """A fresh anonymous session: (session id, token).

        Resets the recorder: call it before the request under test.
        """
        with self.client() as client:
            response = client.get("/form")
            assert response.status_code == 200
            session_id = session_id_from(response)
            token = str(response.json()["token"])
        assert session_id is not None
        # Only what the attack does afterwards counts.
        self.recorder.reset()
        return session_id, token

    def secret_of(self, session_id: str) -> bytes:
        record = self.store.load(store_key(session_id))
        assert record is not None
        assert record.csrf_secret is not None
        return record.csrf_secret

    def post(
        self,
        path: str = "/notes",
        *,
        session_id: str | None = None,
        headers: dict[str, str | None] | None = None,
        method: str = "POST",
        **kwargs: Any,
    ) -> httpx.Response:
        """An unsafe request with the session cookie set by hand."""
        all_headers: dict[str, str | None] = {"origin": self.origin}
        if session_id is not None:
            all_headers["cookie"] = f"{COOKIE}={session_id}"
        all_headers.update(headers or {})
        sent = {k: v for k, v in all_headers.items() if v is not None}
        with self.client() as client:
            return client.request(method, path, headers=sent, **kwargs)

    def notes_effects(self) -> list[dict[str, Any]]:
        return [e for e in self.recorder.effects if e["route"] == "notes"]


def session_id_from(response: httpx.Response) -> str | None:
    for value in response.headers.get_list("set-cookie"):
        match = re.match(rf"(?:__Host-)?{COOKIE}=([^;]*)", value)
        if match:
            return match.group(1)
    return None


def reason_of(response: httpx.Response) -> str | None:
    """The rejection reason of a problem+json answer."""
    if response.headers.get("content-type", "").startswith("application/problem"):
        return str(response.json()["reason"])
    return None


def assert_rejected(target: Target, response: httpx.Response, reason: str) -> None:
    """403 with *reason*, and the protected app never reached."""
    assert response.status_code == 403, response.text
    assert reason_of(response) == reason, response.text
    assert target.recorder.reached == []
    assert target.notes_effects() == []
    assert target.recorder.errors == []


def assert_accepted(target: Target, response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert len(target.recorder.reached) == 1
    assert target.recorder.errors == []


# -- raw HTTP, for what httpx refuses to send ---------------------------------


@dataclass
class RawResponse:
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def raw_request(port: int, data: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Send *data* as is and read until the server closes or times out."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before reading everything.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    return parse_raw_response(b"".join(chunks))


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return match is not None and len(body) >= int(match.group(1))


def parse_raw_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = None
    if lines and lines[0].startswith("HTTP/"):
        status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return RawResponse(status, headers, body)


def http_request(
    target: Target,
    *,
    method: str = "POST",
    path: str = "/notes",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    host: str | None = "default",
    content_length: bool = True,
) -> RawResponse:
    """Build an HTTP/1.1 request by hand, header order and repeats kept."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host == "default":
        lines.append(f"Host: 127.0.0.1:{target.port}")
    elif host is not None:
        lines.append(f"Host: {host}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return raw_request(target.port, head + body)
