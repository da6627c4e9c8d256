"""A FastAPI app protected by forgeproof.

Run it with ``uvicorn examples.fastapi_app:app`` (``pip install
forgeproof[fastapi] uvicorn``). Sessions live in ``sessions.db``; set
SESSION_STORE to another store URL (``memory://``) to change that.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import DictLoader, Environment
from pydantic import BaseModel

from forgeproof import rotate, store_from_url
from forgeproof.integrations.fastapi import (
    CSRFToken,
    exempt,
    middleware,
    setup_templates,
)

store = store_from_url(os.environ.get("SESSION_STORE", "sqlite:///sessions.db"))
app = FastAPI(middleware=middleware(store=store))
NOTES: list[str] = []

PAGE = """<!doctype html>
<html><head><title>Notes</title>{{ csrf_meta() }}</head><body>
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


class Note(BaseModel):
    text: str


@app.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {"notes": NOTES})


@app.get("/api/csrf-token")
def token(csrf_token: CSRFToken) -> dict[str, str]:
    # For single-page apps: send it back in the X-CSRF-Token header.
    return {"csrf_token": csrf_token}


@app.post("/login")
def login(request: Request, username: str = Form()) -> RedirectResponse:
    rotate(request)  # new session id and CSRF secret: stops session fixation
    request.session["user"] = username
    return RedirectResponse("/", 303)


@app.post("/logout")
def logout(request: Request) -> RedirectResponse:
    request.session.clear()  # deletes the session on the server, and its tokens
    return RedirectResponse("/", 303)


@app.post("/notes")
def add_note(text: str = Form()) -> RedirectResponse:
    NOTES.append(text)
    return RedirectResponse("/", 303)


@app.get("/api/notes")
def list_notes() -> dict[str, list[str]]:
    return {"notes": NOTES}


@app.post("/api/notes", status_code=201)
def add_note_json(note: Note) -> Note:
    # Scripts send the token in the X-CSRF-Token header (from the meta tag)
    # or as a "csrf_token" key of the JSON body.
    NOTES.append(note.text)
    return note


@app.post("/webhook")
@exempt  # no CSRF check: authenticate webhooks by their signature instead
async def webhook(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}
