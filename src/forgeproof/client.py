"""The browser's side: the helper script, a token endpoint, and the opt-in
``XSRF-TOKEN`` cookie that axios and Angular read on their own.

One small middleware per server interface, inside the session middleware::

    app = SessionMiddleware(
        ASGIClientMiddleware(CSRFMiddleware(app)), store=store
    )

It answers three ``GET`` paths under its prefix (``/forgeproof/`` unless
configured) and passes everything else on:

- ``csrf.js``: the helper, a classic script (``<script src defer>``) that
  adds the token to same-origin unsafe ``fetch()``, XHR and htmx requests;
- ``csrf.mjs``: the same helper as an ES module;
- ``token``: ``{"token": ...}``, a fresh token for the session (created if
  needed), for pages that render no HTML. Same-origin only: no CORS
  headers, ``Cache-Control: no-store``, and a request that the browser
  marks as started by another site is refused.

The SPA convention is off unless ``xsrf_cookie`` is given. It puts a
masked token in a cookie that scripts can read, and the CSRF middleware
must then also accept the header those libraries send back::

    ASGIClientMiddleware(
        CSRFMiddleware(app, extra_header_names=[XSRF_HEADER_NAME]),
        config=ClientConfig(xsrf_cookie=XSRF_COOKIE_NAME),
    )

The cookie is only a carrier. Its value is checked against the session's
secret like any token, so a cookie planted by a sibling subdomain (with the
attacker's own valid token) is refused, as is a stale one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING

from ._cookies import parse_cookie_header
from ._logging import log_rejection
from .errors import ConfigurationError
from .policy import Rejection, RequestFacts
from .reasons import Reason
from .responses import RejectionResponse, render_problem_json
from .sessions.base import Session
from .tokens import token_matches
from .types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "DEFAULT_PREFIX",
    "SCRIPT_NAMES",
    "XSRF_COOKIE_NAME",
    "XSRF_HEADER_NAME",
    "ASGIClientMiddleware",
    "ClientConfig",
    "WSGIClientMiddleware",
    "answer",
    "plan_xsrf_cookie",
    "script_source",
]

DEFAULT_PREFIX = "/forgeproof/"
#: The files served under the prefix, shipped in ``forgeproof/static``.
SCRIPT_NAMES = ("csrf.js", "csrf.mjs")
#: The names axios and Angular's HttpClient use by default.
XSRF_COOKIE_NAME = "XSRF-TOKEN"
XSRF_HEADER_NAME = "X-XSRF-TOKEN"

_ENDPOINT_NAME = "token"  # the token endpoint: prefix + this
_SESSION_KEYS = ("session", "forgeproof.session")
# RFC 6265 §4.1.1 cookie-name: a token, no separators.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PATH = re.compile(r"/(?:[A-Za-z0-9._~\-]+/)*")


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where the client endpoints live, and the SPA convention.

    :param prefix: the path the script and token endpoint are served
        under; it starts and ends with ``/``. The script finds the token
        endpoint beside itself, so moving the prefix needs no other change.
    :param xsrf_cookie: the name of the script-readable token cookie
        (usually :data:`XSRF_COOKIE_NAME`), or ``None`` (the default) for
        no cookie. Turning it on hands a token to any script on the page,
        which is what the ``<meta>`` tag does too. Another site cannot
        read it, but another port of the same host can (cookies ignore
        ports): there only the Origin and Fetch-Metadata checks stand, so
        leave it off unless a single-page app needs it. Every visitor gets
        a session on the first response.
    :param secure: ``None`` marks the cookie ``Secure`` exactly on https;
        ``True`` forces it, behind a TLS proxy that speaks http to the app.
    """

    prefix: str = DEFAULT_PREFIX
    xsrf_cookie: str | None = None
    secure: bool | None = None

    def __post_init__(self) -> None:
        if not _PATH.fullmatch(self.prefix) or self.prefix == "/":
            raise ConfigurationError(
                f"prefix {self.prefix!r} must be a path below '/' that starts "
                "and ends with '/', such as '/forgeproof/'"
            )
        if self.xsrf_cookie is not None and not _COOKIE_NAME.fullmatch(
            self.xsrf_cookie
        ):
            raise ConfigurationError(
                f"xsrf_cookie {self.xsrf_cookie!r} is not a valid cookie name"
            )

    @property
    def token_path(self) -> str:
        """The path of the token endpoint."""
        return self.prefix + _ENDPOINT_NAME


@cache
def script_source(name: str = "csrf.js") -> bytes:
    """The bytes of a shipped script, for apps that serve or bundle it
    themselves.

    :raises ValueError: for a name outside :data:`SCRIPT_NAMES`.
    """
    if name not in SCRIPT_NAMES:
        raise ValueError(f"forgeproof ships {', '.join(SCRIPT_NAMES)}, not {name!r}")
    return (resources.files("forgeproof") / "static" / name).read_bytes()


def answer(
    config: ClientConfig,
    facts: RequestFacts,
    session: Session,
    *,
    if_none_match: str | None = None,
) -> RejectionResponse | None:
    """The response for a request to one of the client paths, or ``None``
    when the request is for the app.

    Framework integrations that route requests themselves call this and
    send what it returns.
    """
    if not facts.path.startswith(config.prefix):
        return None
    name = facts.path[len(config.prefix) :]
    if name != _ENDPOINT_NAME and name not in SCRIPT_NAMES:
        return None

    if facts.method not in ("GET", "HEAD"):
        return _plain(HTTPStatus.METHOD_NOT_ALLOWED, (("allow", "GET, HEAD"),))
    if name == _ENDPOINT_NAME:
        return _token_response(facts, session)
    return _script_response(name, if_none_match)


def _is_success(status: str) -> bool:
    # Refusals and errors hand out no token: a cross-site request refused
    # here must not start a session for the visitor either.
    return status[:1] in ("1", "2", "3")


def plan_xsrf_cookie(
    config: ClientConfig, session: Session, *, scheme: str, carried: list[str]
) -> str | None:
    """The ``Set-Cookie`` value that hands the page a token it can read, or
    ``None`` when the convention is off or the cookie it has still fits.

    Call it when the response starts, before the session is written: it
    creates the session's secret if there is none yet, so a single-page app
    has a session before its first unsafe request.

    :param carried: the values of the cookie in the request.
    """
    if config.xsrf_cookie is None:
        return None

    secret = session.csrf_secret
    # After a login rotated the secret the cookie no longer fits, and the
    # response that did it carries the new one.
    if len(carried) == 1 and token_matches(carried[0], secret):
        return None

    # Not HttpOnly: reading it is the point. Host-only and Path=/, like the
    # session cookie; SameSite=Lax, as a cross-site page gains nothing from
    # it being sent (RFC 6265bis §5.4.7).
    token = session.new_csrf_token()
    parts = [f"{config.xsrf_cookie}={token}", "Path=/", "SameSite=Lax"]
    if config.secure or (config.secure is None and scheme == "https"):
        parts.append("Secure")
    return "; ".join(parts)


class ASGIClientMiddleware:
    """Serves the helper script and the token endpoint, and issues the SPA
    cookie when configured. Must run inside forgeproof's
    :class:`~forgeproof.asgi.SessionMiddleware`.

    :param config: the paths and the SPA convention; see
        :class:`ClientConfig`.
    """

    def __init__(self, app: ASGIApp, *, config: ClientConfig | None = None) -> None:
        self.app = app
        self.config = config or ClientConfig()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        session = _session_in(scope)
        headers = _asgi_headers(scope)
        scheme = scope.get("scheme", "http")
        facts = _facts(scope["method"], scheme, scope.get("path", ""), headers.get)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                cookie = self._cookie(session, scheme, headers.get("cookie"))
                if cookie is not None:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"set-cookie", cookie.encode("latin-1")),
                    ]
            await send(message)

        response = answer(
            self.config, facts, session, if_none_match=headers.get("if-none-match")
        )
        if response is None:
            await self.app(scope, receive, send_with_cookie)
            return

        body = b"" if facts.method == "HEAD" else response.body
        await send_with_cookie(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in _with_length(response)
                ],
            }
        )
        await send_with_cookie({"type": "http.response.body", "body": body})

    def _cookie(
        self, session: Session, scheme: str, cookie_header: str | None
    ) -> str | None:
        return plan_xsrf_cookie(
            self.config,
            session,
            scheme=scheme,
            carried=_cookie_values(cookie_header, self.config.xsrf_cookie),
        )


class WSGIClientMiddleware:
    """The WSGI twin of :class:`ASGIClientMiddleware`. Must run inside
    forgeproof's :class:`~forgeproof.wsgi.SessionMiddleware`.

    :param config: the paths and the SPA convention; see
        :class:`ClientConfig`.
    """

    def __init__(
        self, app: WSGIApplication, *, config: ClientConfig | None = None
    ) -> None:
        self.app = app
        self.config = config or ClientConfig()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        session = _session_in(environ)
        scheme = environ.get("wsgi.url_scheme", "http")
        method = environ.get("REQUEST_METHOD", "GET")

        def header(name: str) -> str | None:
            value = environ.get("HTTP_" + name.upper().replace("-", "_"))
            return value if isinstance(value, str) else None

        def start_with_cookie(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: OptExcInfo | None = None,
        ) -> Callable[[bytes], object]:
            cookie = None
            if _is_success(status):
                cookie = plan_xsrf_cookie(
                    self.config,
                    session,
                    scheme=scheme,
                    carried=_cookie_values(header("cookie"), self.config.xsrf_cookie),
                )
            if cookie is not None:
                headers = [*headers, ("Set-Cookie", cookie)]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        path = environ.get("PATH_INFO", "")
        facts = _facts(method, scheme, path, header)
        response = answer(
            self.config, facts, session, if_none_match=header("if-none-match")
        )
        if response is None:
            return self.app(environ, start_with_cookie)

        status = f"{response.status} {HTTPStatus(response.status).phrase}"
        start_with_cookie(status, list(_with_length(response)))
        return [b"" if method == "HEAD" else response.body]


def _token_response(facts: RequestFacts, session: Session) -> RejectionResponse:
    site = (facts.sec_fetch_site or "").strip().lower()
    if site in ("cross-site", "same-site"):
        # Without CORS headers no other origin can read the answer anyway;
        # refusing outright also keeps a foreign page from starting
        # sessions for its visitors. Fetch Metadata, W3C.
        rejection = Rejection(Reason.CROSS_SITE_REQUEST, got_origin=facts.origin)
        log_rejection(rejection, facts)
        return render_problem_json(rejection, facts)

    body = json.dumps({"token": session.new_csrf_token()}).encode("ascii")
    return RejectionResponse(
        200,
        (
            ("content-type", "application/json"),
            # A token is per session: no shared or browser cache may keep it.
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            # Keeps no-cors embeddings (<script src>, <img>) of another
            # origin from pulling it into their process at all.
            ("cross-origin-resource-policy", "same-origin"),
        ),
        body,
    )


def _script_response(name: str, if_none_match: str | None) -> RejectionResponse:
    source = script_source(name)
    etag = '"' + hashlib.sha256(source).hexdigest()[:32] + '"'
    headers = (
        ("content-type", "text/javascript; charset=utf-8"),  # RFC 9239
        # Revalidated on every load, so an upgrade reaches pages at once.
        ("cache-control", "no-cache"),
        ("etag", etag),
        ("x-content-type-options", "nosniff"),
    )
    if if_none_match is not None and etag in (
        tag.strip() for tag in if_none_match.split(",")
    ):
        return RejectionResponse(304, headers, b"")
    return RejectionResponse(200, headers, source)


def _plain(
    status: HTTPStatus, extra: tuple[tuple[str, str], ...] = ()
) -> RejectionResponse:
    return RejectionResponse(
        status.value,
        (("content-type", "text/plain; charset=utf-8"), *extra),
        status.phrase.encode("ascii"),
    )


def _with_length(response: RejectionResponse) -> tuple[tuple[str, str], ...]:
    if response.status == 304:
        return response.headers
    return (*response.headers, ("content-length", str(len(response.body))))


def _facts(
    method: str, scheme: str, path: str, header: Callable[[str], str | None]
) -> RequestFacts:
    return RequestFacts(
        method=method,
        scheme=scheme,
        host=header("host"),
        path=path,
        origin=header("origin"),
        sec_fetch_site=header("sec-fetch-site"),
        accept=header("accept"),
    )


def _session_in(carrier: Mapping[str, object]) -> Session:
    for key in _SESSION_KEYS:
        session = carrier.get(key)
        if isinstance(session, Session):
            return session
    raise RuntimeError(
        "the client middleware needs forgeproof's SessionMiddleware around it: "
        "SessionMiddleware(ASGIClientMiddleware(CSRFMiddleware(app)), store=...)"
    )


def _asgi_headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name, text = key.decode("latin-1"), value.decode("latin-1")
        # Cookie headers are joined with "; " (RFC 9113 §8.2.3), others ", ".
        joiner = "; " if name == "cookie" else ", "
        headers[name] = f"{headers[name]}{joiner}{text}" if name in headers else text
    return headers


def _cookie_values(header: str | None, name: str | None) -> list[str]:
    if header is None or name is None:
        return []
    return [value for key, value in parse_cookie_header(header) if key == name]
