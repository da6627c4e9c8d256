"""A Flask app protected by forgeproof.

Run it with ``flask --app examples/flask_app run`` (``pip install
forgeproof[flask]``). Sessions live in ``sessions.db``; set SESSION_STORE
to another store URL (``memory://``) to change that.
"""

from __future__ import annotations

import os

from flask import Flask, redirect, render_template_string, request, session
from werkzeug import Response

from forgeproof import rotate, store_from_url
from forgeproof.integrations.flask import CSRFProtect

store = store_from_url(os.environ.get("SESSION_STORE", "sqlite:///sessions.db"))
app = Flask(__name__)
csrf = CSRFProtect(app, store=store)
NOTES: list[str] = []

PAGE = """<!doctype html>
<html><head><title>Notes</title>{{ csrf_meta() }}</head><body>
<p>{{ "Hello, " ~ session["user"] if "user" in session else "Not logged in" }}</p>
<form method="post" action="/login">{{ csrf_input() }}
  <input name="username"><button>Log in</button></form>
<form method="post" action="/notes">{{ csrf_input() }}
  <input name="text"><button>Add note</button></form>
<form method="post" action="/logout">{{ csrf_input() }}<button>Log out</button></form>
<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
</body></html>"""


@app.get("/")
def index() -> str:
    return render_template_string(PAGE, notes=NOTES)


@app.post("/login")
def login() -> Response:
    rotate(request)  # new session id and CSRF secret: stops session fixation
    session["user"] = request.form["username"]
    return redirect("/", 303)


@app.post("/logout")
def logout() -> Response:
    session.clear()  # deletes the session on the server; its tokens die with it
    return redirect("/", 303)


@app.post("/notes")
def add_note() -> Response:
    NOTES.append(request.form["text"])
    return redirect("/", 303)


@app.get("/api/notes")
def list_notes() -> dict[str, list[str]]:
    return {"notes": NOTES}


@app.post("/api/notes")
def add_note_json() -> tuple[dict[str, str], int]:
    # Scripts send the token in the X-CSRF-Token header (from the meta tag)
    # or as a "csrf_token" key of the JSON body.
    NOTES.append(request.get_json()["text"])
    return {"text": NOTES[-1]}, 201


@app.post("/webhook")
@csrf.exempt  # no CSRF check: authenticate webhooks by their signature instead
def webhook() -> dict[str, int]:
    return {"received": len(request.get_data())}
