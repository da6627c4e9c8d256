"""The same tiny Flask app, bare, with forgeproof's WSGI adapter, and with
Flask-WTF's ``CSRFProtect``. Routes and behaviour match ``apps_asgi``.

Flask 3.1 refuses form fields over 500 kB (``MAX_FORM_MEMORY_SIZE``) with
413; the limit is lifted so Flask-WTF can parse the 8 MB form at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, request

FLASK_SECRET = "benchmark-flask-secret-not-for-production"  # noqa: S105


def _flask(token_of: Callable[[], str]) -> Flask:
    app = Flask("bench")
    app.config["SECRET_KEY"] = FLASK_SECRET
    app.config["MAX_FORM_MEMORY_SIZE"] = None

    @app.get("/form")
    def form() -> str:
        token = token_of()
        return (
            f'<form method="post"><input type="hidden" name="t" value="{token}"></form>'
        )

    @app.route("/submit", methods=["POST", "PUT", "PATCH", "DELETE"])
    def submit() -> str:
        stream = request.stream
        while stream.read(64 * 1024):
            pass
        return "ok"

    return app


def flask_bare() -> Flask:
    return _flask(lambda: "")


def flask_wtf() -> Flask:
    from flask_wtf.csrf import CSRFProtect, generate_csrf

    app = _flask(generate_csrf)
    CSRFProtect(app)
    return app


def forgeproof_wsgi_available() -> str | None:
    """``None`` if ``forgeproof.wsgi`` can be used, else why not."""
    try:
        from forgeproof import wsgi
    except ImportError as exc:
        return f"forgeproof.wsgi not importable ({exc})"
    missing = [
        n for n in ("SessionMiddleware", "CSRFMiddleware") if not hasattr(wsgi, n)
    ]
    if missing:
        return f"forgeproof.wsgi has no {', '.join(missing)}"
    return None


def flask_forgeproof() -> Any:
    from forgeproof import MemorySessionStore, csrf_token
    from forgeproof.wsgi import CSRFMiddleware, SessionMiddleware

    app = _flask(lambda: csrf_token(request))
    app.wsgi_app = SessionMiddleware(  # type: ignore[method-assign]
        CSRFMiddleware(app.wsgi_app), store=MemorySessionStore()
    )
    return app
