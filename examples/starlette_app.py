"""A Starlette app protected by forgeproof.

Run it with ``uvicorn examples.starlette_app:app`` (``pip install
forgeproof[starlette] uvicorn``). Sessions live in ``sessions.db``; set
SESSION_STORE to another store URL (``memory://``) to change that.
"""

from __future__ import annotations

import os

from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from forgeproof import rotate, store_from_url
from forgeproof.integrations.starlette import exempt, middleware, setup_templates

store = store_from_url(os.environ.get("SESSION_STORE", "sqlite:///sessions.db"))
NOTES: list[str] = []

PAGE = """<!doctype html>
<html><head><title>Notes</title>{{ csrf_meta() }}</head><body>
<p>{{ "Hello, " ~ request.session["user"] if "user" in request.session
      else "Not logged in" }}</p>
<form method="post" action="/login">{{ csrf_input() }}
  <input name="username"><button>Log in</button></form>
<form method="post" action="/notes">{{ csrf_input() }}
  <input name="text"><button>Add note</button></form>
<form method="post" action="/logout">{{ csrf_input() }}<button>Log out</button></form>
<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
</body></html>"""
# Real apps use Jinja2Templates(directory="templates").
env = Environment(loader=DictLoader({"index.html": PAGE}), autoescape=True)
templates = setup_templates(Jinja2Templates(env=env))


async def index(request: Request) -> Response:
    return templates.TemplateResponse(request, "index.html", {"notes": NOTES})


async def login(request: Request) -> Response:
    async with request.form() as form:
        username = str(form["username"])
    rotate(request)  # new session id and CSRF secret: stops session fixation
    request.session["user"] = username
    return RedirectResponse("/", 303)


async def logout(request: Request) -> Response:
    request.session.clear()  # deletes the session on the server, and its tokens
    return RedirectResponse("/", 303)


async def add_note(request: Request) -> Response:
    async with request.form() as form:  # closes uploaded files afterwards
        NOTES.append(str(form["text"]))
    return RedirectResponse("/", 303)


async def list_notes(request: Request) -> Response:
    return JSONResponse({"notes": NOTES})


async def add_note_json(request: Request) -> Response:
    # Scripts send the token in the X-CSRF-Token header (from the meta tag)
    # or as a "csrf_token" key of the JSON body.
    NOTES.append((await request.json())["text"])
    return JSONResponse({"text": NOTES[-1]}, 201)


@exempt  # no CSRF check: authenticate webhooks by their signature instead
async def webhook(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


app = Starlette(
    routes=[
        Route("/", index),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/notes", add_note, methods=["POST"]),
        Route("/api/notes", list_notes),
        Route("/api/notes", add_note_json, methods=["POST"]),
        Route("/webhook", webhook, methods=["POST"]),
    ],
    middleware=middleware(store=store),
)
