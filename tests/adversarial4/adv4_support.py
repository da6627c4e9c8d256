"""Tools of the fourth adversarial round: the same raw request, byte for
byte, through the ASGI and the WSGI adapter in-process.

A request is written as a server would hand it over: header names and
values as sent (repeats kept, any case), the body as a list of chunks, so
a test controls what a fast path sees. ASGI gets a scope and a ``receive``
that yields those chunks; WSGI gets the environ waitress would build
(repeated headers joined with ", ") and a ``wsgi.input`` that never returns
more than one chunk per read, like a socket.

The app behind the middleware records whether it ran and the exact body it
read, and changes the session when it runs, so an attack test proves that
nothing happened instead of only reading a status code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from forgeproof import asgi as fp_asgi
from forgeproof import wsgi as fp_wsgi
from forgeproof.sessions import MemorySessionStore, SessionConfig, SQLiteSessionStore
from forgeproof.sessions.base import Session, SessionRecord, store_key
from forgeproof.templating import rotate

Headers = list[tuple[str, str]]
Store = MemorySessionStore | SQLiteSessionStore

COOKIE = "forgeproof_session"
HOST_COOKIE = "__Host-forgeproof_session"
HOST = "app.test"
ORIGIN = "http://app.test"
TLS_ORIGIN = "https://app.test"
TRUSTED_ORIGIN = "https://trusted.example"
EXEMPT_PREFIX = "/hooks/"

_SET_COOKIE = re.compile(r"(?:__Host-)?forgeproof_session=([^;]*)")


@dataclass
class Outcome:
    """What one request produced, on either adapter."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reached: bool
    app_body: bytes | None

    @property
    def reason(self) -> str | None:
        """The ``reason`` of a problem+json refusal, else ``None``."""
        if not self.header("content-type").startswith("application/problem+json"):
            return None
        return str(json.loads(self.body)["reason"])

    def header(self, name: str) -> str:
        """Every value of header *name* joined with ", " ("" if none)."""
        return ", ".join(v for k, v in self.headers if k.lower() == name.lower())

    def session_id(self) -> str | None:
        """The session id this response sets, if it sets one."""
        for key, value in self.headers:
            match = _SET_COOKIE.match(value) if key.lower() == "set-cookie" else None
            if match is not None and match.group(1):
                return match.group(1)
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Login:
    """A visitor's session as the browser holds it."""

    session_id: str
    token: str

    @property
    def cookie(self) -> tuple[str, str]:
        return ("Cookie", f"{COOKIE}={self.session_id}")


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stack:
    """One protected app behind one adapter, with its store and clock."""

    kind: str
    app: Any
    store: Store
    clock: Clock
    seen: list[bytes | None] = field(default_factory=list)

    def send(
        self,
        method: str,
        path: str,
        headers: Headers,
        body: bytes | list[bytes] = b"",
        *,
        scheme: str = "http",
        host: str | None = HOST,
        query: str = "",
        disconnect_after: int | None = None,
        seekable: bool = False,
    ) -> Outcome:
        """Run one request; *body* as a list is the chunks it arrives in.

        *host* adds a ``Host`` header first (``None``: none); *query* is
        the query string.
        *disconnect_after* ends the ASGI body with ``http.disconnect``
        after that many chunks. Status 0: the stack sent no response.
        *seekable* gives WSGI the body as one ``io.BytesIO``, as waitress
        and test clients do, instead of a socket-like stream.
        """
        chunks = [body] if isinstance(body, bytes) else list(body)
        all_headers = ([("Host", host)] if host is not None else []) + headers
        self.seen.clear()
        if self.kind == "asgi":
            status, out_headers, out_body = asyncio.run(
                _run_asgi(
                    self.app,
                    (method, path, query, scheme),
                    all_headers,
                    chunks,
                    disconnect_after,
                )
            )
        else:
            status, out_headers, out_body = _run_wsgi(
                self.app, (method, path, query, scheme), all_headers, chunks, seekable
            )
        reached = bool(self.seen)
        return Outcome(
            status, out_headers, out_body, reached, self.seen[0] if reached else None
        )

    def visit(
        self, headers: Sequence[tuple[str, str]] = (), *, scheme: str = "http"
    ) -> Login:
        """GET the token page; the session it sets (or keeps) and a token."""
        response = self.send("GET", "/page", list(headers), scheme=scheme)
        assert response.status == 200
        session_id = response.session_id() or _cookie_in(headers)
        assert session_id is not None
        return Login(session_id, str(response.json()["token"]))

    def record(self, session_id: str) -> SessionRecord | None:
        return self.store.load(store_key(session_id))

    def secret_of(self, session_id: str) -> bytes:
        record = self.record(session_id)
        assert record is not None
        assert record.csrf_secret is not None
        return record.csrf_secret

    def post(
        self,
        login: Login | None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | list[bytes] = b"",
        *,
        method: str = "POST",
        path: str = "/notes",
        token_header: bool = True,
        origin: str | None = ORIGIN,
        **options: Any,
    ) -> Outcome:
        """An unsafe request of *login*'s browser: its cookie, its Origin,
        and its token in the header unless *token_header* is false."""
        sent: Headers = []
        if origin is not None:
            sent.append(("Origin", origin))
        if login is not None:
            sent.append(login.cookie)
            if token_header:
                sent.append(("X-CSRF-Token", login.token))
        sent += list(headers)
        return self.send(method, path, sent, body, **options)


def _cookie_in(headers: Iterable[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "cookie":
            match = _SET_COOKIE.search(value)
            if match is not None:
                return match.group(1)
    return None


# -- the app -----------------------------------------------------------------


def _page(session: Session) -> bytes:
    token = session.new_csrf_token()
    return json.dumps({"token": token, "user": session.get("user")}).encode()


def _after_write(
    method: str, session: Session, body: bytes, seen: list[bytes | None]
) -> bytes:
    seen.append(body)
    if method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        session["writes"] = session.get("writes", 0) + 1
    return json.dumps(
        {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    ).encode()


def asgi_stack(
    store: Store | None = None, clock: Clock | None = None, **csrf: Any
) -> Stack:
    """The protected ASGI app: GET /page issues a token, POST /login
    rotates, POST /logout clears, anything else reads its whole body.

    Give the *store* and *clock* of another stack to share its sessions.
    """
    clock = clock or Clock()
    store = store or MemorySessionStore(clock=clock)
    stack = Stack("asgi", None, store, clock)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        session: Session = scope["session"]
        path = scope["path"]
        if path in ("/page", "/login", "/logout"):
            if path == "/login":
                rotate(scope)
                session["user"] = "alice"
            elif path == "/logout":
                session.clear()
            payload = _page(session) if path != "/logout" else b"{}"
        else:
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            payload = _after_write(scope["method"], session, body, stack.seen)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    config = SessionConfig(clock=clock)
    options: dict[str, Any] = {
        "trusted_origins": [TRUSTED_ORIGIN],
        "exempt_paths": [EXEMPT_PREFIX],
        **csrf,
    }
    stack.app = fp_asgi.SessionMiddleware(
        fp_asgi.CSRFMiddleware(app, **options), store=store, config=config
    )
    return stack


def _read_wsgi(stream: Any, how: str) -> bytes:
    if how == "readline":
        parts = []
        while line := stream.readline():
            parts.append(line)
        return b"".join(parts)
    if how == "readline7":
        parts = []
        while line := stream.readline(7):
            parts.append(line)
        return b"".join(parts)
    if how == "readinto":
        out = bytearray()
        buffer = bytearray(1000)
        while count := stream.readinto(buffer):
            out += buffer[:count]
        return bytes(out)
    if how == "iterate":
        return b"".join(stream)
    if how == "readlines":
        return b"".join(stream.readlines())
    if how == "small":
        parts = []
        while part := stream.read(333):
            parts.append(part)
        return b"".join(parts)
    return bytes(stream.read())


def wsgi_stack(
    store: Store | None = None, clock: Clock | None = None, **csrf: Any
) -> Stack:
    """The WSGI twin of :func:`asgi_stack`; ``/read/<how>`` reads the body
    with readline, readinto, iteration... instead of one read()."""
    clock = clock or Clock()
    store = store or MemorySessionStore(clock=clock)
    stack = Stack("wsgi", None, store, clock)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        session: Session = environ[fp_wsgi.ENVIRON_KEY]
        path = environ["PATH_INFO"]
        if path in ("/page", "/login", "/logout"):
            if path == "/login":
                rotate(environ)
                session["user"] = "alice"
            elif path == "/logout":
                session.clear()
            payload = _page(session) if path != "/logout" else b"{}"
        else:
            how = path.removeprefix("/read/") if path.startswith("/read/") else ""
            body = _read_wsgi(environ["wsgi.input"], how)
            payload = _after_write(environ["REQUEST_METHOD"], session, body, stack.seen)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [payload]

    config = SessionConfig(clock=clock)
    options: dict[str, Any] = {
        "trusted_origins": [TRUSTED_ORIGIN],
        "exempt_paths": [EXEMPT_PREFIX],
        **csrf,
    }
    stack.app = fp_wsgi.SessionMiddleware(
        fp_wsgi.CSRFMiddleware(app, **options), store=store, config=config
    )
    return stack


STACKS: dict[str, Callable[..., Stack]] = {"asgi": asgi_stack, "wsgi": wsgi_stack}


# -- running a request -------------------------------------------------------


async def _run_asgi(
    app: Any,
    target: tuple[str, str, str, str],
    headers: Headers,
    chunks: list[bytes],
    disconnect_after: int | None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    method, path, query, scheme = target
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode("utf-8"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        # ASGI servers lower-case names and keep values as the raw bytes.
        "headers": [(k.lower().encode("latin-1"), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": (HOST, 443 if scheme == "https" else 80),
    }
    messages: Iterator[dict[str, Any]] = _messages(chunks, disconnect_after)
    started: dict[str, Any] = {}
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        else:
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    if not started:
        return 0, [], b""  # nothing answered: the client is gone
    out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in started["headers"]]
    return int(started["status"]), out, bytes(body)


def _messages(
    chunks: list[bytes], disconnect_after: int | None
) -> Iterator[dict[str, Any]]:
    for index, chunk in enumerate(chunks):
        if disconnect_after is not None and index == disconnect_after:
            yield {"type": "http.disconnect"}
            return
        last = index == len(chunks) - 1
        yield {"type": "http.request", "body": chunk, "more_body": not last}


class ChunkedInput:
    """A ``wsgi.input`` that hands out at most one chunk per call, as a
    socket does, with read, readline and readinto."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = deque(c for c in chunks if c)
        self._pos = 0  # how far into the first chunk was read

    def read(self, size: int | None = -1) -> bytes:
        if not self._chunks:
            return b""
        if size is None or size < 0:
            data = b"".join(self._chunks)[self._pos :]
            self._chunks.clear()
            return data
        head, start = self._chunks[0], self._pos
        end = min(len(head), start + size)
        if end == len(head):
            self._chunks.popleft()
            self._pos = 0
        else:
            self._pos = end
        return head[start:end]

    def readline(self, size: int | None = -1) -> bytes:
        if not self._chunks:
            return b""
        head, start = self._chunks[0], self._pos
        newline = head.find(b"\n", start)
        length = (len(head) if newline == -1 else newline + 1) - start
        if size is not None and 0 <= size < length:
            length = size
        return self.read(length)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def _run_wsgi(
    app: Any,
    target: tuple[str, str, str, str],
    headers: Headers,
    chunks: list[bytes],
    seekable: bool,
) -> tuple[int, list[tuple[str, str]], bytes]:
    method, path, query, scheme = target
    body = b"".join(chunks)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": HOST,
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body) if seekable else ChunkedInput(chunks),
        "wsgi.errors": _NullErrors(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        # What waitress does: values are the raw bytes read as latin-1, and
        # a header sent twice arrives joined with ", ".
        decoded = value.encode().decode("latin-1")
        if key in environ and key != "CONTENT_LENGTH":
            environ[key] += ", " + decoded
        else:
            environ[key] = decoded
    started: list[Any] = []

    def start_response(status: str, out: list[tuple[str, str]], exc: Any = None) -> Any:
        started[:] = [status, out]
        return lambda data: None

    result = app(environ, start_response)
    try:
        out_body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert started, "the stack sent no response"
    return int(started[0].split()[0]), list(started[1]), out_body


class _NullErrors:
    def write(self, text: str) -> None:
        """Nothing reads wsgi.errors here."""

    def flush(self) -> None:
        """Nothing to flush."""


# -- assertions --------------------------------------------------------------


def secret_forms(secret: bytes) -> list[str]:
    """The ways a leaked secret could be spelled in a log line."""
    return [
        secret.hex(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret),
    ]


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record, message and traceback, as one string."""
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def assert_clean_logs(caplog: pytest.LogCaptureFixture, *values: str) -> None:
    """No captured log record contains any of *values*."""
    text = log_text(caplog)
    for value in values:
        assert value
        assert value not in text


def assert_refused(
    stack: Stack,
    outcome: Outcome,
    reason: str,
    caplog: pytest.LogCaptureFixture,
    *,
    login: Login | None = None,
    before: SessionRecord | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Refused with *reason*: 403 problem+json, app not run, session record
    unchanged, and the log names the reason but no token, id or secret."""
    assert outcome.status == 403, outcome.body
    assert outcome.reason == reason, outcome.body
    assert not outcome.reached
    assert outcome.session_id() is None
    assert f"reason={reason}" in log_text(caplog)
    leaks = list(secrets)
    if login is not None:
        assert stack.record(login.session_id) == before
        leaks += [login.token, login.session_id]
        if before is not None and before.csrf_secret is not None:
            leaks += secret_forms(before.csrf_secret)
    assert_clean_logs(caplog, *leaks)


def assert_accepted(outcome: Outcome) -> None:
    """The request reached the app and the app answered."""
    assert outcome.status == 200, outcome.body
    assert outcome.reached
    assert outcome.reason is None


def capture(caplog: pytest.LogCaptureFixture) -> None:
    """Capture everything forgeproof logs, down to DEBUG."""
    caplog.set_level(logging.DEBUG, logger="forgeproof")
