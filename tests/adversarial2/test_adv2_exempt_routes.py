"""Exempt markers of the Flask, Starlette and FastAPI integrations: no path
that only looks like an exempt route, shares its prefix, redirects to it or
misses its method reaches a view that is not exempt.

Each app has an exempt webhook and, beside it, views that are not exempt
under the same prefixes. Every request carries a live session cookie and no
token, so no view that is not exempt may run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from adversarial2.adv2_support import COOKIE, Recorder
from forgeproof import MemorySessionStore, csrf_token
from forgeproof.integrations import fastapi as fp_fastapi
from forgeproof.integrations import starlette as fp_starlette
from forgeproof.integrations.flask import CSRFProtect
from support.servers import serve_asgi, serve_wsgi


def _flask_app(recorder: Recorder) -> flask.Flask:
    app = flask.Flask(__name__)
    csrf = CSRFProtect(app, store=MemorySessionStore())

    hooks = flask.Blueprint("hooks", __name__, url_prefix="/hooks")

    @hooks.post("/<name>")
    def hook(name: str) -> str:
        recorder.hit("exempt")
        return "hook"

    csrf.exempt(hooks)
    app.register_blueprint(hooks)

    @app.post("/webhook")
    @csrf.exempt
    def webhook() -> str:
        recorder.hit("exempt")
        return "hook"

    @app.post("/webhook/<path:rest>")
    def under_webhook(rest: str) -> str:
        recorder.hit("checked")
        return "moved"

    @app.post("/transfer")
    def transfer() -> str:
        recorder.hit("checked")
        return "moved"

    @app.route("/hooks-admin/<int:n>", methods=["POST", "PUT"])
    def hooks_admin(n: int) -> str:
        recorder.hit("checked")
        return "moved"

    @app.get("/page")
    def page() -> str:
        return flask.render_template_string("{{ csrf_token() }}")

    return app


async def _exempt_view(request: Request) -> PlainTextResponse:
    request.app.state.recorder.hit("exempt")
    return PlainTextResponse("hook")


async def _checked_view(request: Request) -> PlainTextResponse:
    request.app.state.recorder.hit("checked")
    return PlainTextResponse("moved")


async def _page(request: Request) -> PlainTextResponse:
    return PlainTextResponse(csrf_token(request))


def _starlette_app(recorder: Recorder) -> Starlette:
    exempt = fp_starlette.exempt(_exempt_view)
    app = Starlette(
        routes=[
            Route("/page", _page),
            Route("/webhook", exempt, methods=["POST"]),
            Route("/webhook/{rest:path}", _checked_view, methods=["POST"]),
            Route("/only-put", exempt, methods=["PUT"]),
            Route("/only-put", _checked_view, methods=["PATCH"]),
            Route("/transfer", _checked_view, methods=["POST"]),
            Mount(
                "/hooks",
                routes=[
                    Route("/in", exempt, methods=["POST"]),
                    Route("/admin", _checked_view, methods=["POST"]),
                ],
            ),
        ],
        middleware=fp_starlette.middleware(store=MemorySessionStore()),
    )
    app.state.recorder = recorder
    return app


def _fastapi_app(recorder: Recorder) -> FastAPI:
    app = FastAPI(middleware=fp_fastapi.middleware(store=MemorySessionStore()))
    router = APIRouter(prefix="/hooks")

    @router.post("/in")
    @fp_fastapi.exempt
    def hook_in() -> str:
        recorder.hit("exempt")
        return "hook"

    @router.post("/admin")
    def hook_admin() -> str:
        recorder.hit("checked")
        return "moved"

    app.include_router(router)

    @app.post("/webhook")
    @fp_fastapi.exempt
    def webhook() -> str:
        recorder.hit("exempt")
        return "hook"

    @app.post("/webhook/{rest:path}")
    def under_webhook(rest: str) -> str:
        recorder.hit("checked")
        return "moved"

    @app.put("/only-put")
    @fp_fastapi.exempt
    def only_put() -> str:
        recorder.hit("exempt")
        return "hook"

    @app.patch("/only-put")
    def only_patch() -> str:
        recorder.hit("checked")
        return "moved"

    @app.post("/transfer")
    def transfer() -> str:
        recorder.hit("checked")
        return "moved"

    @app.get("/page")
    def page(token: fp_fastapi.CSRFToken) -> str:
        return token

    return app


_FRAMEWORKS = ["flask", "starlette", "fastapi"]


@pytest.fixture(scope="module", params=_FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Recorder]]:
    recorder = Recorder()
    name: str = request.param
    if name == "flask":
        served = serve_wsgi(_flask_app(recorder))
    elif name == "starlette":
        served = serve_asgi(_starlette_app(recorder))
    else:
        served = serve_asgi(_fastapi_app(recorder))
    with served as base:
        yield name, base, recorder


@contextmanager
def _client(base: str) -> Iterator[tuple[httpx.Client, str]]:
    """A browser with a live session, and one of its tokens."""
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get("/page")
        assert page.status_code == 200
        assert COOKIE in client.cookies
        yield client, page.text.strip().strip('"')


def _send(base: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with _client(base) as (client, _):
        # A raw path, so no client normalises what the attack depends on.
        request = client.build_request(method, base + path, **kwargs)
        request.url = httpx.URL(base).copy_with(raw_path=path.encode("ascii"))
        return client.send(request)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/webhook", id="exempt view"),
        pytest.param("POST", "/hooks/in", id="exempt blueprint or mount route"),
    ],
)
def test_exempt_routes_run_without_a_token(
    framework: tuple[str, str, Recorder], method: str, path: str
) -> None:
    _, base, recorder = framework
    recorder.reset()

    response = _send(base, method, path)

    assert response.status_code == 200
    assert recorder.ran == ["exempt"]


def test_checked_route_runs_with_its_token(
    framework: tuple[str, str, Recorder],
) -> None:
    _, base, recorder = framework
    recorder.reset()
    with _client(base) as (client, token):
        response = client.post("/transfer", headers={"X-CSRF-Token": token})

    assert response.status_code == 200
    assert recorder.ran == ["checked"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/webhook/x", id="view under an exempt view's path"),
        pytest.param("POST", "/webhook/", id="trailing slash"),
        pytest.param("POST", "/webhook/../transfer", id="dot segments"),
        pytest.param("POST", "/webhook/%2e%2e/transfer", id="encoded dot segments"),
        pytest.param("POST", "/webhook%2F..%2Ftransfer", id="encoded slashes"),
        pytest.param("POST", "//webhook", id="doubled slash"),
        pytest.param("POST", "/WEBHOOK", id="letter case"),
        pytest.param("POST", "/webhook;x", id="path parameter"),
        pytest.param("POST", "/webhook%00", id="nul byte"),
        pytest.param("POST", "/hooks/admin", id="other route of an exempt mount"),
        pytest.param("POST", "/hooks/in/../admin", id="dot segments in a mount"),
        pytest.param("POST", "/hooks-admin/1", id="prefix of an exempt blueprint"),
        pytest.param("PATCH", "/only-put", id="exempt route, other method"),
        pytest.param("POST", "/only-put", id="exempt route, 405"),
        pytest.param("DELETE", "/webhook", id="exempt view, 405"),
    ],
)
def test_paths_near_an_exempt_route_are_checked(
    framework: tuple[str, str, Recorder], method: str, path: str
) -> None:
    _, base, recorder = framework
    recorder.reset()

    response = _send(base, method, path, headers={"Accept": "application/json"})

    # Where the framework itself routes the path to the exempt view (Flask
    # merges "//"), that view may run; a view that is not exempt never does.
    assert "checked" not in recorder.ran
    assert response.status_code in (200, 400, 403)
    assert (response.status_code == 200) == (recorder.ran == ["exempt"])
