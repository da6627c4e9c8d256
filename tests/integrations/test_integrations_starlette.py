"""The Starlette and FastAPI integrations: route exemption, template
helpers, and the FastAPI token dependency."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.templating import Jinja2Templates

from e2e.e2e_support import COOKIE, http_client, set_session_cookie
from forgeproof import MemorySessionStore
from forgeproof.integrations import fastapi as fp_fastapi
from forgeproof.integrations.starlette import exempt, middleware, setup_templates
from support.servers import serve_asgi


@contextmanager
def served(app: Any) -> Iterator[httpx.Client]:
    """*app* under uvicorn, and a client for it that keeps no cookies."""
    with serve_asgi(app) as url, http_client(url) as client:
        yield client


TEMPLATE = "{{ csrf_meta() }}|{{ csrf_input() }}|{{ csrf_input(request) }}"


async def ok(request: Request) -> Response:
    return PlainTextResponse("ran")


@exempt
async def hook(request: Request) -> Response:
    return PlainTextResponse("hooked")


def starlette_app() -> Starlette:
    env = Environment(loader=DictLoader({"page.html": TEMPLATE}), autoescape=True)
    templates = setup_templates(Jinja2Templates(env=env), field_name="authenticity")

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html")

    inner = Router(
        [Route("/deep", hook, methods=["POST"]), Route("/plain", ok, methods=["POST"])]
    )
    return Starlette(
        routes=[
            Route("/", page),
            Route("/hook", hook, methods=["POST"]),
            Route("/checked", ok, methods=["POST"]),
            Mount("/mounted", app=inner),
        ],
        middleware=middleware(store=MemorySessionStore()),
    )


def test_template_helpers_work_with_and_without_the_request_argument() -> None:
    with served(starlette_app()) as client:
        meta, field, explicit = client.get("/").text.split("|")

    assert meta.startswith('<meta name="csrf-token" content="')
    assert field.startswith('<input type="hidden" name="authenticity" value="')
    assert explicit.startswith('<input type="hidden" name="authenticity" value="')


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        pytest.param("/hook", "POST", 200, id="exempt route runs"),
        pytest.param(
            "/mounted/deep", "POST", 200, id="exempt route under a mount runs"
        ),
        pytest.param("/checked", "POST", 403, id="unmarked route is checked"),
        pytest.param(
            "/mounted/plain", "POST", 403, id="unmarked mounted route is checked"
        ),
        pytest.param(
            "/hook", "PUT", 403, id="exempt route with another method is checked"
        ),
        pytest.param(
            "/hook/", "POST", 403, id="slash variant of exempt route is checked"
        ),
        pytest.param("/nowhere", "POST", 403, id="unrouted path is checked"),
    ],
)
def test_only_a_full_match_of_an_exempt_route_skips_the_check(
    path: str, method: str, status: int
) -> None:
    with served(starlette_app()) as client:
        response = client.request(method, path)

    assert response.status_code == status


def fastapi_app() -> FastAPI:
    app = FastAPI(middleware=fp_fastapi.middleware(store=MemorySessionStore()))
    router = APIRouter(prefix="/api")

    @app.get("/token")
    def token(csrf_token: fp_fastapi.CSRFToken) -> dict[str, str]:
        return {"csrf_token": csrf_token}

    @app.post("/change")
    def change() -> dict[str, str]:
        return {"changed": "yes"}

    @app.post("/hook-below")
    @fp_fastapi.exempt
    def hook_below() -> dict[str, str]:
        return {"hooked": "below"}

    @fp_fastapi.exempt
    @app.post("/hook-above")
    def hook_above() -> dict[str, str]:
        return {"hooked": "above"}

    @router.post("/hook")
    @fp_fastapi.exempt
    def routed_hook() -> dict[str, str]:
        return {"hooked": "router"}

    app.include_router(router)
    return app


def test_fastapi_dependency_gives_a_token_that_the_next_request_may_use() -> None:
    with served(fastapi_app()) as client:
        page = client.get("/token")
        cookie = {"Cookie": f"{COOKIE}={set_session_cookie(page)}"}
        token = page.json()["csrf_token"]
        accepted = client.post("/change", headers={"X-CSRF-Token": token, **cookie})
        refused = client.post("/change", headers=cookie)

    assert accepted.json() == {"changed": "yes"}
    assert refused.status_code == 403
    assert refused.json()["reason"] == "token_missing"


def test_fastapi_token_pages_show_a_fresh_mask_each_time() -> None:
    with served(fastapi_app()) as client:
        page = client.get("/token")
        cookie = {"Cookie": f"{COOKIE}={set_session_cookie(page)}"}
        first = page.json()["csrf_token"]
        second = client.get("/token", headers=cookie).json()["csrf_token"]

    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", first)


@pytest.mark.parametrize("path", ["/hook-below", "/hook-above", "/api/hook"])
def test_fastapi_exempt_routes_run_without_a_token(path: str) -> None:
    with served(fastapi_app()) as client:
        response = client.post(path)

    assert response.status_code == 200
