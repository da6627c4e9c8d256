"""The apps the attack table runs against, one per adapter.

Both serve the same routes as the example apps (``examples/``), so one
table drives all of them, plus two routes that report what the handler
received, for the body-fidelity tests:

- ``GET /``: page with ``<meta name="csrf-token">``; starts a session
- ``POST /login`` (``username``), ``POST /logout``: rotate / clear
- ``POST /notes`` (form ``text``): 303; ``GET|POST /api/notes`` (JSON)
- ``POST /webhook``: exempt route
- ``POST /upload``: every form field, and each file's size and SHA-256
- ``POST /echo``: the raw body's length and SHA-256
"""

from __future__ import annotations

import hashlib
from typing import Any

import flask
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from werkzeug import Response as WerkzeugResponse

from forgeproof import MemorySessionStore, rotate
from forgeproof.integrations import flask as fp_flask
from forgeproof.integrations import starlette as fp_starlette

PAGE = """<!doctype html>
<html><head>{{ csrf_meta() }}</head><body>
<form method="post" action="/notes">{{ csrf_input() }}<input name="text"></form>
</body></html>"""


def digest(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def build_starlette_app() -> Starlette:
    notes: list[str] = []
    env = Environment(loader=DictLoader({"index.html": PAGE}), autoescape=True)
    templates = fp_starlette.setup_templates(Jinja2Templates(env=env))

    async def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html", {})

    async def login(request: Request) -> Response:
        async with request.form() as form:
            rotate(request)
            request.session["user"] = str(form["username"])
        return RedirectResponse("/", 303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", 303)

    async def add_note(request: Request) -> Response:
        async with request.form() as form:
            notes.append(str(form["text"]))
        return RedirectResponse("/", 303)

    async def list_notes(request: Request) -> Response:
        return JSONResponse({"notes": notes})

    async def add_note_json(request: Request) -> Response:
        notes.append((await request.json())["text"])
        return JSONResponse({"text": notes[-1]}, 201)

    @fp_starlette.exempt
    async def webhook(request: Request) -> Response:
        return JSONResponse({"received": len(await request.body())})

    async def upload(request: Request) -> Response:
        fields: dict[str, list[str]] = {}
        files: dict[str, dict[str, Any]] = {}
        async with request.form(max_part_size=4 * 1024 * 1024) as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[name] = digest(await value.read())
                else:
                    fields.setdefault(name, []).append(value)
        return JSONResponse({"fields": fields, "files": files})

    async def echo(request: Request) -> Response:
        return JSONResponse(digest(await request.body()))

    return Starlette(
        routes=[
            Route("/", index),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/notes", add_note, methods=["POST"]),
            Route("/api/notes", list_notes),
            Route("/api/notes", add_note_json, methods=["POST"]),
            Route("/webhook", webhook, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]),
        ],
        middleware=fp_starlette.middleware(store=MemorySessionStore()),
    )


def build_flask_app() -> flask.Flask:
    notes: list[str] = []
    app = flask.Flask(__name__)
    csrf = fp_flask.CSRFProtect(app, store=MemorySessionStore())
    request = flask.request

    @app.get("/")
    def index() -> str:
        return flask.render_template_string(PAGE)

    @app.post("/login")
    def login() -> WerkzeugResponse:
        rotate(request)
        flask.session["user"] = request.form["username"]
        return flask.redirect("/", 303)

    @app.post("/logout")
    def logout() -> WerkzeugResponse:
        flask.session.clear()
        return flask.redirect("/", 303)

    @app.post("/notes")
    def add_note() -> WerkzeugResponse:
        notes.append(request.form["text"])
        return flask.redirect("/", 303)

    @app.get("/api/notes")
    def list_notes() -> dict[str, list[str]]:
        return {"notes": notes}

    @app.post("/api/notes")
    def add_note_json() -> tuple[dict[str, str], int]:
        notes.append(request.get_json()["text"])
        return {"text": notes[-1]}, 201

    @app.post("/webhook")
    @csrf.exempt
    def webhook() -> dict[str, int]:
        return {"received": len(request.get_data())}

    @app.post("/upload")
    def upload() -> dict[str, Any]:
        fields = {name: request.form.getlist(name) for name in request.form}
        files = {name: digest(f.read()) for name, f in request.files.items()}
        return {"fields": fields, "files": files}

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        return digest(request.get_data())

    return app
