"""Why a request was refused: stable codes for clients, logs and pages.

The code (the enum's value) is an interface: problem+json carries it as
``reason``, log records carry it, tests assert on it. The human ``detail``
may be reworded at any time.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Reason"]


class Reason(str, Enum):
    """A stable, machine-readable rejection reason."""

    TOKEN_MISSING = "token_missing"
    TOKEN_INVALID = "token_invalid"
    TOKEN_CONFLICT = "token_conflict"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    ORIGIN_NULL = "origin_null"
    CROSS_SITE_REQUEST = "cross_site_request"
    SESSION_MISSING = "session_missing"
    SESSION_COOKIE_AMBIGUOUS = "session_cookie_ambiguous"
    BODY_TOO_LARGE = "body_too_large"
    MALFORMED_BODY = "malformed_body"
    STORE_UNAVAILABLE = "store_unavailable"

    @property
    def detail(self) -> str:
        """A sentence for a person, saying what was wrong and what to do."""
        return _DETAILS[self]

    @property
    def status(self) -> int:
        """The HTTP status a rejection for this reason is sent with."""
        # A store outage is the server's fault, not the client's: 503 tells
        # clients and load balancers to retry rather than give up.
        return 503 if self is Reason.STORE_UNAVAILABLE else 403

    def __str__(self) -> str:
        return self.value


_DETAILS = {
    Reason.TOKEN_MISSING: (
        "The request carries no CSRF token. Send it in the X-CSRF-Token header "
        "or the csrf_token form field."
    ),
    Reason.TOKEN_INVALID: (
        "The CSRF token does not belong to this session. It may come from an "
        "older session (before a login or logout): reload the page and try again."
    ),
    Reason.TOKEN_CONFLICT: "The request carries several different CSRF tokens.",
    Reason.ORIGIN_NOT_ALLOWED: (
        "The request comes from an origin that is not allowed to change state here."
    ),
    Reason.ORIGIN_NULL: (
        "The request's Origin is 'null' (a sandboxed frame, a data: URL or a "
        "privacy redirect) and nothing vouches that it comes from this site."
    ),
    Reason.CROSS_SITE_REQUEST: (
        "The browser reports that this request was started by a page of "
        "another site, or of another origin of this site, that is not trusted."
    ),
    Reason.SESSION_MISSING: (
        "The request has no session, or its session has expired. Load the page "
        "again to get a fresh session and token."
    ),
    Reason.SESSION_COOKIE_AMBIGUOUS: (
        "The request carries the session cookie more than once, which happens "
        "when another site has planted one. Clear this site's cookies."
    ),
    Reason.BODY_TOO_LARGE: (
        "The body is too large to be searched for the CSRF token. Send the token "
        "in the X-CSRF-Token header."
    ),
    Reason.MALFORMED_BODY: (
        "The body could not be read as the form or JSON its Content-Type declares."
    ),
    Reason.STORE_UNAVAILABLE: (
        "The session store is unavailable, so the request cannot be checked. "
        "Try again shortly."
    ),
}
