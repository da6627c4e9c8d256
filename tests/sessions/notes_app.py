"""A small Starlette app behind SessionMiddleware + CSRFMiddleware, for the
store-outage tests, and a store that fails on command."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from forgeproof import csrf_token, rotate
from forgeproof.asgi import CSRFMiddleware, SessionMiddleware
from forgeproof.errors import StoreUnavailableError
from forgeproof.sessions import MemorySessionStore
from forgeproof.sessions.base import AsyncSessionStore, SessionChanges, SessionRecord


class NotesApp:
    """The app and what it did: ``notes`` grows only when a POST got through."""

    def __init__(self, store: AsyncSessionStore) -> None:
        self.notes: list[str] = []
        self.calls = 0
        self.app = Starlette(
            routes=[
                Route("/ping", self.ping),
                Route("/form", self.form),
                Route("/login", self.login, methods=["POST"]),
                Route("/notes", self.add_note, methods=["POST"]),
                Route("/notes", self.list_notes, methods=["GET"]),
            ],
            middleware=[
                Middleware(SessionMiddleware, store=store),
                Middleware(CSRFMiddleware),
            ],
        )

    async def ping(self, request: Request) -> Response:
        self.calls += 1
        return PlainTextResponse("pong")

    async def form(self, request: Request) -> Response:
        self.calls += 1
        return JSONResponse({"token": csrf_token(request)})

    async def login(self, request: Request) -> Response:
        self.calls += 1
        rotate(request)
        request.session["user"] = "alice"
        return JSONResponse({"token": csrf_token(request)})

    async def add_note(self, request: Request) -> Response:
        self.calls += 1
        self.notes.append((await request.json())["text"])
        return JSONResponse({"notes": self.notes}, status_code=201)

    async def list_notes(self, request: Request) -> Response:
        self.calls += 1
        return JSONResponse({"notes": self.notes})


class FlakyStore:
    """A memory store that fails while ``down``, or only on writes."""

    def __init__(self) -> None:
        self.inner = MemorySessionStore()
        self.down = False
        self.writes_fail = False

    async def aload(self, key: str) -> SessionRecord | None:
        self._fail_if(self.down)
        return await self.inner.aload(key)

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        self._fail_if(self.down or self.writes_fail)
        await self.inner.asave(
            key, record, expires_at, replaces=replaces, changes=changes
        )

    async def adelete(self, key: str) -> None:
        self._fail_if(self.down or self.writes_fail)
        await self.inner.adelete(key)

    def _fail_if(self, failing: bool) -> None:
        if failing:
            try:
                raise ConnectionRefusedError("connection refused")
            except ConnectionRefusedError as exc:
                raise StoreUnavailableError("flaky") from exc


def json_headers(token: str | None = None, **extra: Any) -> dict[str, str]:
    headers = {"accept": "application/json", **extra}
    if token is not None:
        headers["x-csrf-token"] = token
    return headers
