"""The same small app twice, raw ASGI and raw WSGI, each behind forgeproof's
session and CSRF middleware (and the client middleware, SPA cookie on).

Routes:

- ``GET /page``: a token in the body (creates the session);
- ``GET /whoami``: the session's ``user`` or ``anon``;
- ``POST /login``: rotates the session and stores ``user``;
- ``POST /echo``: reads the whole body (WSGI: by ``readline`` when the query
  says ``?lines``) and records it;
- ``GET /public.js``: a response the app marks ``public`` for caches;
- ``GET /public-visit``: the same, after writing to the session.

``client=False`` leaves the client middleware (and its cookie) out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from adversarial2.adv2_support import Recorder
from forgeproof import asgi, wsgi
from forgeproof.client import (
    XSRF_COOKIE_NAME,
    XSRF_HEADER_NAME,
    ASGIClientMiddleware,
    ClientConfig,
    WSGIClientMiddleware,
)
from forgeproof.sessions.memory import MemorySessionStore
from forgeproof.templating import csrf_token, rotate, session_of
from forgeproof.types import ASGIApp, Receive, Scope, Send

CLIENT = ClientConfig(xsrf_cookie=XSRF_COOKIE_NAME)


def _answer(
    recorder: Recorder, method: str, path: str, query: str, carrier: Any, body: bytes
) -> tuple[str, list[tuple[str, str]], bytes]:
    session = session_of(carrier)
    if path == "/page":
        return "200 OK", [("content-type", "text/plain")], csrf_token(carrier).encode()
    if path == "/whoami":
        return "200 OK", [], str(session.get("user", "anon")).encode()
    if path == "/public.js":
        headers = [
            ("content-type", "text/javascript"),
            ("cache-control", "public, max-age=600"),
        ]
        return "200 OK", headers, b"console.log(1)"
    if path == "/public-visit":
        # Writes the session, issues no token, and says caches may keep it.
        session["visited"] = True
        return "200 OK", [("cache-control", "public, max-age=600")], b"hello"
    if method == "POST" and path == "/login":
        recorder.hit("login", body)
        rotate(carrier)
        session["user"] = "alice"
        return "200 OK", [], b"in"
    recorder.hit(f"{method} {path}", body)
    return "200 OK", [], b"ran"


def wsgi_app(
    recorder: Recorder, store: MemorySessionStore, *, client: bool = True
) -> Any:
    def app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        if "lines" in environ.get("QUERY_STRING", ""):
            body = b"".join(iter(stream.readline, b""))
        else:
            body = stream.read()
        status, headers, payload = _answer(
            recorder,
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ,
            body,
        )
        start_response(status, headers)
        return [payload]

    checked = wsgi.CSRFMiddleware(app, extra_header_names=[XSRF_HEADER_NAME])
    if not client:
        return wsgi.SessionMiddleware(checked, store=store)
    return wsgi.SessionMiddleware(
        WSGIClientMiddleware(checked, config=CLIENT), store=store
    )


def asgi_app(
    recorder: Recorder, store: MemorySessionStore, *, client: bool = True
) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, headers, payload = _answer(
            recorder,
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            scope,
            body,
        )
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split()[0]),
                "headers": [
                    *((k.encode(), v.encode()) for k, v in headers),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    checked = asgi.CSRFMiddleware(app, extra_header_names=[XSRF_HEADER_NAME])
    if not client:
        return asgi.SessionMiddleware(checked, store=store)
    return asgi.SessionMiddleware(
        ASGIClientMiddleware(checked, config=CLIENT), store=store
    )
