"""The accept/reject decision for one request, free of any framework.

Adapters (``forgeproof.asgi``, ``forgeproof.wsgi``) turn a request into
:class:`RequestFacts`, ask :meth:`CSRFPolicy.precheck`, find the submitted
token if one is needed, and ask :meth:`CSRFPolicy.check_token`. Neither
step does I/O or reads a clock.

The checks run in a fixed order, cheapest and most certain first:

1. safe method (RFC 9110 §9.2.1): accept
2. exempt path or route: accept
3. the session cookie named twice: reject (a planted cookie)
4. bearer credentials and no session cookie: accept (nothing ambient)
5. ``Sec-Fetch-Site`` (W3C Fetch Metadata): cross-site or same-site
   requests are rejected unless their ``Origin`` is trusted
6. ``Origin`` (RFC 6454), or on https the ``Referer``: must be our own
   origin or a trusted one
7. a live server-side session: required (this is what stops login CSRF)
8. the token: present, unambiguous, and a masking of the session's secret
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import Enum

from .errors import ConfigurationError
from .origins import (
    TrustedOrigins,
    normalize_public_origins,
    origin_of_referer,
    own_origin,
)
from .proxies import ProxyHeaders, TrustedProxies
from .reasons import Reason
from .tokens import token_matches

__all__ = [
    "SAFE_METHODS",
    "CSRFPolicy",
    "Rejection",
    "RequestFacts",
    "TokenSource",
    "Verdict",
    "is_safe_method",
]

# RFC 9110 §9.2.1. Methods are case-sensitive (§9.1), so "get" or "Get" is
# an unknown method and therefore checked: an allowlist of what is safe, not
# a denylist of what is not, so WebDAV's PROPPATCH or an invented "PURGE"
# cannot slip through.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

DEFAULT_HEADER_NAME = "X-CSRF-Token"
DEFAULT_FIELD_NAME = "csrf_token"
DEFAULT_SCAN_LIMIT = 1024 * 1024  # bytes of body searched for the token


def is_safe_method(method: str) -> bool:
    """Whether *method* is one of RFC 9110's safe methods, exactly spelled."""
    return method in SAFE_METHODS


class Verdict(Enum):
    """The outcome of :meth:`CSRFPolicy.precheck` when nothing was rejected."""

    ACCEPT = "accept"
    CHECK_TOKEN = "check_token"


class TokenSource(str, Enum):
    """Where a submitted token was found."""

    HEADER = "header"
    FORM = "form"
    JSON = "json"


@dataclass(frozen=True, slots=True, init=False)
class RequestFacts:
    """What the policy needs to know about a request, read by an adapter.

    Header values are as received; a header sent several times arrives
    joined with ``", "`` (RFC 9110 §5.3), which never matches an origin.
    """

    method: str
    scheme: str
    host: str | None
    path: str
    origin: str | None = None
    referer: str | None = None
    sec_fetch_site: str | None = None
    authorization: str | None = None
    session_cookie_count: int = 0
    has_live_session: bool = False
    exempt: bool = False
    accept: str | None = None
    # Read only when the policy trusts proxies (forgeproof.proxies).
    forwarded: str | None = None
    x_forwarded_proto: str | None = None
    x_forwarded_host: str | None = None
    x_forwarded_port: str | None = None

    def __init__(
        self,
        method: str,
        scheme: str,
        host: str | None,
        path: str,
        origin: str | None = None,
        referer: str | None = None,
        sec_fetch_site: str | None = None,
        authorization: str | None = None,
        session_cookie_count: int = 0,
        has_live_session: bool = False,
        exempt: bool = False,
        accept: str | None = None,
        forwarded: str | None = None,
        x_forwarded_proto: str | None = None,
        x_forwarded_host: str | None = None,
        x_forwarded_port: str | None = None,
    ) -> None:
        # Built on every unsafe request. The __init__ a frozen dataclass
        # generates calls object.__setattr__ once per field; calling the
        # slots' own setters does the same at half the cost, and the class
        # stays frozen to everyone else.
        _set_method(self, method)
        _set_scheme(self, scheme)
        _set_host(self, host)
        _set_path(self, path)
        _set_origin(self, origin)
        _set_referer(self, referer)
        _set_sec_fetch_site(self, sec_fetch_site)
        _set_authorization(self, authorization)
        _set_session_cookie_count(self, session_cookie_count)
        _set_has_live_session(self, has_live_session)
        _set_exempt(self, exempt)
        _set_accept(self, accept)
        _set_forwarded(self, forwarded)
        _set_x_forwarded_proto(self, x_forwarded_proto)
        _set_x_forwarded_host(self, x_forwarded_host)
        _set_x_forwarded_port(self, x_forwarded_port)


(
    _set_method,
    _set_scheme,
    _set_host,
    _set_path,
    _set_origin,
    _set_referer,
    _set_sec_fetch_site,
    _set_authorization,
    _set_session_cookie_count,
    _set_has_live_session,
    _set_exempt,
    _set_accept,
    _set_forwarded,
    _set_x_forwarded_proto,
    _set_x_forwarded_host,
    _set_x_forwarded_port,
) = (RequestFacts.__dict__[f.name].__set__ for f in fields(RequestFacts))


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused request: the reason, and what the policy saw.

    ``expected_origin`` and ``got_origin`` are filled for origin reasons, so
    a log line can say what a misconfigured proxy changed. Nothing here is
    ever a token, secret or session id.
    """

    reason: Reason
    detail: str = ""
    expected_origin: str | None = None
    got_origin: str | None = None

    @property
    def message(self) -> str:
        """The detail for people: the specific one if set, else the reason's."""
        return self.detail or self.reason.detail


@dataclass(frozen=True, slots=True)
class CSRFPolicy:
    """The CSRF settings of an app, shared by the ASGI and WSGI adapters.

    :param trusted_origins: origins besides the app's own whose unsafe
        requests are accepted (with a valid token still required). Each must
        be a full ``scheme://host[:port]``; see :class:`TrustedOrigins`.
    :param exempt_paths: paths whose unsafe requests are not checked at all,
        matched exactly, or by prefix when the entry ends in ``/``. An exempt
        path is open to CSRF: keep it for endpoints that authenticate some
        other way (a signed webhook).
    :param header_name: the request header that carries the token.
    :param extra_header_names: further headers that may carry it, such as
        ``X-XSRF-TOKEN`` for the SPA convention (:mod:`forgeproof.client`).
        Only the first of :attr:`header_names` that a request carries is
        read. Any header is as safe as another: another origin cannot set
        one without a CORS preflight we never approve.
    :param field_name: the form field or top-level JSON key that carries it.
    :param scan_limit: how many body bytes may be searched for the token; a
        token beyond that is not found.
    :param public_origins: the app's own origins, as browsers address it
        (``https://app.example.com``). When given, they replace the origin
        read from the request, which a reverse proxy may have rewritten.
    :param proxies: how many reverse proxies to believe about the scheme
        and host the browser used; see :class:`TrustedProxies`. ``None``
        (the default) ignores every forwarding header.
    """

    trusted_origins: TrustedOrigins = field(default_factory=TrustedOrigins)
    exempt_paths: tuple[str, ...] = ()
    header_name: str = DEFAULT_HEADER_NAME
    field_name: str = DEFAULT_FIELD_NAME
    scan_limit: int = DEFAULT_SCAN_LIMIT
    extra_header_names: tuple[str, ...] = ()
    public_origins: tuple[str, ...] = ()
    proxies: TrustedProxies | None = None

    @property
    def header_names(self) -> tuple[str, ...]:
        """Every header that may carry the token, in the order they are read."""
        return (self.header_name, *self.extra_header_names)

    def __post_init__(self) -> None:
        for path in self.exempt_paths:
            if not path.startswith("/"):
                raise ConfigurationError(f"exempt path {path!r} must start with '/'")
            if path == "/":
                raise ConfigurationError(
                    "exempting '/' would switch CSRF protection off everywhere"
                )
        if self.scan_limit < 1024:
            raise ConfigurationError("scan_limit must be at least 1024 bytes")
        public = normalize_public_origins(self.public_origins)
        object.__setattr__(self, "public_origins", public)

    @classmethod
    def build(
        cls,
        *,
        trusted_origins: Iterable[str] = (),
        exempt_paths: Iterable[str] = (),
        header_name: str = DEFAULT_HEADER_NAME,
        field_name: str = DEFAULT_FIELD_NAME,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
        extra_header_names: Iterable[str] = (),
        public_origins: Iterable[str] = (),
        trusted_proxies: int = 0,
        proxy_headers: ProxyHeaders = "x-forwarded",
    ) -> CSRFPolicy:
        """Make a policy from plain strings, validating them.

        ``trusted_proxies`` and ``proxy_headers`` make :attr:`proxies`; 0
        proxies (the default) means forwarding headers are never read.
        """
        proxies = None
        if trusted_proxies:
            proxies = TrustedProxies(trusted_proxies, proxy_headers)
        return cls(
            public_origins=normalize_public_origins(public_origins),
            proxies=proxies,
            trusted_origins=TrustedOrigins(trusted_origins),
            exempt_paths=tuple(exempt_paths),
            header_name=header_name,
            field_name=field_name,
            scan_limit=scan_limit,
            extra_header_names=tuple(extra_header_names),
        )

    def path_is_exempt(self, path: str) -> bool:
        """Whether *path* falls under an exempt entry."""
        if not self.exempt_paths:
            return False

        # "/hooks/../transfer" starts with "/hooks/", but a framework that
        # resolves dot segments after us would route it to /transfer.
        segments = path.split("/")
        if "." in segments or ".." in segments:
            return False
        return any(
            path == entry or (entry.endswith("/") and path.startswith(entry))
            for entry in self.exempt_paths
        )

    def check_handshake(self, facts: RequestFacts) -> Rejection | None:
        """Check a WebSocket handshake: its origin only, as it has no token.

        Origin and Fetch Metadata apply as to an unsafe request; a handshake
        with the session cookie twice is refused as ambiguous.
        """
        if facts.exempt or self.path_is_exempt(facts.path):
            return None
        if facts.session_cookie_count > 1:
            return Rejection(Reason.SESSION_COOKIE_AMBIGUOUS)
        return self._check_origin(facts)

    def precheck(self, facts: RequestFacts) -> Verdict | Rejection:
        """Decide what can be decided before the token is looked for."""
        if is_safe_method(facts.method) or facts.exempt:
            return Verdict.ACCEPT
        if self.path_is_exempt(facts.path):
            return Verdict.ACCEPT

        if facts.session_cookie_count > 1:
            # Our cookie is host-only; a duplicate was set by a sibling
            # subdomain or over plain http (cookie tossing), and we cannot
            # tell which one the browser meant.
            return Rejection(Reason.SESSION_COOKIE_AMBIGUOUS)

        if facts.session_cookie_count == 0 and _is_bearer(facts.authorization):
            # Browsers never attach a bearer token on their own, so a forged
            # request cannot carry one. Basic and Digest credentials, by
            # contrast, are cached and replayed by the browser: not exempt.
            return Verdict.ACCEPT

        origin_rejection = self._check_origin(facts)
        if origin_rejection is not None:
            return origin_rejection

        if not facts.has_live_session:
            # Without a session there is no secret to check against. Refusing
            # here, instead of treating the request as anonymous, is what
            # stops login CSRF: the victim's browser logging in as the
            # attacker.
            return Rejection(Reason.SESSION_MISSING)

        return Verdict.CHECK_TOKEN

    def needs_only_the_token(
        self,
        *,
        method: str,
        path: str,
        scheme: str,
        host: str | None,
        origin: str | None,
        sec_fetch_site: str | None,
        session_cookie_count: int,
        has_live_session: bool,
        exempt: bool,
    ) -> bool:
        """Whether :meth:`precheck` would answer ``Verdict.CHECK_TOKEN``,
        told from the few headers of the everyday request: our own page's
        form or ``fetch()``, one session cookie, ``Origin`` our own.

        ``False`` says only "not that case": ask :meth:`precheck`, which
        decides every request. This answers nothing else, so it can never
        accept or refuse on its own; a test checks it against
        :meth:`precheck` over generated requests.
        """
        if (
            self.proxies is not None
            or session_cookie_count != 1
            or not has_live_session
            or exempt
            or origin is None
            or is_safe_method(method)
        ):
            return False
        # Exactly what the browser sends for its own pages; any other
        # spelling takes the long way.
        if sec_fetch_site is not None and sec_fetch_site != "same-origin":
            return False
        if self.path_is_exempt(path):
            return False
        if self.public_origins:
            return origin in self.public_origins
        # "null" and a joined duplicate never equal a serialised origin.
        return origin == own_origin(scheme, host)

    def check_token(
        self, submitted: list[str], secret: bytes | None
    ) -> Rejection | None:
        """Check the token values found in the request against *secret*.

        :param submitted: every value found (several header values, or
            several fields); empty if none.
        """
        if not submitted:
            return Rejection(
                Reason.TOKEN_MISSING,
                f"The request carries no CSRF token. Send it in the "
                f"{self.header_name} header or the {self.field_name} form field.",
            )
        if len(submitted) > 1 and len(set(submitted)) > 1:
            return Rejection(Reason.TOKEN_CONFLICT)
        if secret is None or not token_matches(submitted[0], secret):
            return Rejection(Reason.TOKEN_INVALID)
        return None

    def own_origins(self, facts: RequestFacts) -> tuple[str, ...]:
        """The origins that count as the app's own for this request.

        The configured :attr:`public_origins` if any; otherwise the one the
        request was addressed to, from its scheme and ``Host``, or from what
        the trusted :attr:`proxies` received. Empty when that is unusable,
        so no ``Origin`` matches it: fail closed.
        """
        if self.public_origins:
            return self.public_origins

        scheme, host = facts.scheme, facts.host
        if self.proxies is not None:
            scheme, host = self.proxies.resolve(
                scheme,
                host,
                forwarded=facts.forwarded,
                x_forwarded_proto=facts.x_forwarded_proto,
                x_forwarded_host=facts.x_forwarded_host,
                x_forwarded_port=facts.x_forwarded_port,
            )
        origin = own_origin(scheme, host)
        return () if origin is None else (origin,)

    def _check_origin(self, facts: RequestFacts) -> Rejection | None:
        own = self.own_origins(facts)
        expected = ", ".join(own) or None
        origin = facts.origin
        site = (facts.sec_fetch_site or "").strip().lower()

        if site in ("cross-site", "same-site") and origin not in self.trusted_origins:
            # Fetch Metadata (https://w3c.github.io/webappsec-fetch-metadata/):
            # the browser itself says another site, or a sibling subdomain,
            # started this request. Only a trusted Origin may do that.
            return Rejection(
                Reason.CROSS_SITE_REQUEST, expected_origin=expected, got_origin=origin
            )

        if origin is None:
            return self._check_referer(facts, own)

        if origin == "null":
            # RFC 6454 §7.3: sandboxed iframes, data: URLs and some redirects
            # send "null", which an attacker can produce at will. Only the
            # browser's own same-origin claim can vouch for it.
            if site == "same-origin":
                return None
            return Rejection(Reason.ORIGIN_NULL, expected_origin=expected)

        if origin in own or origin in self.trusted_origins:
            return None
        return Rejection(
            Reason.ORIGIN_NOT_ALLOWED, expected_origin=expected, got_origin=origin
        )

    def _check_referer(
        self, facts: RequestFacts, own: tuple[str, ...]
    ) -> Rejection | None:
        # With no Origin, a Referer that names another origin is positive
        # evidence of a foreign page. Only on https, where it is reliably
        # sent; its absence alone proves nothing (privacy settings strip it).
        # Behind a TLS proxy the app sees http, but its own origin says https.
        https = facts.scheme == "https" or any(o.startswith("https:") for o in own)
        if not https or not facts.referer:
            return None

        referer_origin = origin_of_referer(facts.referer)
        if referer_origin in own or referer_origin in self.trusted_origins:
            return None
        return Rejection(
            Reason.ORIGIN_NOT_ALLOWED,
            detail="The Referer names a page of another origin.",
            expected_origin=", ".join(own) or None,
            got_origin=referer_origin,
        )


def _is_bearer(authorization: str | None) -> bool:
    if not authorization:
        return False
    scheme, _, credentials = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and bool(credentials.strip())
