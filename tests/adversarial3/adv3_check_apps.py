"""Configurations for ``forgeproof check`` that try to slip a weakness past
it, one app per attribute (``adversarial3.adv3_check_apps:<name>``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from forgeproof import MemorySessionStore, SessionConfig
from forgeproof import asgi as fp_asgi
from forgeproof import wsgi as fp_wsgi
from forgeproof.integrations.flask import CSRFProtect


async def endpoint(scope: Any, receive: Any, send: Any) -> None:
    """Stands for the app; never called."""


def wsgi_endpoint(environ: Any, start_response: Any) -> Iterable[bytes]:
    """Stands for the WSGI app; never called."""
    return []


def asgi_pair(config: SessionConfig | None = None, **csrf: Any) -> Any:
    return fp_asgi.SessionMiddleware(
        fp_asgi.CSRFMiddleware(endpoint, **csrf),
        store=MemorySessionStore(),
        config=config,
    )


def wsgi_pair(config: SessionConfig | None = None, **csrf: Any) -> Any:
    return fp_wsgi.SessionMiddleware(
        fp_wsgi.CSRFMiddleware(wsgi_endpoint, **csrf),
        store=MemorySessionStore(),
        config=config,
    )


def starlette_pair(**csrf: Any) -> Starlette:
    return Starlette(
        middleware=[
            Middleware(fp_asgi.SessionMiddleware, store=MemorySessionStore()),
            Middleware(fp_asgi.CSRFMiddleware, **csrf),
        ]
    )


SECURE = SessionConfig(secure=True)

# Controls: weaknesses the check does see.
http_twin_trusted = asgi_pair(
    SECURE,
    public_origins=["https://shop.example"],
    trusted_origins=["http://shop.example"],
)
http_wildcard = asgi_pair(SECURE, trusted_origins=["http://*.shop.example"])
upper_case_area = asgi_pair(SECURE, exempt_paths=["/API/"])
double_slash_area = asgi_pair(SECURE, exempt_paths=["//api/"])
flask_report_only = flask.Flask("flask_report_only")
CSRFProtect(flask_report_only, store=MemorySessionStore(), report_only=True)
every_mount_protected = Starlette(
    routes=[
        Mount("/shop", app=asgi_pair(SECURE)),
        Mount("/blog", app=asgi_pair(SECURE)),
    ]
)

# Weaknesses it misses.
public_https_secure_guessed = asgi_pair(public_origins=["https://shop.example"])
public_plain_http = asgi_pair(SECURE, public_origins=["http://shop.example"])
# Refused at construction, so built lazily (as Starlette does) for the check
# to report the refusal; built eagerly it would fail this module's import.
wildcard_on_a_tld = starlette_pair(trusted_origins=["https://*.com"])
wildcard_on_a_public_suffix = asgi_pair(SECURE, trusted_origins=["https://*.co.uk"])
nested_area_exempt = asgi_pair(SECURE, exempt_paths=["/api/v1/"])
unprotected_dispatcher_mount = DispatcherMiddleware(
    wsgi_pair(SECURE), {"/legacy": wsgi_endpoint}
)
weak_dispatcher_mount = DispatcherMiddleware(
    wsgi_pair(SECURE),
    {"/legacy": wsgi_pair(SessionConfig(secure=False), report_only=True)},
)
unprotected_starlette_mount = Starlette(
    routes=[Mount("/shop", app=asgi_pair(SECURE)), Mount("/legacy", app=endpoint)]
)
csrf_outside_sessions = fp_asgi.CSRFMiddleware(
    fp_asgi.SessionMiddleware(endpoint, store=MemorySessionStore(), config=SECURE)
)
unclosed_ipv6_origin = starlette_pair(trusted_origins=["https://[::1"])
