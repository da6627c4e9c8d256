"""The Starlette app that the deployment table puts behind nginx.

- ``GET /``: a page with a form and ``<meta name="csrf-token">``
- ``POST /notes`` (form ``text``): saves the note, answers with the size
  and SHA-256 of the whole body the handler received
- ``POST /api/notes`` (JSON ``text``): the same, for fetches

Every handler call is recorded in :attr:`DeployedApp.calls`, so a test
can tell that a refused request never reached the app.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from forgeproof import MemorySessionStore, SessionConfig, csrf_input, csrf_meta
from forgeproof.asgi import CSRFMiddleware, SessionMiddleware
from forgeproof.decisions import Decision


@dataclass
class DeployedApp:
    app: Starlette
    calls: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def build_app(**csrf_options: Any) -> DeployedApp:
    """The app, with these options for forgeproof's CSRFMiddleware."""
    deployed = DeployedApp(Starlette())

    async def index(request: Request) -> Response:
        return HTMLResponse(
            f"<!doctype html><html><head>{csrf_meta(request)}</head><body>"
            f'<form method="post" action="/notes">{csrf_input(request)}'
            '<input name="text"></form></body></html>'
        )

    async def notes(request: Request) -> Response:
        body = await request.body()
        deployed.calls.append("notes")
        return JSONResponse(
            {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        )

    async def api_notes(request: Request) -> Response:
        payload = await request.json()
        deployed.calls.append("api_notes")
        return JSONResponse({"saved": payload.get("text")})

    deployed.app = Starlette(
        routes=[
            Route("/", index),
            Route("/notes", notes, methods=["POST"]),
            Route("/api/notes", api_notes, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                store=MemorySessionStore(),
                # Behind a TLS proxy the app server sees http: say https.
                config=SessionConfig(secure=True),
            ),
            Middleware(
                CSRFMiddleware, on_decision=deployed.decisions.append, **csrf_options
            ),
        ],
    )
    return deployed
