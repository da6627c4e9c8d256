"""A small Starlette app behind forgeproof, for the in-process and the real
HTTP tests of the core: a form page, notes, uploads, login and logout."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from forgeproof import (
    CSRFMiddleware,
    MemorySessionStore,
    SessionMiddleware,
    csrf_input,
    csrf_meta,
    rotate,
)

TOKEN_IN_PAGE = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]+)"')


@dataclass
class AppState:
    """What the app did, for the tests to check."""

    notes: list[str] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0


def token_in(page: str) -> str:
    match = TOKEN_IN_PAGE.search(page)
    assert match is not None, "no token in the page"
    return match[1]


def build_app(
    store: MemorySessionStore | None = None, **csrf_options: Any
) -> tuple[Starlette, AppState]:
    state = AppState()

    async def form_page(request: Request) -> Response:
        user = request.session.get("user", "anonymous")
        return HTMLResponse(
            f"<html><head>{csrf_meta(request)}</head><body><p>{user}</p>"
            f'<form method="post" action="/notes">{csrf_input(request)}'
            '<input name="note"></form></body></html>'
        )

    async def add_note(request: Request) -> Response:
        state.calls += 1
        form = await request.form()
        state.notes.append(str(form["note"]))
        return PlainTextResponse("saved")

    async def upload(request: Request) -> Response:
        # Drains the raw body without keeping it, as a streaming app would.
        state.calls += 1
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        result = {"size": size, "sha256": digest.hexdigest()}
        state.uploads.append(result)
        return JSONResponse(result)

    async def form_upload(request: Request) -> Response:
        # Starlette's own multipart parser must still see every byte.
        state.calls += 1
        async with request.form() as form:
            upload = form["upload"]
            assert not isinstance(upload, str)
            content = await upload.read()
        result = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        state.uploads.append(result)
        return JSONResponse(result)

    async def login(request: Request) -> Response:
        state.calls += 1
        form = await request.form()
        rotate(request)
        request.session["user"] = str(form["user"])
        return PlainTextResponse("logged in")

    async def logout(request: Request) -> Response:
        state.calls += 1
        request.session.clear()
        return PlainTextResponse("logged out")

    async def api(request: Request) -> Response:
        state.calls += 1
        return JSONResponse({"ok": True})

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"echo {text}")
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/", form_page),
            Route("/notes", add_note, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/form-upload", form_upload, methods=["POST"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/api", api, methods=["POST", "PUT", "DELETE"]),
            Route("/hooks/{name}", api, methods=["POST"]),
            WebSocketRoute("/ws", echo),
        ],
        middleware=[
            Middleware(SessionMiddleware, store=store or MemorySessionStore()),
            Middleware(CSRFMiddleware, **csrf_options),
        ],
    )
    return app, state
