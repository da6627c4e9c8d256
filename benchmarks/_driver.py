"""Calling ASGI and WSGI apps in-process, with as little harness as possible.

No sockets and no HTTP client: a request is a prepared scope (or environ) and
a list of body chunks, so the only per-call harness work is copying a small
dict and walking a list. That overhead is the same for the bare app and for
every protected variant, so it cancels out of the added microseconds.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

CHUNK_BYTES = 64 * 1024  # what uvicorn's h11 protocol hands over per read
HOST = "testserver"
ORIGIN = f"http://{HOST}"


@dataclass
class Request:
    """One HTTP request, framework-neutral."""

    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Response:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def cookies(self) -> dict[str, str]:
        """The cookies set by ``Set-Cookie`` headers, name to value."""
        jar = {}
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                name, _, val = pair.partition("=")
                jar[name.strip()] = val.strip().strip('"')
        return jar


def split_chunks(body: bytes) -> list[bytes]:
    """The body as the chunks a server would deliver."""
    if not body:
        return [b""]
    return [body[i : i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)]


# -- ASGI ---------------------------------------------------------------------


class ASGICall:
    """A prepared request against one ASGI app, callable many times.

    ``await call.once()`` runs the app once and returns the status; the
    response body is dropped (only the status and headers are kept).
    """

    def __init__(self, app: Any, request: Request) -> None:
        self.app = app
        self.scope_template: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.path.encode("ascii"),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in [("host", HOST), *request.headers]
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        chunks = split_chunks(request.body)
        self.messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        self.last = Response()
        #: Hand the app a fresh copy of every chunk, as a server does; set
        #: for memory measurements, so that chunks a middleware holds on to
        #: count against it. Off for timing: the copy would cost every
        #: variant alike and only add noise.
        self.fresh_chunks = False

    async def once(self) -> int:
        messages = iter(self.messages)
        disconnect = {"type": "http.disconnect"}
        start: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages, disconnect)

        if self.fresh_chunks:

            async def receive() -> dict[str, Any]:
                # A new object per chunk, made as it is asked for, and freed
                # as soon as nobody holds it: the allocation pattern of a
                # server reading from a socket.
                message = next(messages, disconnect)
                if "body" in message:
                    message = {**message, "body": bytes(memoryview(message["body"]))}
                return message

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.append(message)

        scope = dict(self.scope_template)
        scope["state"] = {}
        await self.app(scope, receive, send)
        return start[0]["status"] if start else 0

    async def full(self) -> Response:
        """Run once and keep the whole response (for set-up and checks)."""
        messages = iter(self.messages)
        response = Response()

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                response.headers = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                response.body += message.get("body", b"")

        scope = dict(self.scope_template)
        scope["state"] = {}
        await self.app(scope, receive, send)
        self.last = response
        return response


# -- WSGI ---------------------------------------------------------------------


class WSGICall:
    """A prepared request against one WSGI app, callable many times."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], request: Request, **extra: Any
    ) -> None:
        self.app = app
        self.body = request.body
        env: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": request.path,
            "QUERY_STRING": "",
            "SERVER_NAME": HOST,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": HOST,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in request.headers:
            name = key.upper().replace("-", "_")
            if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                env[name] = value
            else:
                env["HTTP_" + name] = value
        if request.body:
            env["CONTENT_LENGTH"] = str(len(request.body))
        env.update(extra)
        self.environ_template = env

    def once(self) -> int:
        status: list[str] = []

        def start_response(
            s: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            status.append(s)
            return _discard

        environ = dict(self.environ_template)
        # BytesIO shares the bytes object until written to: no 50 MB copy.
        environ["wsgi.input"] = io.BytesIO(self.body)
        result = self.app(environ, start_response)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return int(status[0][:3]) if status else 0

    def full(self) -> Response:
        response = Response()

        def start_response(
            s: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            response.status = int(s[:3])
            response.headers = list(headers)
            return _discard

        environ = dict(self.environ_template)
        environ["wsgi.input"] = io.BytesIO(self.body)
        result = self.app(environ, start_response)
        try:
            response.body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return response


def _discard(data: bytes) -> None:
    pass
