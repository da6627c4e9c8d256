"""Putting the token into pages, and rotating it at login.

``csrf_input`` and ``csrf_meta`` return strings that Jinja2 (and anything
else that honours ``__html__``) inserts without escaping them again; the
token itself is escaped inside them. Each call masks the secret afresh, so
no two pages, or two forms on one page, show the same string.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from .policy import DEFAULT_FIELD_NAME
from .sessions.base import Session

__all__ = [
    "SafeHTML",
    "csrf_input",
    "csrf_meta",
    "csrf_token",
    "jinja_globals",
    "rotate",
    "session_of",
]

# Where the adapters put the session: the ASGI scope, or the WSGI environ.
_SESSION_KEYS = ("session", "forgeproof.session")


class SafeHTML(str):
    """Markup that template engines must not escape again."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def session_of(request: Any) -> Session:
    """The forgeproof session of a request.

    *request* may be a Starlette or Flask request, an ASGI scope or a WSGI
    environ.

    :raises LookupError: if forgeproof's session middleware did not run.
    """
    # environ first: on Flask's request proxy a missing attribute is an
    # exception raised through the proxy, several times dearer than the
    # same miss on a Starlette request.
    carrier = getattr(request, "environ", None)
    if carrier is None:
        carrier = getattr(request, "scope", request)
    if isinstance(carrier, Mapping):
        for key in _SESSION_KEYS:
            session = carrier.get(key)
            if isinstance(session, Session):
                return session

    raise LookupError(
        "no forgeproof session on this request: add forgeproof's session "
        "middleware to the app"
    )


def csrf_token(request: Any) -> str:
    """A fresh token for *request*'s session, for a form field or a header.

    Creates the session's secret (and so the session) on first use, and
    marks the response uncacheable (``Cache-Control: private, no-store``).
    """
    return session_of(request).new_csrf_token()


def csrf_input(request: Any, field_name: str = DEFAULT_FIELD_NAME) -> SafeHTML:
    """A hidden form field carrying a fresh token."""
    return SafeHTML(
        f'<input type="hidden" name="{escape(field_name)}" '
        f'value="{escape(csrf_token(request))}">'
    )


def csrf_meta(request: Any) -> SafeHTML:
    """``<meta name="csrf-token">`` carrying a fresh token, for scripts."""
    return SafeHTML(f'<meta name="csrf-token" content="{escape(csrf_token(request))}">')


def rotate(request: Any) -> None:
    """Give the session a new id and a new CSRF secret. Call it at login.

    The id an attacker may have planted before login (session fixation) and
    every token issued before it (including one an attacker obtained for
    the anonymous session) stop working.
    """
    session = session_of(request)
    session.rotate_id()
    session.rotate_csrf_secret()


def jinja_globals() -> dict[str, Any]:
    """The helpers by name, for ``environment.globals.update(...)``.

    Templates then call ``{{ csrf_input(request) }}`` and
    ``{{ csrf_meta(request) }}``.
    """
    return {"csrf_token": csrf_token, "csrf_input": csrf_input, "csrf_meta": csrf_meta}
