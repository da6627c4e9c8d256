"""CSRFProtect's shortcuts: a request is routed to find its view only
while something of the app is marked exempt, and the answer must stay
what routing every request gives, whenever marks are made; Flask's
session and the template helpers read the session straight from the
environ."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeproof import MemorySessionStore
from forgeproof.integrations import flask as forgeproof_flask
from forgeproof.integrations.flask import CSRFProtect, exempt

PATHS = ["/v0", "/v1", "/bp/b0", "/bp/inner/i0", "/other/o0", "/nowhere", "/v0/"]


def make_app() -> tuple[flask.Flask, dict[str, Any]]:
    """An app with plain views and nested blueprints, and everything that
    could be marked, by name."""
    app = flask.Flask(__name__)
    CSRFProtect(app, store=MemorySessionStore())
    targets: dict[str, Any] = {}
    for i in range(2):
        view = _view(f"v{i}")
        app.add_url_rule(f"/v{i}", f"v{i}", view, methods=["POST"])
        targets[f"view v{i}"] = view
    outer = flask.Blueprint("bp", __name__)
    inner = flask.Blueprint("inner", __name__)
    other = flask.Blueprint("other", __name__)
    for blueprint, name in ((outer, "b0"), (inner, "i0"), (other, "o0")):
        view = _view(name)
        blueprint.add_url_rule(f"/{name}", name, view, methods=["POST"])
        targets[f"view {name}"] = view
        targets[f"blueprint {blueprint.name}"] = blueprint
    outer.register_blueprint(inner, url_prefix="/inner")
    app.register_blueprint(outer, url_prefix="/bp")
    app.register_blueprint(other, url_prefix="/other")
    return app, targets


def _view(name: str) -> Any:
    def view() -> str:
        return name

    view.__name__ = name
    return view


def environ_for(path: str, method: str = "POST") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
    }


def hook_of(app: flask.Flask) -> Any:
    middleware = app.wsgi_app.app  # type: ignore[attr-defined]
    return middleware.is_exempt


MARKABLE = [
    "view v0",
    "view v1",
    "view b0",
    "view i0",
    "view o0",
    "blueprint bp",
    "blueprint inner",
    "blueprint other",
]


@settings(max_examples=60, deadline=None)
@given(marks=st.lists(st.sampled_from([*MARKABLE, None]), max_size=6))
def test_the_exempt_lookup_answers_as_routing_every_request_would(
    marks: list[str | None],
) -> None:
    app, targets = make_app()
    hook = hook_of(app)

    for mark in [None, *marks]:
        if mark is not None:
            exempt(targets[mark])
        for path in PATHS:
            for method in ("POST", "PUT"):
                environ = environ_for(path, method)

                assert hook(environ) == forgeproof_flask._view_is_exempt(
                    app, environ
                ), (mark, path, method)


def test_a_view_marked_exempt_after_requests_were_served_is_exempt_from_then_on() -> (
    None
):
    app, targets = make_app()
    client = app.test_client()
    assert client.post("/v1").status_code == 403

    exempt(targets["view v1"])

    assert client.post("/v1").status_code == 200
    assert client.post("/v0").status_code == 403


def test_an_app_with_nothing_marked_never_routes_a_request_for_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = make_app()

    def routed(app: flask.Flask, environ: object) -> bool:
        raise AssertionError("routed although nothing is marked")

    monkeypatch.setattr(forgeproof_flask, "_view_is_exempt", routed)

    response = app.test_client().post("/v0")

    assert response.status_code == 403
    assert response.get_json()["reason"] == "session_missing"


def test_a_request_that_skipped_the_middleware_has_no_session_and_fails_loudly() -> (
    None
):
    app, _ = make_app()

    context = app.test_request_context("/v0")

    with pytest.raises(RuntimeError, match="did not pass through the middleware"):
        context.push()
    context.pop()  # the contexts it pushed before it failed


def test_template_helpers_find_the_session_of_the_request_being_served() -> None:
    app, _ = make_app()
    seen: list[object] = []

    @app.get("/page")
    def page() -> str:
        seen.append(flask.session.forgeproof)  # type: ignore[attr-defined]
        return flask.render_template_string("{{ csrf_token() }}")

    client = app.test_client()
    first = client.get("/page")
    second = client.get("/page")

    assert first.headers["Cache-Control"] == "private, no-store"
    assert len(seen) == 2
    assert seen[0].has_csrf_secret  # type: ignore[attr-defined]
    assert seen[0].csrf_secret == seen[1].csrf_secret  # type: ignore[attr-defined]
    assert second.get_data(as_text=True) != first.get_data(as_text=True)
