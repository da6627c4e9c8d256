"""The same tiny Starlette app, bare and behind each CSRF middleware.

``GET /form`` renders a page with a fresh token (as a page holding a form
does); ``POST /submit`` reads the whole body as raw chunks and discards it,
as an upload handler streaming to disk would, and answers ``ok``. The app
never parses a form, so any parsing cost belongs to the middleware.

Each factory takes no argument, so uvicorn can serve it with ``--factory``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

PEER_SECRET = "benchmark-signing-secret-not-for-production"  # noqa: S105


def _starlette(
    token_of: Callable[[Request], str], middleware: list[Middleware]
) -> Starlette:
    async def form(request: Request) -> Response:
        token = token_of(request)
        return HTMLResponse(
            f'<form method="post"><input type="hidden" name="t" value="{token}"></form>'
        )

    async def submit(request: Request) -> Response:
        async for _ in request.stream():
            pass
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/form", form, methods=["GET"]),
            Route("/submit", submit, methods=["POST", "PUT", "PATCH", "DELETE"]),
        ],
        middleware=middleware,
    )


def starlette_bare() -> Starlette:
    return _starlette(lambda request: "", [])


def starlette_forgeproof() -> Starlette:
    from forgeproof import (
        CSRFMiddleware,
        MemorySessionStore,
        SessionMiddleware,
        csrf_token,
    )

    return _starlette(
        csrf_token,
        [
            Middleware(SessionMiddleware, store=MemorySessionStore()),
            Middleware(CSRFMiddleware),
        ],
    )


def starlette_forgeproof_sessions() -> Starlette:
    """forgeproof's session layer alone, no CSRF check: splits forgeproof's
    cost into what the server-side session costs and what the check adds."""
    from forgeproof import MemorySessionStore, SessionMiddleware, csrf_token

    return _starlette(
        csrf_token, [Middleware(SessionMiddleware, store=MemorySessionStore())]
    )


def starlette_csrf() -> Starlette:
    from starlette_csrf import CSRFMiddleware as PeerCSRF

    # Double submit: the token is the cookie itself, read by the page's
    # script; the middleware sets it on the first response.
    return _starlette(lambda request: "", [Middleware(PeerCSRF, secret=PEER_SECRET)])


def starlette_asgi_csrf() -> Starlette:
    from asgi_csrf import asgi_csrf

    def token_of(request: Request) -> str:
        get_token: Any = request.scope["csrftoken"]
        return str(get_token())

    return _starlette(token_of, [Middleware(asgi_csrf, signing_secret=PEER_SECRET)])
