"""Talking to a served app like a browser would, with every header spelled
out: no cookie jar, so each test says exactly which cookies it sends."""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import httpx

from e2e.e2e_apps import build_flask_app, build_starlette_app
from support.servers import serve_asgi, serve_wsgi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COOKIE = "forgeproof_session"

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass(frozen=True)
class Target:
    """A served app: its name, base URL, and a quirk of its HTTP server."""

    name: str
    url: str
    #: waitress answers 400 to a lower-case method itself, before any app.
    server_refuses_lowercase_methods: bool = False

    @property
    def port(self) -> int:
        return httpx.URL(self.url).port or 80


def load_example(filename: str) -> ModuleType:
    """Import ``examples/<filename>`` afresh, with sessions in memory."""
    name = f"forgeproof_example_{filename.removesuffix('.py')}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / filename)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def serve_target(name: str) -> Iterator[Target]:
    """Serve the app called *name* on a real server on 127.0.0.1."""
    if name == "starlette (uvicorn)":
        with serve_asgi(build_starlette_app()) as url:
            yield Target(name, url)
    elif name == "flask (waitress)":
        with serve_wsgi(build_flask_app()) as url:
            yield Target(name, url, server_refuses_lowercase_methods=True)
    elif name.startswith("example "):
        filename = name.removeprefix("example ").partition(" ")[0]
        module = load_example(filename)
        if filename == "flask_app.py":
            with serve_wsgi(module.app) as url:
                yield Target(name, url, server_refuses_lowercase_methods=True)
        else:
            with serve_asgi(module.app) as url:
                yield Target(name, url)
    else:
        raise ValueError(name)


def http_client(base_url: str) -> httpx.Client:
    """An httpx client that never stores or sends cookies by itself."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    # No keep-alive: each request has its own connection, so no connection
    # is left open on the server when a test's server stops.
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(
        base_url=base_url, cookies=no_cookies, limits=limits, timeout=60
    )


def set_session_cookie(response: httpx.Response) -> str | None:
    """The session id a response sets: ``""`` if it deletes the cookie,
    ``None`` if it does not touch it."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            value = rest.partition(";")[0]
            return "" if "Max-Age=0" in header else value
    return None


@dataclass
class Visitor:
    """One browser: its session cookie and the last token its page showed."""

    client: httpx.Client
    session_id: str = ""
    token: str = ""
    #: Every session id and token this visitor ever held, for log checks.
    seen: list[str] = field(default_factory=list)

    def cookie(self) -> list[tuple[str, str]]:
        return [("Cookie", f"{COOKIE}={self.session_id}")] if self.session_id else []

    def load_page(self) -> str:
        """GET / and keep the cookie and token it gives; return the token."""
        response = self.client.get("/", headers=self.cookie())
        assert response.status_code == 200
        self.note_cookie(response)
        match = _META.search(response.text)
        assert match is not None
        self.token = match.group(1)
        self.seen.append(self.token)
        return self.token

    def note_cookie(self, response: httpx.Response) -> None:
        new = set_session_cookie(response)
        if new is not None:
            self.session_id = new
            self.seen.append(new)


@dataclass
class Req:
    """One request, written out in full; ``ok`` is its status when accepted."""

    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    content: bytes = b""
    text: str = ""
    ok: int = 303

    def send(self, client: httpx.Client) -> httpx.Response:
        request = client.build_request(
            self.method, self.path, headers=self.headers, content=self.content
        )
        # httpx upper-cases methods; put back exactly what the row asked for.
        request.method = self.method
        return client.send(request)


def form_body(fields: list[tuple[str, str]]) -> tuple[str, bytes]:
    return "application/x-www-form-urlencoded", urlencode(fields).encode()


def multipart_body(parts: list[tuple[str, bytes, str | None]]) -> tuple[str, bytes]:
    """Encode ``(name, value, filename)`` parts in the order given."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename is not None:
            head += "Content-Type: application/octet-stream\r\n"
        chunks += [head.encode(), b"\r\n", value, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def notes(client: httpx.Client) -> list[str]:
    response = client.get("/api/notes")
    assert response.status_code == 200
    result: list[str] = response.json()["notes"]
    return result


def reason_of(response: httpx.Response) -> str | None:
    if response.headers.get("content-type") != "application/problem+json":
        return None
    reason: Any = response.json().get("reason")
    return str(reason)


Build = Callable[["Scene"], Req]


@dataclass
class Scene:
    """What a row may use: the target, a logged-in-looking visitor with a
    page loaded, a second visitor (another session), and fresh note text."""

    target: Target
    client: httpx.Client
    victim: Visitor
    other: Visitor

    @classmethod
    def start(cls, target: Target, client: httpx.Client) -> Scene:
        victim, other = Visitor(client), Visitor(client)
        victim.load_page()
        other.load_page()
        return cls(target, client, victim, other)

    @property
    def origin(self) -> str:
        return self.target.url

    @property
    def sibling_origin(self) -> str:
        return f"http://127.0.0.1:{self.target.port + 1}"

    def fresh_text(self) -> str:
        return f"note-{uuid.uuid4().hex}"

    def secrets(self) -> list[str]:
        """Every token and session id this scene has seen."""
        return [value for value in self.victim.seen + self.other.seen if value]
