"""What a refused request gets back: problem+json or a short HTML page.

Neither ever contains a token, secret or session id: only the reason code,
its human detail, and for origin reasons the two origins involved.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from .policy import Rejection, RequestFacts
from .reasons import Reason

__all__ = [
    "RejectionRenderer",
    "RejectionResponse",
    "render_html",
    "render_problem_json",
    "render_rejection",
    "wants_json",
]


@dataclass(frozen=True, slots=True)
class RejectionResponse:
    """A framework-neutral HTTP response, sent by an adapter as it is."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


#: The signature of a custom ``on_reject`` renderer.
RejectionRenderer = Callable[[Rejection, RequestFacts], RejectionResponse]

_COMMON_HEADERS = (
    # A rejection must never be cached and served to someone else.
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
)


def wants_json(facts: RequestFacts) -> bool:
    """Whether the client would rather read JSON than HTML.

    Browsers navigating to a page list ``text/html``; ``fetch()`` sends
    ``*/*`` and API clients name JSON. Only the first get the HTML page.
    """
    accept = (facts.accept or "").lower()
    return "json" in accept or "text/html" not in accept


def render_problem_json(rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
    """An ``application/problem+json`` body (RFC 9457) with a ``reason`` member."""
    if rejection.expected_origin is None and rejection.got_origin is None:
        body = _problem_body(rejection.reason, rejection.message)
    else:
        body = _problem_json(rejection)
    return RejectionResponse(rejection.reason.status, _PROBLEM_HEADERS, body)


# Without origins a problem depends only on the reason and the detail, both
# written by this library or its configuration: worth rendering once. Never
# a request value, so a flood of refusals cannot grow the cache.
@functools.lru_cache(maxsize=32)
def _problem_body(reason: Reason, detail: str) -> bytes:
    return _problem_json(Rejection(reason, detail))


def _problem_json(rejection: Rejection) -> bytes:
    problem: dict[str, object] = {
        "type": f"urn:forgeproof:reason:{rejection.reason.value}",
        "title": "Request rejected"
        if rejection.reason.status == 403
        else "Unavailable",
        "status": rejection.reason.status,
        "detail": rejection.message,
        "reason": rejection.reason.value,
    }
    if rejection.expected_origin is not None:
        problem["expected_origin"] = rejection.expected_origin
    if rejection.got_origin is not None:
        problem["origin"] = rejection.got_origin

    return json.dumps(problem).encode("utf-8")


_PROBLEM_HEADERS = (("content-type", "application/problem+json"), *_COMMON_HEADERS)


# The page's only style, allowed by its hash: the page runs under
# "default-src 'none'", so nothing else can load or execute in it.
_PAGE_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;"
    "padding:0 1rem;color:#1f2933}h1{font-size:1.6rem}"
    "code{background:#eef1f4;padding:0 .3rem;border-radius:3px}"
    "small{color:#52606d}"
)
_PAGE_CSP = "default-src 'none'; style-src 'sha256-{}'".format(
    base64.b64encode(hashlib.sha256(_PAGE_STYLE.encode("ascii")).digest()).decode()
)


_ADVICE_403 = (
    "Nothing was changed. If you did not mean to do this, another site may "
    "have tried to act on your behalf. If you did, go back, reload the page "
    "and try again."
)
_ADVICE_503 = "Go back and try again in a moment."


def render_html(rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
    """A short page that tells a person what happened and what to do."""
    status = rejection.reason.status
    return RejectionResponse(
        status, _HTML_HEADERS, _html_page(rejection.reason, rejection.message)
    )


_HTML_HEADERS = (
    ("content-type", "text/html; charset=utf-8"),
    ("content-security-policy", _PAGE_CSP),
    *_COMMON_HEADERS,
)


# The page shows the reason and the detail only, as _problem_body.
@functools.lru_cache(maxsize=32)
def _html_page(reason: Reason, message: str) -> bytes:
    status = reason.status
    title = "Request blocked" if status == 403 else "Service unavailable"
    lines = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{status} {title}</title>",
        f"<style>{_PAGE_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>{escape(message)}</p>",
        f"<p>{_ADVICE_403 if status == 403 else _ADVICE_503}</p>",
        f"<p><small>Reason: <code>{escape(reason.value)}</code></small></p>",
        "</body></html>",
    ]
    return "\n".join(lines).encode("utf-8")


def render_rejection(rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
    """The default renderer: problem+json or HTML, by :func:`wants_json`."""
    if wants_json(facts):
        return render_problem_json(rejection, facts)
    return render_html(rejection, facts)
