"""ASGI middleware: server-side sessions and CSRF protection.

Use them as a pair, sessions outside::

    app = SessionMiddleware(CSRFMiddleware(app), store=SQLiteSessionStore("s.db"))

or in Starlette, ``middleware=[Middleware(SessionMiddleware, store=...),
Middleware(CSRFMiddleware)]``. The session appears as ``scope["session"]``,
so Starlette's ``request.session`` works unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from ._adapter import (
    HeaderLookup,
    OutageLog,
    request_facts,
    token_verdict,
    verdict_after_precheck,
)
from ._bodyscan import BodyScanner, body_kind
from ._caching import cache_headers_raw
from ._logging import log_rejection
from .decisions import DecisionCallback, DecisionLog
from .errors import StoreUnavailableError
from .policy import (
    DEFAULT_FIELD_NAME,
    DEFAULT_HEADER_NAME,
    DEFAULT_SCAN_LIMIT,
    SAFE_METHODS,
    CSRFPolicy,
    Rejection,
    RequestFacts,
    Verdict,
    is_safe_method,
)
from .proxies import ProxyHeaders
from .reasons import Reason
from .responses import RejectionRenderer, RejectionResponse, render_rejection
from .sessions.base import (
    AsyncSessionStore,
    Session,
    SessionConfig,
    SessionWrite,
    find_session_cookie_in_header,
    open_session,
    store_key,
)
from .types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSRFMiddleware", "SessionMiddleware"]

# The page that opens a WebSocket has an http(s) origin.
_HANDSHAKE_SCHEMES = {"ws": "http", "wss": "https"}


class SessionMiddleware:
    """Loads the server-side session named by the cookie into
    ``scope["session"]`` and writes it back when the response starts.

    A visitor who never touches the session gets no cookie and costs the
    store nothing. When the store fails, unsafe requests are refused with
    503 (the CSRF check could not run) and the app is not called; safe ones
    see an empty session. A response whose session changes cannot be
    saved is replaced by the same 503, so no page goes out with a token or
    a login that did not stick. The first failure logs one ERROR on
    ``forgeproof.sessions``; the first success after it, one WARNING.

    :param store: any :class:`~forgeproof.sessions.AsyncSessionStore`.
    :param config: cookie and timeout settings.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: AsyncSessionStore,
        config: SessionConfig | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.config = config or SessionConfig()
        self._outages = OutageLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        scheme = scope.get("scheme", "http")
        session_id, count = find_session_cookie_in_header(
            self.config, scheme, _cookie_header(scope["headers"])
        )
        record = None
        load_failed = False
        if session_id is not None:
            try:
                record = await self.store.aload(store_key(session_id))
            except StoreUnavailableError:
                load_failed = True
                self._outages.outage()
                if scope["type"] == "http" and not is_safe_method(scope["method"]):
                    await _send_rejection(
                        scope, send, Rejection(Reason.STORE_UNAVAILABLE)
                    )
                    return
            else:
                self._outages.recovery()

        session = open_session(self.config, session_id, record, count)
        scope["session"] = session
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        refused = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                write = session.plan_write(self.config, scheme)
                # A session loaded as empty because the store failed must
                # not be saved: that would replace the visitor's real one.
                if write is not None and (load_failed or not await self._write(write)):
                    refused = True
                    rejection = Rejection(Reason.STORE_UNAVAILABLE)
                    await _send_rejection(scope, send, rejection)
                    return
                headers = list(message.get("headers", []))
                cookie = write.set_cookie if write is not None else None
                if cookie is not None:
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                # Vary: Cookie / Cache-Control: private, no-store (_caching).
                message["headers"] = cache_headers_raw(
                    session, headers, sets_cookie=cookie is not None
                )
            elif refused:
                return  # the app's body belongs to the response we replaced
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _write(self, write: SessionWrite) -> bool:
        try:
            await write.aperform(self.store)
        except StoreUnavailableError:
            self._outages.outage()
            return False

        self._outages.recovery()
        return True


class CSRFMiddleware:
    """Refuses unsafe requests that do not carry the session's token.

    Must run inside :class:`SessionMiddleware`. The token is looked for in
    the ``X-CSRF-Token`` header, then in the ``csrf_token`` field of a form
    body or the top-level key of a JSON body; the query string never
    counts. When the body is searched, the app still receives every byte.

    :param trusted_origins: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param exempt_paths: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param extra_header_names: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param is_exempt: a per-request exemption hook, for integrations that
        mark routes exempt. It weakens protection exactly where it answers
        ``True``.
    :param on_reject: renders the refusal; the default sends problem+json
        to API clients and an HTML page to browsers.
    :param policy: a ready :class:`CSRFPolicy`, instead of the keywords.
    :param public_origins: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param trusted_proxies: how many reverse proxies to believe about the
        scheme and host (0: none), and *proxy_headers* which headers they
        write; see :class:`~forgeproof.proxies.TrustedProxies`.
    :param report_only: log and count rejections but never block; see
        :class:`~forgeproof.decisions.DecisionLog`.
    :param on_decision: called with every decision on an unsafe request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_origins: Iterable[str] = (),
        exempt_paths: Iterable[str] = (),
        header_name: str = DEFAULT_HEADER_NAME,
        extra_header_names: Iterable[str] = (),
        field_name: str = DEFAULT_FIELD_NAME,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
        is_exempt: Callable[[Scope], bool] | None = None,
        on_reject: RejectionRenderer | None = None,
        policy: CSRFPolicy | None = None,
        public_origins: Iterable[str] = (),
        trusted_proxies: int = 0,
        proxy_headers: ProxyHeaders = "x-forwarded",
        report_only: bool = False,
        on_decision: DecisionCallback | None = None,
    ) -> None:
        self.app = app
        self.policy = policy or CSRFPolicy.build(
            trusted_origins=trusted_origins,
            exempt_paths=exempt_paths,
            header_name=header_name,
            field_name=field_name,
            scan_limit=scan_limit,
            extra_header_names=extra_header_names,
            public_origins=public_origins,
            trusted_proxies=trusted_proxies,
            proxy_headers=proxy_headers,
        )
        self.is_exempt = is_exempt
        self.on_reject = on_reject or render_rejection
        self.decisions = DecisionLog(report_only=report_only, on_decision=on_decision)
        self._header_keys = [
            name.lower().encode("latin-1") for name in self.policy.header_names
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._guard_handshake(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # Checked on every request, GET included, so a stack built without
        # sessions fails on its first page rather than on its first form.
        session = scope.get("session")
        if not isinstance(session, Session):
            raise RuntimeError(
                "CSRFMiddleware needs forgeproof's SessionMiddleware around it: "
                "SessionMiddleware(CSRFMiddleware(app), store=...)"
            )
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        headers = _raw_headers(scope)
        exempt = self.is_exempt is not None and self.is_exempt(scope)
        # RequestFacts is built only when something reads it: the precheck
        # of an unusual request, a rejection, an on_decision callback.
        facts = None
        if self._needs_only_the_token(scope, headers, session, exempt):
            verdict: Verdict | Rejection = Verdict.CHECK_TOKEN
        else:
            facts = self._facts(scope, headers, session, exempt)
            verdict = self.policy.precheck(facts)
        verdict = verdict_after_precheck(
            self.policy, verdict, session, self._token_header(headers)
        )
        if verdict is Verdict.CHECK_TOKEN:
            content_type = _text(headers.get(b"content-type"))
            scanned = await self._scan_body(content_type, receive)
            if scanned is None:
                return  # the client went away mid-body; nothing to answer
            receive, tokens, problem = scanned
            verdict = token_verdict(self.policy, session, tokens, problem)

        if not isinstance(verdict, Rejection):
            if self.decisions.on_decision is not None:
                facts = facts or self._facts(scope, headers, session, exempt)
                self.decisions.accept(facts)  # nothing to do without a callback
        elif await self._reject(
            send, verdict, facts or self._facts(scope, headers, session, exempt)
        ):
            return
        # In report-only mode too: receive replays any body bytes scanned.
        await self.app(scope, receive, send)

    def _needs_only_the_token(
        self, scope: Scope, headers: dict[bytes, bytes], session: Session, exempt: bool
    ) -> bool:
        """:meth:`CSRFPolicy.needs_only_the_token`: the everyday request's
        precheck, from three headers instead of the whole RequestFacts."""
        return self.policy.needs_only_the_token(
            method=scope["method"],
            path=scope.get("path", ""),
            scheme=scope.get("scheme", "http"),
            host=_text(headers.get(b"host")),
            origin=_text(headers.get(b"origin")),
            sec_fetch_site=_text(headers.get(b"sec-fetch-site")),
            session_cookie_count=session.cookie_count,
            has_live_session=not session.is_new,
            exempt=exempt,
        )

    def _token_header(self, headers: dict[bytes, bytes]) -> str | None:
        """The first of the policy's token headers that the request has."""
        for key in self._header_keys:
            value = headers.get(key)
            if value is not None:
                return value.decode("latin-1")
        return None

    def _facts(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        session: Session,
        exempt: bool,
    ) -> RequestFacts:
        """:func:`~forgeproof._adapter.request_facts` of an HTTP request
        with a session, inlined: every rejection builds it."""
        get = headers.get
        # Keywords, not positions: many fields are str | None, and a swapped
        # Origin and Referer would type-check.
        return RequestFacts(
            method=scope["method"],
            scheme=scope.get("scheme", "http"),
            host=_text(get(b"host")),
            path=scope.get("path", ""),
            origin=_text(get(b"origin")),
            referer=_text(get(b"referer")),
            sec_fetch_site=_text(get(b"sec-fetch-site")),
            authorization=_text(get(b"authorization")),
            session_cookie_count=session.cookie_count,
            has_live_session=not session.is_new,
            exempt=exempt,
            accept=_text(get(b"accept")),
            forwarded=_text(get(b"forwarded")),
            x_forwarded_proto=_text(get(b"x-forwarded-proto")),
            x_forwarded_host=_text(get(b"x-forwarded-host")),
            x_forwarded_port=_text(get(b"x-forwarded-port")),
        )

    async def _guard_handshake(
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        # Cross-site WebSocket hijacking: a handshake is a GET that carries
        # the session cookie and is exempt from CORS, and the socket it opens
        # can act as the user. The browser always sends Origin on it, so that
        # is what decides; a client without one is not a browser.
        session = scope.get("session")
        facts = request_facts(
            method="GET",
            scheme=_HANDSHAKE_SCHEMES.get(scope.get("scheme", "ws"), "http"),
            path=scope.get("path", ""),
            header=_lookup(_raw_headers(scope)),
            session=session
            if isinstance(session, Session)
            else Session(None, None, now=0),
            exempt=self.is_exempt is not None and self.is_exempt(scope),
        )
        rejection = self.policy.check_handshake(facts)
        if rejection is None or not self.decisions.reject(rejection, facts):
            await self.app(scope, receive, send)
            return

        # Closing before accepting makes the server answer the handshake with
        # 403 (ASGI spec, websocket.close).
        await send({"type": "websocket.close", "code": 1008})

    async def _scan_body(
        self, content_type: str | None, receive: Receive
    ) -> tuple[Receive, list[str], Rejection | None] | None:
        """Read just enough body to find the token.

        Returns a ``receive`` that replays what was read and then continues
        with the rest, the token values found, and any problem with the
        body; ``None`` if the client disconnected.
        """
        kind = body_kind(content_type)
        if kind is None:
            return receive, [], None  # no token anywhere: check_token says so

        scanner = BodyScanner(
            content_type,
            kind,
            self.policy.field_name,
            self.policy.scan_limit,
            header_name=self.policy.header_name,
        )
        read: deque[Message] = deque()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            read.append(message)
            if not message.get("more_body", False):
                scanner.feed_last(message.get("body", b""))
                break
            if scanner.feed(message.get("body", b"")):
                break

        return _replay(read, receive), scanner.tokens, scanner.rejection

    async def _reject(
        self, send: Send, rejection: Rejection, facts: RequestFacts
    ) -> bool:
        """Refuse the request, or in report-only mode only log and count
        it; return whether it was refused."""
        if not self.decisions.reject(rejection, facts):
            return False
        await _send_response(send, self.on_reject(rejection, facts))
        return True


def _replay(read: deque[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands back the messages read during the scan,
    then the server's own ``receive``.

    Once the scanned messages are out, each call returns the server's
    awaitable as it is: no extra coroutine per message. A plain closure,
    because the rest of an upload pays this call once per 64 KiB message,
    and an instance's ``__call__`` costs twice as much.
    """

    def replay() -> Awaitable[Message]:
        if read:
            return _ready(read.popleft())
        return receive()

    return replay


async def _ready(message: Message) -> Message:
    return message


async def _send_rejection(scope: Scope, send: Send, rejection: Rejection) -> None:
    facts = request_facts(
        method=scope["method"],
        scheme=scope.get("scheme", "http"),
        path=scope.get("path", ""),
        header=_lookup(_raw_headers(scope)),
    )
    log_rejection(rejection, facts)
    await _send_response(send, render_rejection(rejection, facts))


async def _send_response(send: Send, response: RejectionResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    await send(
        {"type": "http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": response.body})


def _cookie_header(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's ``Cookie`` header, decoded; two read as one, since
    pairs are split at ";" either way."""
    return b"; ".join([value for key, value in headers if key == b"cookie"]).decode(
        "latin-1"
    )


def _raw_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request headers by (lower-case) name, a repeated one's values
    joined with ", " (RFC 9110 §5.3); nothing decoded."""
    pairs = scope["headers"]
    if not isinstance(pairs, list | tuple):
        pairs = list(pairs)
    headers = dict(pairs)
    if len(headers) == len(pairs):
        return headers  # no name repeated: the usual request, built in C

    # Joined once per name: joining repeat by repeat would copy the value
    # so far each time, quadratic in a header sent thousands of times.
    repeats: dict[bytes, list[bytes]] = {}
    for key, value in pairs:
        repeats.setdefault(key, []).append(value)
    return {key: b", ".join(values) for key, values in repeats.items()}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _lookup(headers: dict[bytes, bytes]) -> HeaderLookup:
    """A :data:`~forgeproof._adapter.HeaderLookup` over raw headers."""

    def header(name: str) -> str | None:
        return _text(headers.get(name.encode("latin-1")))

    return header
