"""The notes app: a Starlette app protected by forgeproof, set up the way a
user of the library would set up their own.

What to copy from here:

- the middleware stack, sessions outside CSRF (:func:`create_app`);
- ``{{ csrf_meta(request) }}`` and ``{{ csrf_input(request) }}`` in the
  templates, and the ``X-CSRF-Token`` header sent by ``static/app.js``;
- ``forgeproof.rotate(request)`` at login and ``request.session.clear()``
  at logout;
- routes that authenticate only by ``Authorization: Bearer`` listed as
  exempt: a browser never attaches that header on its own, so a forged
  request cannot carry it, and they ignore the session cookie entirely.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import forgeproof
from forgeproof.types import ASGIApp, Message, Receive, Scope, Send

from .db import MAX_NOTE_CHARS, DemoDB, User

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "MAX_ATTACHMENT_BYTES",
    "create_app",
    "render_rejection",
]

HERE = Path(__file__).parent
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
# Room for the text, the token and the multipart boundaries beside the file.
_MAX_BODY_BYTES = MAX_ATTACHMENT_BYTES + 256 * 1024

# No inline script or style, no handler attributes, no framing: an injected
# <script> or onclick= does not run, and no other page can frame ours to
# trick a click (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    # Our own requests keep their full Referer and Origin; other sites learn
    # nothing of our URLs.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
)

# Bearer-only routes: no cookie authenticates there, so there is nothing
# for a forged request to borrow. The token endpoint sets no cookie and its
# answer cannot be read by another site.
_STATELESS_PATHS = ("/api/auth/token", "/api/v1/")


_MAX_NOTE_ID = 2**63 - 1


def render_rejection(
    rejection: forgeproof.Rejection, facts: forgeproof.RequestFacts
) -> forgeproof.RejectionResponse:
    """problem+json (RFC 9457) for the API and JSON clients, a page for people."""
    accept = (facts.accept or "").lower()
    if facts.path.startswith("/api/") or "application/json" in accept:
        return forgeproof.render_problem_json(rejection, facts)
    return forgeproof.render_html(rejection, facts)


def create_app(
    db: DemoDB,
    store: forgeproof.AsyncSessionStore,
    *,
    trusted_origins: Iterable[str] = (),
    unprotected: bool = False,
) -> Starlette:
    """The notes app.

    :param unprotected: leave :class:`forgeproof.CSRFMiddleware` out, and
        nothing else, to show that the attacks are real. Sessions stay.
    """
    middleware = [
        Middleware(_PageHeaders),
        Middleware(_BodyLimit, max_bytes=_MAX_BODY_BYTES),
        Middleware(forgeproof.SessionMiddleware, store=store),
    ]
    if not unprotected:
        middleware.append(
            Middleware(
                forgeproof.CSRFMiddleware,
                trusted_origins=trusted_origins,
                exempt_paths=_STATELESS_PATHS,
                on_reject=render_rejection,
            )
        )

    views = _Views(db, _templates(unprotected=unprotected))
    routes = [
        Route("/", views.dashboard, methods=["GET"]),
        Route("/login", views.login_page, methods=["GET"]),
        Route("/login", views.login, methods=["POST"]),
        Route("/logout", views.logout, methods=["POST"]),
        Route("/notes", views.add_note, methods=["POST"]),
        Route("/api/notes", views.api_notes, methods=["GET", "POST"]),
        Route(
            "/api/notes/{note_id:int}",
            views.api_note,
            methods=["PUT", "PATCH", "DELETE"],
        ),
        Route("/api/auth/token", views.issue_access_token, methods=["POST"]),
        Route("/api/v1/notes", views.bearer_notes, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, middleware=middleware)


def _templates(*, unprotected: bool) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
    )
    env.globals.update(forgeproof.jinja_globals())
    env.globals["unprotected"] = unprotected
    return Jinja2Templates(env=env)


class _Views:
    """The route handlers, sharing the database and the templates."""

    def __init__(self, db: DemoDB, templates: Jinja2Templates) -> None:
        self.db = db
        self.templates = templates

    # Pages and forms.

    async def login_page(self, request: Request) -> Response:
        # Rendering the token creates the anonymous session the login form
        # is checked against, so another site cannot log a victim in as
        # the attacker (login CSRF).
        return self._page(request, "login.html")

    async def login(self, request: Request) -> Response:
        form = await request.form()
        username, password = form.get("username"), form.get("password")
        user = None
        if isinstance(username, str) and isinstance(password, str):
            user = await self.db.authenticate(username, password)
        if user is None:
            return self._page(
                request, "login.html", error="Wrong user name or password.", status=401
            )

        # A new session id (an id planted before login is worthless) and a
        # new secret (tokens issued before login stop working).
        forgeproof.rotate(request)
        request.session["user"] = {"id": user.id, "name": user.username}
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        # Deletes the session on the server: the old cookie and every token
        # issued under it stop working.
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def dashboard(self, request: Request) -> Response:
        user = _session_user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)

        notes = await self.db.notes_of(user.id)
        return self._page(request, "dashboard.html", user=user, notes=notes)

    async def add_note(self, request: Request) -> Response:
        user = _session_user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)

        async with request.form(max_files=1, max_fields=10) as form:
            text = _note_text(form.get("text"))
            attachment = form.get("attachment")
            name, size = None, None
            if isinstance(attachment, UploadFile) and attachment.filename:
                name, size = attachment.filename, attachment.size
        if text is None:
            return Response("A note needs a text.", status_code=400)
        if size is not None and size > MAX_ATTACHMENT_BYTES:
            return Response("The attachment is larger than 64 MiB.", status_code=413)

        await self.db.add_note(user.id, text, name, size)
        return RedirectResponse("/", status_code=303)

    # The JSON API of the browser session.

    async def api_notes(self, request: Request) -> Response:
        user = _session_user(request)
        if user is None:
            return _problem(401, "Not logged in", "Log in at /login first.")

        return await self._list_or_create(request, user)

    async def api_note(self, request: Request) -> Response:
        user = _session_user(request)
        if user is None:
            return _problem(401, "Not logged in", "Log in at /login first.")

        note_id: int = request.path_params["note_id"]
        if note_id > _MAX_NOTE_ID:
            # SQLite ids are 64-bit: a longer number names no note, and
            # must not reach sqlite3, which raises OverflowError on it.
            return _problem(404, "No such note", "You have no note with this id.")

        if request.method == "DELETE":
            if not await self.db.delete_note(user.id, note_id):
                return _problem(404, "No such note", "You have no note with this id.")

            return Response(status_code=204)

        text = _note_text(await _json_member(request, "text"))
        if text is None:
            return _problem(400, "Bad note", "Send a JSON object with a text.")

        note = await self.db.update_note(user.id, note_id, text)
        if note is None:
            return _problem(404, "No such note", "You have no note with this id.")

        return JSONResponse(note.as_json())

    # The stateless API: bearer tokens, no cookies, no CSRF tokens.

    async def issue_access_token(self, request: Request) -> Response:
        username = await _json_member(request, "username")
        password = await _json_member(request, "password")
        user = None
        if isinstance(username, str) and isinstance(password, str):
            user = await self.db.authenticate(username, password)
        if user is None:
            return _problem(401, "Bad credentials", "Wrong user name or password.")

        token = await self.db.issue_access_token(user)
        # RFC 6749 §5.1: responses carrying a token are never cached.
        return JSONResponse(
            {"access_token": token, "token_type": "bearer"},
            headers={"Cache-Control": "no-store"},
        )

    async def bearer_notes(self, request: Request) -> Response:
        user = await self._bearer_user(request)
        if user is None:
            return _problem(
                401,
                "Not authenticated",
                "Send Authorization: Bearer <access_token> from /api/auth/token.",
                headers={"WWW-Authenticate": "Bearer"},
            )

        return await self._list_or_create(request, user)

    # Helpers.

    async def _list_or_create(self, request: Request, user: User) -> Response:
        if request.method == "GET":
            notes = await self.db.notes_of(user.id)
            return JSONResponse({"notes": [note.as_json() for note in notes]})

        text = _note_text(await _json_member(request, "text"))
        if text is None:
            return _problem(400, "Bad note", "Send a JSON object with a text.")

        note = await self.db.add_note(user.id, text)
        return JSONResponse(note.as_json(), status_code=201)

    async def _bearer_user(self, request: Request) -> User | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None

        return await self.db.user_of_access_token(token.strip())

    def _page(
        self, request: Request, name: str, *, status: int = 200, **context: Any
    ) -> Response:
        return self.templates.TemplateResponse(
            request, name, context, status_code=status
        )


def _session_user(request: Request) -> User | None:
    value = request.session.get("user")
    if not isinstance(value, dict):
        return None
    return User(int(value["id"]), str(value["name"]))


def _note_text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_NOTE_CHARS]


async def _json_member(request: Request, name: str) -> object:
    """A top-level member of a JSON object body, or ``None``.

    Like many real APIs, this reads JSON whatever the Content-Type says.
    That leniency is what the attacker site's ``text/plain`` form relies
    on; forgeproof refuses such a request whatever its body is.
    """
    try:
        document = json.loads(await request.body())
    except (ValueError, RecursionError):
        return None

    return document.get(name) if isinstance(document, dict) else None


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"status": status, "title": title, "detail": detail},
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


class _PageHeaders:
    """Adds the security headers to every response that lacks them.

    forgeproof's own rejection pages carry a stricter policy of their own,
    which is kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend(h for h in _PAGE_HEADERS if h[0] not in present)
                if b"cache-control" not in present and not _is_static(scope):
                    # Pages carry tokens: no shared cache may keep them.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_static(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/static/")


class _BodyTooLargeError(Exception):
    pass


class _BodyLimit:
    """Refuses request bodies over *max_bytes* with 413, declared or not."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await _send_413(send)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLargeError
            return message

        async def noted_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, noted_send)
        except _BodyTooLargeError:
            if not started:
                await _send_413(send)


async def _send_413(send: Send) -> None:
    body = b"Request body too large.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
