"""Translation shared by the ASGI and WSGI adapters.

Each adapter reads its request its own way and hands the header lookup to
:func:`request_facts`; everything after that is the policy's business, asked
in the same order by both through :func:`verdict_before_body` and
:func:`token_verdict`. The store-outage bookkeeping is here too, so both log
an outage the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from ._logging import sessions_logger
from .policy import CSRFPolicy, Rejection, RequestFacts, Verdict
from .sessions.base import Session

__all__ = [
    "OutageLog",
    "header_tokens",
    "request_facts",
    "token_verdict",
    "verdict_after_precheck",
    "verdict_before_body",
]

#: Looks up a request header by its lower-case name; repeats joined by ", ".
HeaderLookup = Callable[[str], "str | None"]


def request_facts(
    *,
    method: str,
    scheme: str,
    path: str,
    header: HeaderLookup,
    session: Session | None = None,
    exempt: bool = False,
) -> RequestFacts:
    """The :class:`RequestFacts` of a request, whatever the server interface.

    Without a *session* (a WebSocket handshake outside the session
    middleware, or a store that is down) the request counts as having no
    session cookie and no live session.
    """
    return RequestFacts(
        method=method,
        scheme=scheme,
        host=header("host"),
        path=path,
        origin=header("origin"),
        referer=header("referer"),
        sec_fetch_site=header("sec-fetch-site"),
        authorization=header("authorization"),
        session_cookie_count=session.cookie_count if session is not None else 0,
        has_live_session=session is not None and not session.is_new,
        exempt=exempt,
        accept=header("accept"),
        forwarded=header("forwarded"),
        x_forwarded_proto=header("x-forwarded-proto"),
        x_forwarded_host=header("x-forwarded-host"),
        x_forwarded_port=header("x-forwarded-port"),
    )


def header_tokens(value: str) -> list[str]:
    """The token values of a token header; a header sent twice arrives
    joined with ", ", and two different values are a conflict, not a pick."""
    if "," not in value:
        return [value.strip()]  # the usual case, without a split
    return [part.strip() for part in value.split(",")]


def verdict_before_body(
    policy: CSRFPolicy,
    facts: RequestFacts,
    session: Session,
    header_value: str | None,
) -> Verdict | Rejection:
    """Decide what can be decided without reading the body: the precheck,
    then the token header if one came.

    ``Verdict.CHECK_TOKEN`` means the token must come from the body; the
    adapter scans it and asks :func:`token_verdict`.
    """
    return verdict_after_precheck(policy, policy.precheck(facts), session, header_value)


def verdict_after_precheck(
    policy: CSRFPolicy,
    verdict: Verdict | Rejection,
    session: Session,
    header_value: str | None,
) -> Verdict | Rejection:
    """:func:`verdict_before_body` for an adapter that has the precheck's
    *verdict* already (from :meth:`CSRFPolicy.needs_only_the_token`)."""
    if verdict is not Verdict.CHECK_TOKEN or header_value is None:
        return verdict

    # The header wins and the body is never read: a 50 MB upload costs
    # nothing to check.
    return token_verdict(policy, session, header_tokens(header_value))


def token_verdict(
    policy: CSRFPolicy,
    session: Session,
    tokens: list[str],
    problem: Rejection | None = None,
) -> Verdict | Rejection:
    """``Verdict.ACCEPT`` or the rejection for the token values a request
    carried; *problem* is what the body scan already found wrong, if any."""
    if problem is None:
        # Reading the secret must not create one: no secret, no valid token.
        secret = session.csrf_secret if session.has_csrf_secret else None
        problem = policy.check_token(tokens, secret)

    return Verdict.ACCEPT if problem is None else problem


class OutageLog:
    """One ERROR when the session store goes down, one WARNING when it is
    back: an outage under load must not write a line per request."""

    __slots__ = ("_down",)

    def __init__(self) -> None:
        self._down = False

    def outage(self) -> None:
        """Record a failed store call; call it inside the ``except`` block."""
        if not self._down:
            self._down = True
            sessions_logger.error("session store unavailable", exc_info=True)

    def recovery(self) -> None:
        """Record a successful store call."""
        if self._down:
            self._down = False
            sessions_logger.warning("session store available again")
