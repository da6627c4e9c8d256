"""forgeproof for Starlette: the middleware pair, an ``exempt`` marker for
routes, and the template helpers for ``Jinja2Templates``.

::

    app = Starlette(
        routes=routes,
        middleware=middleware(store=SQLiteSessionStore("sessions.db")),
    )
    templates = setup_templates(Jinja2Templates(directory="templates"))

Templates then write ``{{ csrf_input() }}`` inside each form. FastAPI apps
use :mod:`forgeproof.integrations.fastapi`, which adds a dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match

from ..asgi import CSRFMiddleware, SessionMiddleware
from ..decisions import DecisionCallback
from ..policy import DEFAULT_FIELD_NAME, DEFAULT_HEADER_NAME, DEFAULT_SCAN_LIMIT
from ..proxies import ProxyHeaders
from ..responses import RejectionRenderer
from ..sessions import AsyncSessionStore, SessionConfig
from ..types import Scope
from ._marks import is_marked_exempt, mark_exempt

if TYPE_CHECKING:
    from jinja2.runtime import Context
    from starlette.templating import Jinja2Templates

__all__ = ["exempt", "middleware", "route_is_exempt", "setup_templates"]

_Endpoint = TypeVar("_Endpoint")


def middleware(
    *,
    store: AsyncSessionStore,
    config: SessionConfig | None = None,
    trusted_origins: Iterable[str] = (),
    exempt_paths: Iterable[str] = (),
    header_name: str = DEFAULT_HEADER_NAME,
    extra_header_names: Iterable[str] = (),
    field_name: str = DEFAULT_FIELD_NAME,
    scan_limit: int = DEFAULT_SCAN_LIMIT,
    on_reject: RejectionRenderer | None = None,
    is_exempt: Callable[[Scope], bool] | None = None,
    public_origins: Iterable[str] = (),
    trusted_proxies: int = 0,
    proxy_headers: ProxyHeaders = "x-forwarded",
    report_only: bool = False,
    on_decision: DecisionCallback | None = None,
) -> list[Middleware]:
    """The session and CSRF middleware, in order, for ``middleware=``.

    Routes marked with :func:`exempt` are not checked. The options are
    those of :class:`forgeproof.asgi.CSRFMiddleware` and
    :class:`forgeproof.asgi.SessionMiddleware`; put other middleware that
    reads ``request.session`` after these. *is_exempt* replaces
    :func:`route_is_exempt`, for routers it cannot see into.
    """
    return [
        Middleware(SessionMiddleware, store=store, config=config),
        Middleware(
            CSRFMiddleware,
            trusted_origins=trusted_origins,
            exempt_paths=exempt_paths,
            header_name=header_name,
            extra_header_names=extra_header_names,
            field_name=field_name,
            scan_limit=scan_limit,
            is_exempt=is_exempt or route_is_exempt,
            on_reject=on_reject,
            public_origins=public_origins,
            trusted_proxies=trusted_proxies,
            proxy_headers=proxy_headers,
            report_only=report_only,
            on_decision=on_decision,
        ),
    ]


def exempt(endpoint: _Endpoint) -> _Endpoint:
    """Switch the CSRF check off for one route's endpoint.

    An exempt route is open to CSRF: keep it for requests that prove
    themselves some other way, such as a signed webhook. Works above or
    below a framework's route decorator.
    """
    return mark_exempt(endpoint)


def route_is_exempt(scope: Scope) -> bool:
    """Whether the route that will handle *scope* is marked :func:`exempt`.

    The ``is_exempt`` hook of :class:`~forgeproof.asgi.CSRFMiddleware`. It
    routes the request with the app's own router (Starlette puts the app in
    ``scope["app"]``), following mounts. A request that matches no route
    fully (404, 405, a slash redirect) is not exempt.
    """
    routes = app_routes(scope)
    return routes is not None and match_is_exempt(routes, scope)


def setup_templates(
    templates: Jinja2Templates, *, field_name: str = DEFAULT_FIELD_NAME
) -> Jinja2Templates:
    """Add ``csrf_token()``, ``csrf_input()`` and ``csrf_meta()`` to the
    templates' globals and return *templates*.

    They use the ``request`` of the template's context, which
    ``TemplateResponse`` always provides; ``csrf_input(request)`` works too.
    """
    from ._jinja import template_globals

    templates.env.globals.update(template_globals(field_name, _context_request))
    return templates


def _context_request(context: Context) -> Any:
    request = context.get("request")
    if request is None:
        raise LookupError(
            "no request in the template context: pass one, csrf_input(request)"
        )
    return request


def app_routes(scope: Scope) -> list[BaseRoute] | None:
    """The routes of the Starlette app serving *scope*, if any."""
    router = getattr(scope.get("app"), "router", None)
    routes = getattr(router, "routes", None)
    return list(routes) if routes is not None else None


def match_is_exempt(routes: Iterable[BaseRoute], scope: Scope) -> bool:
    """Whether the first route that fully matches *scope* is exempt."""
    # The first full match is the route Starlette's router will run.
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is not Match.FULL:
            continue
        inner = getattr(route, "routes", None)
        if inner:
            return match_is_exempt(inner, {**scope, **child_scope})
        endpoint = getattr(route, "endpoint", None) or child_scope.get("endpoint")
        return is_marked_exempt(endpoint)
    return False
