"""The Flask extension: sessions, template globals, exemptions."""

from __future__ import annotations

import re

import flask
import pytest
from flask.testing import FlaskClient

from forgeproof import ConfigurationError, MemorySessionStore, Session, rotate
from forgeproof.integrations.flask import CSRFProtect, FlaskSession, exempt

TEMPLATE = "{{ csrf_meta() }}|{{ csrf_input() }}|{{ csrf_token() }}"


def make_app(**options: object) -> tuple[flask.Flask, CSRFProtect]:
    app = flask.Flask(__name__)
    csrf = CSRFProtect(app, store=MemorySessionStore(), **options)  # type: ignore[arg-type]

    @app.get("/")
    def page() -> str:
        return flask.render_template_string(TEMPLATE)

    @app.post("/set")
    def set_value() -> str:
        flask.session["value"] = flask.request.form["value"]
        return "set"

    @app.get("/get")
    def get_value() -> dict[str, object]:
        return {
            "value": flask.session.get("value"),
            "type": type(flask.session._get_current_object()).__name__,
        }

    @app.post("/login")
    def login() -> str:
        rotate(flask.request)
        flask.session["user"] = "alice"
        return "in"

    @app.post("/logout")
    def logout() -> str:
        flask.session.clear()
        return "out"

    return app, csrf


def token_of(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_flask_session_is_the_forgeproof_session_and_needs_no_secret_key() -> None:
    app, _ = make_app()
    client = app.test_client()
    token = token_of(client)

    response = client.post("/set", data={"value": "kept", "csrf_token": token})

    assert app.secret_key is None
    assert response.status_code == 200
    assert client.get("/get").get_json() == {"value": "kept", "type": "FlaskSession"}


def test_session_object_wraps_the_request_session() -> None:
    app, _ = make_app()
    seen: list[object] = []

    @app.get("/inspect")
    def inspect() -> str:
        seen.append(flask.session._get_current_object())
        return ""

    app.test_client().get("/inspect")

    assert isinstance(seen[0], FlaskSession)
    assert isinstance(seen[0].forgeproof, Session)


def test_template_helpers_need_no_arguments_and_use_the_configured_field() -> None:
    app, _ = make_app(field_name="authenticity")

    page = app.test_client().get("/").get_data(as_text=True)
    meta, field, token = page.split("|")

    assert meta.startswith('<meta name="csrf-token" content="')
    assert field.startswith('<input type="hidden" name="authenticity" value="')
    assert len(token) == 86


def test_form_without_token_is_refused_and_the_view_does_not_run() -> None:
    app, _ = make_app()
    client = app.test_client()
    token_of(client)

    response = client.post("/set", data={"value": "forged"})

    assert response.status_code == 403
    assert response.get_json()["reason"] == "token_missing"
    assert client.get("/get").get_json()["value"] is None


def test_logout_deletes_the_session_and_its_tokens() -> None:
    app, _ = make_app()
    client = app.test_client()
    token = token_of(client)
    cookie = client.get_cookie("forgeproof_session")
    assert cookie is not None
    old_id = cookie.value

    client.post("/logout", data={"csrf_token": token})
    client.set_cookie("forgeproof_session", old_id)
    response = client.post("/set", data={"value": "x", "csrf_token": token})

    assert response.status_code == 403
    assert response.get_json()["reason"] == "session_missing"


def test_login_rotation_kills_tokens_from_before_login() -> None:
    app, _ = make_app()
    client = app.test_client()
    before = token_of(client)

    client.post("/login", data={"csrf_token": before})
    response = client.post("/set", data={"value": "x", "csrf_token": before})

    assert response.status_code == 403
    assert response.get_json()["reason"] == "token_invalid"


@pytest.mark.parametrize("order", ["exempt below route", "exempt above route"])
def test_exempt_view_runs_without_token_in_either_decorator_order(order: str) -> None:
    app, csrf = make_app()

    if order == "exempt below route":

        @app.post("/hook")
        @csrf.exempt
        def hook() -> str:
            return "hooked"

    else:

        @csrf.exempt
        @app.post("/hook")
        def hook() -> str:
            return "hooked"

    client = app.test_client()

    assert client.post("/hook").status_code == 200
    assert client.post("/set", data={"value": "x"}).status_code == 403


def test_exempt_blueprint_covers_its_views_and_nested_blueprints_only() -> None:
    app, _ = make_app()
    hooks = flask.Blueprint("hooks", __name__)
    inner = flask.Blueprint("inner", __name__)
    checked = flask.Blueprint("checked", __name__)

    @inner.post("/deep")
    def deep() -> str:
        return "deep"

    @hooks.post("/top")
    def top() -> str:
        return "top"

    @checked.post("/other")
    def other() -> str:
        return "other"

    hooks.register_blueprint(inner, url_prefix="/inner")
    app.register_blueprint(exempt(hooks), url_prefix="/hooks")
    app.register_blueprint(checked, url_prefix="/checked")
    client = app.test_client()

    assert client.post("/hooks/top").status_code == 200
    assert client.post("/hooks/inner/deep").status_code == 200
    assert client.post("/checked/other").status_code == 403


def test_unrouted_and_wrong_method_requests_are_never_exempt() -> None:
    app, csrf = make_app()

    @app.post("/hook")
    @csrf.exempt
    def hook() -> str:
        return "hooked"

    client = app.test_client()

    assert client.put("/hook").status_code == 403
    assert client.post("/hook/").status_code == 403
    assert client.post("/nowhere").status_code == 403


def test_app_factory_reads_the_store_url_from_config() -> None:
    csrf = CSRFProtect()
    app = flask.Flask(__name__)
    app.config["FORGEPROOF_SESSION_STORE"] = "memory://"

    csrf.init_app(app)

    assert app.extensions["forgeproof"] is csrf


def test_missing_store_fails_at_start_up_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="FORGEPROOF_SESSION_STORE"):
        CSRFProtect(flask.Flask(__name__))
