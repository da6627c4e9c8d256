"""Shared tools of the third adversarial round (deployment features): small
recording apps for both adapters, real servers that read no forwarding
headers themselves, and a raw HTTP client that sends headers exactly as
written (repeated, in any order, any ``Host``).

Every app records the POSTs that reached it, so an attack test proves that
nothing ran instead of only reading a status code.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import ssl
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from forgeproof import MemorySessionStore, Session, SessionConfig
from forgeproof import asgi as fp_asgi
from forgeproof import wsgi as fp_wsgi
from support.servers import serve_asgi, serve_wsgi

Headers = Sequence[tuple[str, str]]

_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Recorder:
    """The POSTs that reached the app: (path, body)."""

    hits: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, path: str, body: bytes) -> None:
        with self.lock:
            self.hits.append((path, body))

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()

    @property
    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.hits]


def _page(token: str) -> bytes:
    return (
        "<!doctype html><form method=post action=/notes>"
        f'<input type="hidden" name="csrf_token" value="{token}">'
        "<input name=text></form>"
    ).encode()


def _answer(body: bytes) -> bytes:
    return json.dumps(
        {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    ).encode()


def asgi_stack(
    recorder: Recorder,
    *,
    page_headers: Headers = (),
    config: SessionConfig | None = None,
    **csrf: Any,
) -> Any:
    """GET /page issues a token (with *page_headers* added by the app);
    any POST reads its whole body, records it and answers its SHA-256."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        session: Session = scope["session"]
        if scope["method"] in ("GET", "HEAD"):
            token = session.new_csrf_token() if scope["path"] == "/page" else ""
            headers = [(b"content-type", b"text/html; charset=utf-8")]
            headers += [(k.encode(), v.encode()) for k, v in page_headers]
            await send(
                {"type": "http.response.start", "status": 200, "headers": headers}
            )
            await send({"type": "http.response.body", "body": _page(token)})
            return

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        recorder.hit(scope["path"], body)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _answer(body)})

    return fp_asgi.SessionMiddleware(
        fp_asgi.CSRFMiddleware(app, **csrf),
        store=MemorySessionStore(),
        config=config,
    )


def wsgi_stack(
    recorder: Recorder,
    *,
    page_headers: Headers = (),
    config: SessionConfig | None = None,
    **csrf: Any,
) -> Any:
    """The WSGI twin of :func:`asgi_stack`."""

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        session: Session = environ[fp_wsgi.ENVIRON_KEY]
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            page = environ.get("PATH_INFO") == "/page"
            token = session.new_csrf_token() if page else ""
            headers = [("Content-Type", "text/html; charset=utf-8"), *page_headers]
            start_response("200 OK", headers)
            return [_page(token)]

        body = environ["wsgi.input"].read()
        recorder.hit(environ.get("PATH_INFO", ""), body)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [_answer(body)]

    return fp_wsgi.SessionMiddleware(
        fp_wsgi.CSRFMiddleware(app, **csrf), store=MemorySessionStore(), config=config
    )


@contextmanager
def serve_asgi_direct(app: Any) -> Iterator[str]:
    """uvicorn on 127.0.0.1 that does not read ``X-Forwarded-*`` itself
    (its default trusts them from 127.0.0.1, which is where our client is),
    so that only forgeproof decides what forwarding headers mean."""
    with serve_asgi(app, proxy_headers=False) as base:
        yield base


@contextmanager
def serve_wsgi_direct(app: Any) -> Iterator[str]:
    """waitress on 127.0.0.1 that passes forwarding headers to the app as
    sent (by default it deletes them unless told which proxy to trust)."""
    with serve_wsgi(app, clear_untrusted_proxy_headers=False) as base:
        yield base


@contextmanager
def serve(adapter: str, recorder: Recorder, **options: Any) -> Iterator[str]:
    """The recording app behind *adapter* ("asgi" or "wsgi"), served."""
    if adapter == "asgi":
        with serve_asgi_direct(asgi_stack(recorder, **options)) as base:
            yield base
    else:
        with serve_wsgi_direct(wsgi_stack(recorder, **options)) as base:
            yield base


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def request(
    base: str,
    method: str,
    path: str,
    headers: Headers = (),
    body: bytes = b"",
    *,
    tls: ssl.SSLContext | None = None,
) -> Response:
    """One request with exactly *headers* (a ``Host`` among them replaces
    the default one), on a fresh connection."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, context=tls, timeout=30)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if not any(k.lower() == "host" for k, _ in headers):
            conn.putheader("Host", parts.netloc)
        for name, value in headers:
            conn.putheader(name, value)
        if body or method not in ("GET", "HEAD"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return Response(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


@dataclass
class Visitor:
    """A browser's session with the app: its cookie and a token, kept by
    hand so that exactly one session cookie is ever sent."""

    base: str
    tls: ssl.SSLContext | None = None
    cookie: str = ""
    token: str = ""

    def open_page(self, headers: Headers = ()) -> Response:
        response = request(
            self.base, "GET", "/page", self._with_cookie(headers), tls=self.tls
        )
        for value in response.header("set-cookie"):
            self.cookie = value.split(";", 1)[0]
        match = _HIDDEN.search(response.body.decode())
        assert match is not None, "no token on the page"
        self.token = match.group(1)
        return response

    def post(
        self,
        headers: Headers = (),
        *,
        path: str = "/notes",
        body: bytes = b"text=hi",
        token_header: bool = True,
    ) -> Response:
        sent = list(headers)
        if not any(k.lower() == "content-type" for k, _ in sent):
            sent.append(("Content-Type", "application/x-www-form-urlencoded"))
        sent.append(("Accept", "application/json"))
        if token_header:
            sent.append(("X-CSRF-Token", self.token))
        return request(
            self.base, "POST", path, self._with_cookie(sent), body, tls=self.tls
        )

    def _with_cookie(self, headers: Headers) -> list[tuple[str, str]]:
        sent = list(headers)
        if self.cookie:
            sent.append(("Cookie", self.cookie))
        return sent

    @property
    def session_id(self) -> str:
        return self.cookie.partition("=")[2]
