"""Peak memory of CSRFMiddleware while a large multipart upload streams through.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_upload_memory.py

In process, raw ASGI: a ``receive`` hands out the body in 64 KiB messages,
built lazily, and the app drains it without keeping it. tracemalloc records
the peak of Python allocations during each request. The "app alone" row is
the same upload without forgeproof, so the difference is what the session
and CSRF middleware themselves hold. A token after the file shows the bound
on what is held while the token is searched for (the scan limit, 1 MiB).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator

from forgeproof import (
    CSRFMiddleware,
    MemorySessionStore,
    SessionMiddleware,
    SessionRecord,
    mask_secret,
    new_secret,
)
from forgeproof.sessions.base import new_session_id, store_key
from forgeproof.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "benchboundary0123456789"


def body_pieces(token: str, file_size: int, token_first: bool) -> Iterator[bytes]:
    token_part = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token}\r\n"
    ).encode()
    file_head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield (token_part + file_head) if token_first else file_head
    remaining = file_size
    while remaining > 0:
        size = min(remaining, CHUNK)
        # A fresh object per message, as a server makes: reusing one block
        # would let a middleware hold every message for free.
        yield bytes(bytearray(size))
        remaining -= size
    tail = b"\r\n" + (b"" if token_first else token_part)
    yield tail + f"--{BOUNDARY}--\r\n".encode()


class Drain:
    """The app: reads every byte, keeps only the count."""

    def __init__(self) -> None:
        self.received = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def make_receive(pieces: Iterator[bytes]) -> Receive:
    pending = next(pieces, None)

    async def receive() -> Message:
        nonlocal pending
        if pending is None:
            return {"type": "http.disconnect"}
        chunk, pending = pending, next(pieces, None)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    return receive


def measure(app: ASGIApp, headers: list[tuple[bytes, bytes]], pieces: Iterator[bytes]
            ) -> tuple[int, int, float]:  # fmt: skip
    """Run one request; return (status, peak bytes, seconds)."""
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "query_string": b"",
        "headers": [(b"host", b"bench"), *headers],
    }
    receive = make_receive(pieces)

    async def request() -> None:
        await app(scope, receive, send)

    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    asyncio.run(request())
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    return statuses[0], peak, elapsed


def main() -> None:
    store = MemorySessionStore()
    session_id, secret = new_session_id(), new_secret()
    now = time.time()
    store.save(store_key(session_id), SessionRecord({}, secret, now, now), now + 3600)
    token = mask_secret(secret)
    content_type = f"multipart/form-data; boundary={BOUNDARY}".encode()
    cookie = f"forgeproof_session={session_id}".encode()
    form_headers = [(b"content-type", content_type), (b"cookie", cookie)]

    rows = []
    for size_mb in (10, 50):
        size = size_mb * MiB
        cases = [
            ("app alone (no forgeproof)", None, form_headers, True),
            ("token first in the form", True, form_headers, True),
            ("token in X-CSRF-Token", True,
             [*form_headers, (b"x-csrf-token", token.encode())], True),
            ("token after the file (refused)", True, form_headers, False),
        ]  # fmt: skip
        for label, protected, headers, token_first in cases:
            drain = Drain()
            app: ASGIApp = drain
            if protected:
                app = SessionMiddleware(CSRFMiddleware(drain), store=store)
            pieces = body_pieces(token, size, token_first)
            status, peak, seconds = measure(app, headers, pieces)
            rows.append((size_mb, label, status, drain.received, peak, seconds))

    print(f"{'upload':>7}  {'case':<31} {'status':>6} {'app got':>12} "
          f"{'peak KiB':>9} {'seconds':>8}")  # fmt: skip
    for size_mb, label, status, received, peak, seconds in rows:
        print(
            f"{size_mb:>4} MB  {label:<31} {status:>6} {received:>12,} "
            f"{peak / 1024:>9,.0f} {seconds:>8.2f}"
        )


if __name__ == "__main__":
    main()
