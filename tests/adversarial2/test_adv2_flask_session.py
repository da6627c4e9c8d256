"""``flask.session`` as forgeproof's server-side session, over waitress:
logout through ``session.clear()``, ``permanent`` and ``modified``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import flask
import httpx
import pytest

import forgeproof
from adversarial2.adv2_support import COOKIE, Recorder
from forgeproof import MemorySessionStore
from forgeproof.integrations.flask import CSRFProtect
from support.servers import serve_wsgi


def _app(recorder: Recorder) -> flask.Flask:
    app = flask.Flask(__name__)
    CSRFProtect(app, store=MemorySessionStore())

    @app.get("/page")
    def page() -> str:
        return flask.render_template_string("{{ csrf_token() }}")

    @app.get("/me")
    def me() -> str:
        return f"{flask.session.get('user', 'anon')} {flask.session.get('cart')}"

    @app.post("/login")
    def login() -> str:
        forgeproof.rotate(flask.request)
        flask.session["user"] = "alice"
        flask.session.permanent = True
        flask.session["cart"] = []
        return "in"

    @app.post("/cart")
    def cart() -> str:
        recorder.hit("cart")
        flask.session["cart"].append("book")  # in place: Flask's own caveat
        flask.session.modified = True
        return "added"

    @app.post("/logout")
    def logout() -> str:
        flask.session.clear()
        return "out"

    return app


@pytest.fixture(scope="module")
def flask_base() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_wsgi(_app(recorder)) as base:
        yield base, recorder


@contextmanager
def _logged_in(base: str) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=base) as client:
        token = client.get("/page").text
        assert client.post("/login", headers={"X-CSRF-Token": token}).text == "in"
        yield client, client.get("/page").text


def test_permanent_and_modified_sessions_are_saved(
    flask_base: tuple[str, Recorder],
) -> None:
    base, recorder = flask_base
    recorder.reset()
    with _logged_in(base) as (client, token):
        client.post("/cart", headers={"X-CSRF-Token": token})
        me = client.get("/me").text

    assert me == "alice ['book']"
    assert recorder.ran == ["cart"]


def test_logout_by_session_clear_kills_the_old_cookie_and_its_tokens(
    flask_base: tuple[str, Recorder],
) -> None:
    base, recorder = flask_base
    with _logged_in(base) as (client, token):
        old_cookie = client.cookies[COOKIE]
        assert client.post("/logout", headers={"X-CSRF-Token": token}).text == "out"
    recorder.reset()

    with httpx.Client(base_url=base, cookies={COOKIE: old_cookie}) as replay:
        me = replay.get("/me").text
        response = replay.post(
            "/cart",
            headers={"X-CSRF-Token": token, "Accept": "application/json"},
        )

    assert me == "anon None"
    assert response.status_code == 403
    assert response.json()["reason"] == "session_missing"
    assert recorder.ran == []
