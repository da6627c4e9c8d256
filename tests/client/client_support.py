"""The apps the client-side tests drive: a protected Starlette app that
serves the helper, htmx and axios, and a foreign origin that records what
reaches it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from forgeproof import CSRFMiddleware, MemorySessionStore, SessionMiddleware, rotate
from forgeproof.client import (
    XSRF_COOKIE_NAME,
    XSRF_HEADER_NAME,
    ASGIClientMiddleware,
    ClientConfig,
    WSGIClientMiddleware,
)
from forgeproof.templating import csrf_meta
from forgeproof.types import ASGIApp, Receive, Scope, Send
from support.parts import require_binary

HERE = Path(__file__).parent
CSP = "script-src 'self'; object-src 'none'; base-uri 'none'"
VENDOR = {
    "htmx.js": "htmx.org/dist/htmx.min.js",
    "axios.js": "axios/dist/axios.min.js",
}


def install_client_libraries() -> Path:
    """``npm ci`` the pinned htmx and axios into tests/client/node_modules,
    unless the lock file is already what is installed."""
    npm = require_binary("npm", "npm")
    modules = HERE / "node_modules"
    lock = (HERE / "package-lock.json").read_text()
    marker = modules / ".forgeproof-lock"
    if not (marker.exists() and marker.read_text() == lock):
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=HERE,
            check=True,
            capture_output=True,
            timeout=300,
        )
        marker.write_text(lock)
    return modules


@dataclass
class Seen:
    """What a server received, for assertions."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    handled: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.requests.clear()
        self.handled.clear()

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if (m, p) == (method, path))


@dataclass
class Site:
    """A running server: its base URL and what it has seen."""

    url: str
    seen: Seen


class Recording:
    """Outermost ASGI layer: notes every request's method, path and headers."""

    def __init__(self, app: ASGIApp, seen: Seen) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.seen.requests.append((scope["method"], scope["path"], headers))
        await self.app(scope, receive, send)


def _page(request: Request, body: str) -> HTMLResponse:
    helper = request.query_params.get("helper", "1") == "1"
    meta = request.query_params.get("meta", "1") == "1"
    head = [
        '<meta charset="utf-8">',
        str(csrf_meta(request)) if meta else "",
        '<script src="/vendor/htmx.js" defer></script>',
        '<script src="/vendor/axios.js" defer></script>',
        '<script src="/forgeproof/csrf.js" defer></script>' if helper else "",
        '<script src="/csp-probe.js" defer></script>',
    ]
    if request.query_params.get("module") == "1":
        head.append('<script type="module" src="/module-probe.js"></script>')
    foreign = request.query_params.get("foreign")
    if foreign:
        # htmx refuses other origins by default; let it try, so that only
        # the helper stands between the token and the foreign origin.
        head.append('<meta name="htmx-config" content=\'{"selfRequestsOnly": false}\'>')
        body += (
            f'<button id="hx-foreign" hx-post="{escape(foreign)}/collect"'
            ' hx-swap="none">foreign</button>'
        )
    html = (
        f"<!doctype html><html><head>{''.join(head)}</head><body>{body}</body></html>"
    )
    return HTMLResponse(html, headers={"content-security-policy": CSP})


_BUTTONS = """
<button id="hx-post" hx-post="/api/echo" hx-target="#out">post</button>
<button id="hx-delete" hx-delete="/api/echo" hx-target="#out">delete</button>
<form id="boosted" hx-boost="true" method="post" action="/form">
  <input name="text" value="hello"><button id="boost">send</button>
</form>
<div id="out"></div>
"""

# Classic scripts the pages load; no inline script anywhere, so the strict
# CSP above would block one.
_CSP_PROBE = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
_MODULE_PROBE = """
import csrf, { token } from "/forgeproof/csrf.mjs";
window.moduleApi = { sameObject: csrf === window.forgeproofCSRF, token: token() };
"""


def build_app(modules: Path, seen: Seen, *, spa: bool = False) -> ASGIApp:
    """The protected app. *spa* turns the XSRF-TOKEN convention on."""

    async def page(request: Request) -> Response:
        return _page(request, _BUTTONS)

    async def vendor(request: Request) -> Response:
        return FileResponse(
            modules / VENDOR[request.path_params["name"]],
            media_type="text/javascript",
        )

    async def probe(request: Request) -> Response:
        source = _MODULE_PROBE if "module" in request.url.path else _CSP_PROBE
        return Response(source, media_type="text/javascript")

    async def echo(request: Request) -> Response:
        seen.handled.append(f"{request.method} {request.url.path}")
        return JSONResponse({"ok": True, "method": request.method})

    async def form(request: Request) -> Response:
        seen.handled.append(f"{request.method} {request.url.path}")
        return HTMLResponse('<body><p id="boost-result">posted</p></body>')

    async def login(request: Request) -> Response:
        seen.handled.append(f"{request.method} {request.url.path}")
        rotate(request)
        request.session["user"] = "alice"
        return JSONResponse({"ok": True})

    async def canned(request: Request) -> Response:
        # Exempt from the middleware: answers what a rejection looks like.
        seen.handled.append(f"{request.method} {request.url.path}")
        reason = request.path_params["reason"]
        problem = {"status": 403, "reason": reason, "title": "Request rejected"}
        return Response(json.dumps(problem), 403, media_type="application/problem+json")

    async def redirect_out(request: Request) -> Response:
        # An open redirect on the app's own origin.
        return RedirectResponse(request.query_params["to"], 307)

    async def plain_error(request: Request) -> Response:
        seen.handled.append(f"{request.method} {request.url.path}")
        return Response("boom", 500)

    methods = ["POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route("/page", page),
            Route("/vendor/{name}", vendor),
            Route("/csp-probe.js", probe),
            Route("/module-probe.js", probe),
            Route("/api/echo", echo, methods=methods),
            Route("/form", form, methods=["POST"]),
            Route("/login", login, methods=["POST"]),
            Route("/canned/{reason}", canned, methods=methods),
            Route("/canned-500", plain_error, methods=methods),
            Route("/redirect-out", redirect_out, methods=methods),
        ],
        middleware=[
            Middleware(SessionMiddleware, store=MemorySessionStore()),
            Middleware(
                ASGIClientMiddleware,
                config=ClientConfig(xsrf_cookie=XSRF_COOKIE_NAME if spa else None),
            ),
            Middleware(
                CSRFMiddleware,
                exempt_paths=["/canned/", "/canned-500"],
                extra_header_names=[XSRF_HEADER_NAME] if spa else [],
            ),
        ],
    )
    return Recording(app, seen)


def build_foreign(seen: Seen) -> ASGIApp:
    """Another origin that lets every CORS request through, so that a token
    wrongly attached would really arrive here and be recorded."""

    async def anything(request: Request) -> Response:
        origin = request.headers.get("origin", "*")
        return Response(
            "{}",
            media_type="application/json",
            headers={
                "access-control-allow-origin": origin,
                "access-control-allow-headers": "*",
                "access-control-allow-methods": "*",
            },
        )

    app = Starlette(
        routes=[
            Route(
                "/collect",
                anything,
                methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            )
        ]
    )
    return Recording(app, seen)


def token_header_seen(seen: Seen) -> list[dict[str, Any]]:
    """Requests that carried a token header, or asked to in a preflight."""
    return [
        headers
        for _, _, headers in seen.requests
        if "x-csrf-token" in headers
        or "x-xsrf-token" in headers
        or "csrf" in headers.get("access-control-request-headers", "")
    ]


def build_stack(adapter: str, seen: Seen, *, spa: bool) -> Any:
    """A bare app behind sessions, the client middleware and CSRF, as ASGI
    or as WSGI, for the HTTP-level tests that run against both."""
    config = ClientConfig(xsrf_cookie=XSRF_COOKIE_NAME if spa else None)
    extra = [XSRF_HEADER_NAME] if spa else []

    def handle(method: str, path: str, request: Any) -> tuple[int, bytes]:
        if method == "GET":
            return 200, b"page"
        seen.handled.append(f"{method} {path}")
        if path == "/login":
            rotate(request)
        return 200, b'{"ok": true}'

    if adapter == "asgi":

        async def endpoint(request: Request) -> Response:
            status, body = handle(request.method, request.url.path, request)
            return Response(body, status)

        inner = Starlette(
            routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])]
        )
        return SessionMiddleware(
            ASGIClientMiddleware(
                CSRFMiddleware(inner, extra_header_names=extra), config=config
            ),
            store=MemorySessionStore(),
        )

    from forgeproof import wsgi

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        status, body = handle(environ["REQUEST_METHOD"], environ["PATH_INFO"], environ)
        start_response(f"{status} OK", [("Content-Type", "text/plain")])
        return [body]

    return wsgi.SessionMiddleware(
        WSGIClientMiddleware(
            wsgi.CSRFMiddleware(wsgi_app, extra_header_names=extra), config=config
        ),
        store=MemorySessionStore(),
    )
