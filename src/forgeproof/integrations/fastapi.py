"""forgeproof for FastAPI: the Starlette integration, plus a dependency
that gives a handler the current token.

::

    app = FastAPI(middleware=middleware(store=SQLiteSessionStore("sessions.db")))

    @app.get("/form")
    def form(csrf_token: CSRFToken) -> dict[str, str]:
        return {"csrf_token": csrf_token}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import fastapi.routing
from fastapi import Depends, Request
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from ..sessions import AsyncSessionStore, SessionConfig
from ..templating import csrf_token
from ..types import Scope
from . import starlette as _starlette
from .starlette import app_routes, exempt, match_is_exempt, setup_templates

__all__ = [
    "CSRFToken",
    "csrf_token_dependency",
    "exempt",
    "middleware",
    "route_is_exempt",
    "setup_templates",
]


def middleware(
    *, store: AsyncSessionStore, config: SessionConfig | None = None, **options: Any
) -> list[Middleware]:
    """The session and CSRF middleware for ``FastAPI(middleware=...)``.

    The options are those of
    :func:`forgeproof.integrations.starlette.middleware`; routes marked
    :func:`exempt` are found through included routers too.
    """
    return _starlette.middleware(
        store=store, config=config, is_exempt=route_is_exempt, **options
    )


def route_is_exempt(scope: Scope) -> bool:
    """Whether the route that will handle *scope* is marked :func:`exempt`,
    looking through ``include_router`` as FastAPI's router does."""
    routes = app_routes(scope)
    return routes is not None and match_is_exempt(_flatten(routes), scope)


def _flatten(routes: list[BaseRoute]) -> Iterable[Any]:
    # Newer FastAPI keeps an included router as one route that only its
    # own router can look into; iter_route_contexts lists the routes inside,
    # in the order they are tried, each matching with its full prefix.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return routes if flatten is None else flatten(routes)


def csrf_token_dependency(request: Request) -> str:
    """A fresh token for the request's session (creating the session on
    first use), for a page, a form or a JSON reply to a script."""
    return csrf_token(request)


#: ``def handler(csrf_token: CSRFToken)`` receives a fresh token.
CSRFToken = Annotated[str, Depends(csrf_token_dependency)]
