"""Example configurations for ``forgeproof check``, one app per attribute,
imported by spec (``deploy.deploy_check_apps:<name>``)."""

from __future__ import annotations

from typing import Any

import flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware as CookieSessions

from forgeproof import MemorySessionStore, SessionConfig
from forgeproof import asgi as fp_asgi
from forgeproof import wsgi as fp_wsgi
from forgeproof.integrations.flask import CSRFProtect


async def endpoint_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands for the app; never called."""


def starlette(*middleware: Middleware) -> Starlette:
    return Starlette(middleware=list(middleware))


def forgeproof_pair(
    config: SessionConfig | None = None, **csrf: Any
) -> tuple[Middleware, Middleware]:
    return (
        Middleware(
            fp_asgi.SessionMiddleware, store=MemorySessionStore(), config=config
        ),
        Middleware(fp_asgi.CSRFMiddleware, **csrf),
    )


def asgi_stack(config: SessionConfig | None = None, **csrf: Any) -> Any:
    return fp_asgi.SessionMiddleware(
        fp_asgi.CSRFMiddleware(endpoint_app, **csrf),
        store=MemorySessionStore(),
        config=config,
    )


# A setting a careful team would ship: exact https origins, one webhook.
good = starlette(
    *forgeproof_pair(
        trusted_origins=["https://partner.example"], exempt_paths=["/hooks/github"]
    )
)
good_raw_asgi = asgi_stack(
    SessionConfig(secure=True), public_origins=["https://shop.example"]
)
good_behind_proxy = asgi_stack(SessionConfig(secure=True), trusted_proxies=1)

good_flask = flask.Flask("good_flask")
CSRFProtect(good_flask, store=MemorySessionStore())

insecure_cookie = starlette(*forgeproof_pair(SessionConfig(secure=False)))
scheme_less_origin = starlette(*forgeproof_pair(trusted_origins=["partner.example"]))
broad_exempt = asgi_stack(exempt_paths=["/api/"])
short_exempt = asgi_stack(exempt_paths=["/a/"])
report_only = asgi_stack(report_only=True)
http_trusted_origin = asgi_stack(trusted_origins=["http://partner.example"])
wildcard_origin = asgi_stack(trusted_origins=["https://*.example.com"])
proxy_without_secure = asgi_stack(trusted_proxies=1)

starlette_cookie_sessions = starlette(
    Middleware(CookieSessions, secret_key="not-a-real-key"), *forgeproof_pair()
)
starlette_cookie_samesite_none = starlette(
    Middleware(CookieSessions, secret_key="not-a-real-key", same_site="none"),
    *forgeproof_pair(),
)

# Flask's own signed-cookie session left in place beside forgeproof's.
flask_default_sessions = flask.Flask("flask_default_sessions")
flask_default_sessions.wsgi_app = fp_wsgi.SessionMiddleware(  # type: ignore[method-assign]
    fp_wsgi.CSRFMiddleware(flask_default_sessions.wsgi_app),
    store=MemorySessionStore(),
)

no_forgeproof = starlette()
csrf_without_sessions = fp_asgi.CSRFMiddleware(endpoint_app)
several_weaknesses = starlette(
    *forgeproof_pair(
        SessionConfig(secure=False),
        trusted_origins=["http://partner.example"],
        exempt_paths=["/api/"],
        report_only=True,
    )
)
