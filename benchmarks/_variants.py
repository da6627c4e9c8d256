"""The apps under test and the requests each scenario sends them.

Every protected variant gets its own valid request: its own cookie, its own
token, its own field and header names, taken from a real first visit. So
every variant does the real work of accepting (or, in the rejection
scenario, refusing) a request, never a shortcut through a missing cookie.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _driver import ORIGIN, ASGICall, Request, Response, WSGICall

MB = 1024 * 1024
BOUNDARY = "----benchboundary7MA4YWxkTrZu0gW"


@dataclass
class Variant:
    name: str
    framework: str  # "Starlette", "Flask" or "Django"
    protocol: str  # "asgi" or "wsgi"
    make_app: Callable[[], Any] | None
    field_name: str | None = None  # token form field; None: header only
    header: str = ""
    bare: bool = False
    token_in_cookie: bool = False  # double submit: the token is the cookie
    checks: bool = True  # False: sets cookies but checks no token
    environ: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None
    app: Any = None

    def call(self, request: Request) -> ASGICall | WSGICall:
        if self.app is None:
            assert self.make_app is not None
            self.app = self.make_app()
        if self.protocol == "asgi":
            return ASGICall(self.app, request)
        return WSGICall(self.app, request, **self.environ)


@dataclass
class Credentials:
    cookie: str | None
    token: str


def _missing(module: str) -> str | None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed in this venv"
    return None


def all_variants() -> list[Variant]:
    """Every variant; those that cannot run say why in ``unavailable``."""
    import apps_asgi
    import apps_wsgi

    variants = [
        Variant("bare", "Starlette", "asgi", apps_asgi.starlette_bare, bare=True),
        Variant(
            "forgeproof",
            "Starlette",
            "asgi",
            apps_asgi.starlette_forgeproof,
            field_name="csrf_token",
            header="X-CSRF-Token",
        ),
        Variant(
            "forgeproof sessions only",
            "Starlette",
            "asgi",
            apps_asgi.starlette_forgeproof_sessions,
            field_name="csrf_token",
            header="X-CSRF-Token",
            checks=False,
        ),
        Variant(
            "starlette-csrf",
            "Starlette",
            "asgi",
            apps_asgi.starlette_csrf,
            header="x-csrftoken",
            token_in_cookie=True,
            unavailable=_missing("starlette_csrf"),
        ),
        Variant(
            "asgi-csrf",
            "Starlette",
            "asgi",
            apps_asgi.starlette_asgi_csrf,
            field_name="csrftoken",
            header="x-csrftoken",
            unavailable=_missing("asgi_csrf"),
        ),
        Variant("bare", "Flask", "wsgi", apps_wsgi.flask_bare, bare=True),
        Variant(
            "forgeproof",
            "Flask",
            "wsgi",
            apps_wsgi.flask_forgeproof,
            field_name="csrf_token",
            header="X-CSRF-Token",
            unavailable=apps_wsgi.forgeproof_wsgi_available(),
        ),
        Variant(
            "Flask-WTF",
            "Flask",
            "wsgi",
            apps_wsgi.flask_wtf,
            field_name="csrf_token",
            header="X-CSRFToken",
            unavailable=_missing("flask_wtf"),
        ),
    ]
    django_missing = _missing("django")
    variants += [
        Variant(
            "bare",
            "Django",
            "wsgi",
            _django("bare"),
            bare=True,
            unavailable=django_missing,
        ),
        Variant(
            "CsrfViewMiddleware",
            "Django",
            "wsgi",
            _django("protected"),
            field_name="csrfmiddlewaretoken",
            header="X-CSRFToken",
            environ={"bench.token": True},
            unavailable=django_missing,
        ),
    ]
    return variants


_django_handlers: tuple[Any, Any] | None = None


def _django(which: str) -> Callable[[], Any]:
    def make() -> Any:
        global _django_handlers
        if _django_handlers is None:
            import django_app

            _django_handlers = django_app.handlers()
        return _django_handlers[0 if which == "bare" else 1]

    return make


# -- credentials ---------------------------------------------------------------

_TOKEN_IN_PAGE = re.compile(r'value="([^"]*)"')


async def establish(variant: Variant) -> Credentials:
    """A first visit: the cookie the variant sets and the token it renders."""
    if variant.bare:
        # Same request shape as the protected ones: a cookie and a token.
        return Credentials("sid=" + "s" * 43, "t" * 86)

    response = await run_full(variant.call(Request("GET", "/form")))
    if response.status != 200:
        raise RuntimeError(f"{variant.framework}/{variant.name}: first visit failed")
    jar = response.cookies()
    if not jar:
        raise RuntimeError(f"{variant.framework}/{variant.name}: no cookie set")
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    if variant.token_in_cookie:
        token = next(iter(jar.values()))
    else:
        match = _TOKEN_IN_PAGE.search(response.body.decode())
        if match is None or not match.group(1):
            raise RuntimeError(f"{variant.framework}/{variant.name}: no token in page")
        token = match.group(1)
    return Credentials(cookie, token)


async def run_full(call: ASGICall | WSGICall) -> Response:
    if isinstance(call, ASGICall):
        return await call.full()
    return call.full()


async def run_once(call: ASGICall | WSGICall) -> int:
    if isinstance(call, ASGICall):
        return await call.once()
    return call.once()


# -- scenarios -----------------------------------------------------------------


@dataclass
class Built:
    request: Request
    expect: int
    via_header: bool = False  # the variant cannot read the body: header used


_payload_cache: dict[int, bytes] = {}


def _payload(size: int) -> bytes:
    if size not in _payload_cache:
        _payload_cache.clear()
        _payload_cache[size] = random.Random(size).randbytes(size)
    return _payload_cache[size]


def _base_headers(
    creds: Credentials, content_type: str | None
) -> list[tuple[str, str]]:
    headers = [("accept", "*/*")]
    if content_type is not None:
        headers.append(("content-type", content_type))
    headers += [("origin", ORIGIN), ("sec-fetch-site", "same-origin")]
    if creds.cookie:
        headers.append(("cookie", creds.cookie))
    return headers


def _field_or_header(
    v: Variant, creds: Credentials, headers: list[tuple[str, str]]
) -> tuple[bytes, bool]:
    """The urlencoded token pair to put first in a body, or b"" and the
    token moved to the header for a variant that cannot read bodies."""
    name = v.field_name or "csrf_token"
    if v.field_name is None and not v.bare:
        headers.append((v.header, creds.token))
        return b"", True
    return f"{name}={creds.token}&".encode(), False


def first_visit(v: Variant, creds: Credentials, other: Credentials) -> Built:
    return Built(Request("GET", "/form", [("accept", "text/html")]), 200)


def get_with_session(v: Variant, creds: Credentials, other: Credentials) -> Built:
    headers = [("accept", "text/html")]
    if creds.cookie:
        headers.append(("cookie", creds.cookie))
    return Built(Request("GET", "/form", headers), 200)


def _post_form(v: Variant, creds: Credentials, token_creds: Credentials) -> Built:
    headers = _base_headers(creds, "application/x-www-form-urlencoded")
    pair, via_header = _field_or_header(v, token_creds, headers)
    body = pair + b"title=Hello+world&body=A+short+comment+of+a+few+words."
    headers.append(("content-length", str(len(body))))
    return Built(Request("POST", "/submit", headers, body), 200, via_header)


def post_form(v: Variant, creds: Credentials, other: Credentials) -> Built:
    return _post_form(v, creds, creds)


def post_json(v: Variant, creds: Credentials, other: Credentials) -> Built:
    headers = _base_headers(creds, "application/json")
    headers.append((v.header or "X-CSRF-Token", creds.token))
    body = json.dumps({"title": "Hello world", "body": "A short comment."}).encode()
    headers.append(("content-length", str(len(body))))
    return Built(Request("POST", "/submit", headers, body), 200)


def rejected_post(v: Variant, creds: Credentials, other: Credentials) -> Built:
    """This session's cookie with another session's (well-formed) token."""
    built = _post_form(v, creds, other)
    if v.bare or not v.checks:
        return built
    built.expect = 400 if v.name == "Flask-WTF" else 403
    return built


def _multipart(size: int, token_in_field: bool) -> Callable[..., Built]:
    def build(v: Variant, creds: Credentials, other: Credentials) -> Built:
        headers = _base_headers(creds, f"multipart/form-data; boundary={BOUNDARY}")
        parts = []
        via_header = False
        if token_in_field and (v.field_name is not None or v.bare):
            name = v.field_name or "csrf_token"
            parts.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"'
                f"\r\n\r\n{creds.token}\r\n".encode()
            )
        else:
            headers.append((v.header or "X-CSRF-Token", creds.token))
            via_header = token_in_field
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="upload"; '
            f'filename="data.bin"\r\nContent-Type: application/octet-stream'
            "\r\n\r\n".encode()
        )
        body = b"".join([*parts, _payload(size), f"\r\n--{BOUNDARY}--\r\n".encode()])
        headers.append(("content-length", str(len(body))))
        return Built(Request("POST", "/submit", headers, body), 200, via_header)

    return build


def large_form(v: Variant, creds: Credentials, other: Credentials) -> Built:
    """8 MB urlencoded, token field first, then one big field."""
    headers = _base_headers(creds, "application/x-www-form-urlencoded")
    pair, via_header = _field_or_header(v, creds, headers)
    body = pair + b"data=" + b"a" * (8 * MB)
    headers.append(("content-length", str(len(body))))
    return Built(Request("POST", "/submit", headers, body), 200, via_header)


@dataclass
class Scenario:
    key: str
    title: str
    build: Callable[[Variant, Credentials, Credentials], Built]
    large: bool = False  # measure peak memory; few calls per batch


SCENARIOS = [
    Scenario("first_visit", "first visit (token issued, session created)", first_visit),
    Scenario("get_session", "GET with a session (token rendered)", get_with_session),
    Scenario("post_form", "POST urlencoded, token field", post_form),
    Scenario("post_json", "POST JSON, token header", post_json),
    Scenario("rejected", "rejected POST (another session's token)", rejected_post),
    Scenario(
        "mp10_field",
        "multipart 10 MB, token field first",
        _multipart(10 * MB, True),
        True,
    ),
    Scenario(
        "mp10_header", "multipart 10 MB, token header", _multipart(10 * MB, False), True
    ),
    Scenario(
        "mp50_field",
        "multipart 50 MB, token field first",
        _multipart(50 * MB, True),
        True,
    ),
    Scenario(
        "mp50_header", "multipart 50 MB, token header", _multipart(50 * MB, False), True
    ),
    Scenario("form8mb", "urlencoded 8 MB, token field first", large_form, True),
]
