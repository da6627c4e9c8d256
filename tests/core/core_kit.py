"""Raw ASGI helpers for the core tests: a stack with a seeded session, a
``receive`` that counts what it hands out, and an app that records what
reached it.

Imported as ``from core.core_kit import ...`` (``tests`` is on the path).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from forgeproof import (
    CSRFMiddleware,
    MemorySessionStore,
    Reason,
    SessionMiddleware,
    SessionRecord,
    mask_secret,
    new_secret,
)
from forgeproof.sessions.base import new_session_id, store_key
from forgeproof.types import Message, Receive, Scope, Send

COOKIE_NAME = "forgeproof_session"
HOST = "testserver"
ORIGIN = f"http://{HOST}"

T = TypeVar("T")


def run(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion (works inside Hypothesis tests too)."""

    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


@dataclass
class SeededSession:
    """A live session in a store, with its id, secret and a fresh token."""

    session_id: str
    secret: bytes

    @property
    def cookie(self) -> str:
        return f"{COOKIE_NAME}={self.session_id}"

    def token(self) -> str:
        return mask_secret(self.secret)


def seed_session(store: MemorySessionStore) -> SeededSession:
    """Put a session with a CSRF secret straight into *store*."""
    session_id = new_session_id()
    secret = new_secret()
    now = time.time()
    store.save(store_key(session_id), SessionRecord({}, secret, now, now), now + 3600)
    return SeededSession(session_id, secret)


@dataclass
class RecordingApp:
    """The app behind the middleware: reads the whole body, answers 200.

    ``store_body=False`` drains without keeping the bytes (for big uploads),
    only counting them. ``on_call`` runs when the app is entered, before it
    reads anything: tests use it to see how much the middleware had read.
    """

    store_body: bool = True
    on_call: Callable[[], None] | None = None
    calls: int = 0
    body: bytearray = field(default_factory=bytearray)
    body_length: int = 0
    messages: list[Message] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)

    def reset(self) -> None:
        self.calls = 0
        self.body.clear()
        self.body_length = 0
        self.messages.clear()
        self.scopes.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.scopes.append(scope)
        if self.on_call is not None:
            self.on_call()
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            self.body_length += len(chunk)
            if self.store_body:
                self.messages.append(message)
                self.body += chunk
            if not message.get("more_body", False):
                break
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"app reached"})


@dataclass
class ChunkFeed:
    """An ASGI ``receive`` that hands out *chunks* as ``http.request``
    messages and counts how much was pulled.

    After the last chunk (``more_body`` false) it answers
    ``http.disconnect``, as servers do once the body is over. With
    ``disconnect_after=n`` the client "goes away" after n chunks.
    """

    chunks: Sequence[bytes]
    disconnect_after: int | None = None
    calls: int = 0
    bytes_pulled: int = 0
    _next: int = 0

    async def __call__(self) -> Message:
        self.calls += 1
        if self.disconnect_after is not None and self._next >= self.disconnect_after:
            return {"type": "http.disconnect"}
        if self._next >= len(self.chunks):
            return {"type": "http.disconnect"}
        chunk = self.chunks[self._next]
        self._next += 1
        self.bytes_pulled += len(chunk)
        more = self._next < len(self.chunks)
        return {"type": "http.request", "body": chunk, "more_body": more}


@dataclass
class Sent:
    """What the stack sent back."""

    messages: list[Message] = field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        for message in self.messages:
            if message["type"] == "http.response.start":
                return int(message["status"])
        return None

    @property
    def headers(self) -> dict[str, str]:
        for message in self.messages:
            if message["type"] == "http.response.start":
                return {k.decode(): v.decode() for k, v in message["headers"]}
        return {}

    @property
    def body(self) -> bytes:
        bodies = [m for m in self.messages if m["type"] == "http.response.body"]
        return b"".join(m.get("body", b"") for m in bodies)


@dataclass
class Stack:
    """SessionMiddleware(CSRFMiddleware(RecordingApp)) over a memory store."""

    app: RecordingApp
    store: MemorySessionStore
    asgi: Callable[[Scope, Receive, Send], Awaitable[None]]
    session: SeededSession


def make_stack(store_body: bool = True, **csrf_options: Any) -> Stack:
    store = MemorySessionStore()
    app = RecordingApp(store_body=store_body)
    asgi = SessionMiddleware(CSRFMiddleware(app, **csrf_options), store=store)
    return Stack(app, store, asgi, seed_session(store))


def http_scope(
    method: str = "POST",
    path: str = "/submit",
    headers: Iterable[tuple[str, str]] = (),
    *,
    query_string: bytes = b"",
    scheme: str = "http",
) -> Scope:
    raw = [(b"host", HOST.encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": (HOST, 80),
    }


def call(
    stack: Stack,
    chunks: Sequence[bytes],
    headers: Iterable[tuple[str, str]] = (),
    *,
    method: str = "POST",
    path: str = "/submit",
    disconnect_after: int | None = None,
) -> tuple[Sent, ChunkFeed]:
    """Send one request through *stack*; return what came back and the feed."""
    feed = ChunkFeed(chunks, disconnect_after=disconnect_after)
    sent = Sent()
    run(stack.asgi(http_scope(method, path, headers), feed, sent))
    return sent, feed


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


# -- bodies -------------------------------------------------------------------


def multipart(
    parts: Sequence[tuple[str, bytes, str | None]], boundary: str | None = None
) -> tuple[bytes, str]:
    """Encode ``(name, value, filename)`` parts; return body and Content-Type."""
    boundary = boundary or f"fp{uuid.uuid4().hex}"
    out = bytearray()
    for name, value, filename in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


@dataclass
class BigMultipart:
    """A multipart body produced lazily: a token field, then one file part
    of *file_size* bytes, handed out in *chunk_size* pieces."""

    token: str
    file_size: int
    chunk_size: int = 64 * 1024
    boundary: str = "fpbigboundary7c1e"
    token_first: bool = True

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _token_part(self) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{self.token}\r\n"
        ).encode()

    def _file_head(self) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

    def _end(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        fixed = len(self._token_part()) + len(self._file_head()) + len(self._end())
        return fixed + self.file_size + 2

    def pieces(self) -> Iterable[bytes]:
        head = self._file_head()
        if self.token_first:
            head = self._token_part() + head
        yield head
        block = b"x" * self.chunk_size
        remaining = self.file_size
        while remaining > 0:
            n = min(remaining, self.chunk_size)
            yield block[:n]
            remaining -= n
        tail = b"\r\n"
        if not self.token_first:
            tail += self._token_part()
        yield tail + self._end()


@dataclass
class StreamFeed:
    """A ``receive`` over a lazy iterator of chunks, counting what it gave."""

    pieces: Iterable[bytes]
    calls: int = 0
    bytes_pulled: int = 0
    _iterator: Any = None
    _pending: bytes | None = None
    _finished: bool = False

    async def __call__(self) -> Message:
        self.calls += 1
        if self._iterator is None:
            self._iterator = iter(self.pieces)
            self._pending = next(self._iterator, None)
        if self._finished or self._pending is None:
            self._finished = True
            return {"type": "http.disconnect"}
        chunk = self._pending
        self._pending = next(self._iterator, None)
        self.bytes_pulled += len(chunk)
        more = self._pending is not None
        self._finished = not more
        return {"type": "http.request", "body": chunk, "more_body": more}


# -- assertions ---------------------------------------------------------------


def problem(sent: Sent) -> dict[str, Any]:
    document = json.loads(sent.body)
    assert isinstance(document, dict)
    return document


def csrf_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "forgeproof.csrf"]


def assert_rejected(
    sent: Sent,
    stack: Stack,
    reason: Reason,
    caplog: pytest.LogCaptureFixture,
    *secrets: str,
) -> None:
    """The four things every refusal must show: status, reason code, the app
    not called, and one log record with the reason but no secret value.

    *secrets* are extra strings (tokens sent) that must appear nowhere.
    """
    assert sent.status == reason.status
    assert problem(sent)["reason"] == reason.value
    assert stack.app.calls == 0
    records = csrf_records(caplog)
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert f"reason={reason.value}" in records[0].getMessage()
    exposed = caplog.text + sent.body.decode("utf-8", "replace")
    for value in (*stack_secrets(stack), *secrets):
        assert value not in exposed


def stack_secrets(stack: Stack) -> list[str]:
    secret = stack.session.secret
    return [
        stack.session.session_id,
        store_key(stack.session.session_id),
        secret.hex(),
        base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
        repr(secret),
    ]
