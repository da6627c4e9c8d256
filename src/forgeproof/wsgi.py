"""WSGI middleware: server-side sessions and CSRF protection.

The twin of :mod:`forgeproof.asgi`, with the same options, decisions,
reasons, rejection pages and log lines. Use them as a pair, sessions
outside::

    app.wsgi_app = SessionMiddleware(
        CSRFMiddleware(app.wsgi_app), store=SQLiteSessionStore("s.db")
    )

The session appears as ``environ["forgeproof.session"]``. Flask users want
:class:`forgeproof.integrations.flask.CSRFProtect`, which does this and
makes the session Flask's ``session``.
"""

from __future__ import annotations

import io
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any

from ._adapter import OutageLog, request_facts, token_verdict, verdict_after_precheck
from ._bodyscan import BodyScanner, body_kind
from ._caching import cache_headers
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
    Session,
    SessionConfig,
    SessionStore,
    SessionWrite,
    find_session_cookie_in_header,
    open_session,
    store_key,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "CSRFMiddleware", "SessionMiddleware"]

#: Where :class:`SessionMiddleware` puts the request's :class:`Session`.
ENVIRON_KEY = "forgeproof.session"

# How much of wsgi.input is read at a time while looking for the token.
_READ_SIZE = 64 * 1024


class SessionMiddleware:
    """Loads the server-side session named by the cookie into
    ``environ["forgeproof.session"]`` and writes it back when the app
    starts its response.

    A visitor who never touches the session gets no cookie and costs the
    store nothing. When the store fails, unsafe requests are refused with
    503 (the CSRF check could not run) and the app is not called; safe ones
    see an empty session. A response whose session changes cannot be
    saved is replaced by the same 503, so no page goes out with a token or
    a login that did not stick. The first failure logs one ERROR on
    ``forgeproof.sessions``; the first success after it, one WARNING.

    :param store: any :class:`~forgeproof.sessions.SessionStore`.
    :param config: cookie and timeout settings.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        store: SessionStore,
        config: SessionConfig | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.config = config or SessionConfig()
        self._outages = OutageLog()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        scheme = environ.get("wsgi.url_scheme", "http")
        session_id, count = _session_cookie(
            self.config, scheme, environ.get("HTTP_COOKIE", "")
        )
        record = None
        load_failed = False
        if session_id is not None:
            try:
                record = self.store.load(store_key(session_id))
            except StoreUnavailableError:
                load_failed = True
                self._outages.outage()
                if not is_safe_method(environ.get("REQUEST_METHOD", "GET")):
                    return _refuse_unavailable(environ, start_response)
            else:
                self._outages.recovery()

        session = open_session(self.config, session_id, record, count)
        environ[ENVIRON_KEY] = session
        state = _ResponseState()

        def start_with_cookie(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: OptExcInfo | None = None,
        ) -> Callable[[bytes], object]:
            # A second call (with exc_info, after an error) replaces the
            # headers; the session was written on the first.
            if not state.started:
                state.started = True
                write = session.plan_write(self.config, scheme)
                # A session loaded as empty because the store failed must
                # not be saved: that would replace the visitor's real one.
                if write is not None and (load_failed or not self._write(write)):
                    state.refusal = _refuse_unavailable(environ, start_response)
                    return _discard
                if write is not None and write.set_cookie is not None:
                    state.cookie = write.set_cookie
            if state.refusal is not None:
                return _discard
            if state.cookie is not None:
                headers = [*headers, ("Set-Cookie", state.cookie)]
            # Vary: Cookie / Cache-Control: private, no-store (_caching).
            headers = cache_headers(
                session, headers, sets_cookie=state.cookie is not None
            )
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        result = self.app(environ, start_with_cookie)
        if not state.started:
            # The app starts its response lazily, on the first iteration.
            return _Guarded(result, state)
        if state.refusal is not None:
            _close(result)
            return state.refusal
        return result

    def _write(self, write: SessionWrite) -> bool:
        try:
            write.perform(self.store)
        except StoreUnavailableError:
            self._outages.outage()
            return False

        self._outages.recovery()
        return True


def _session_cookie(
    config: SessionConfig, scheme: str, header: str
) -> tuple[str | None, int]:
    """The session id and how often the cookie was named, from HTTP_COOKIE.

    A server joins repeated Cookie headers with ", " (waitress does), but
    browsers also store and send a comma inside a value (RFC 6265bis §5.7
    cuts pairs at ";" only): a sibling subdomain can set
    ``theme=x, <our name>=<its id>``. So the id comes only from the text
    before the first ", "; what follows still counts towards "named twice",
    which makes a planted duplicate ambiguous instead of the session.
    """
    first, joined, rest = header.partition(", ")
    session_id, count = find_session_cookie_in_header(config, scheme, first)
    if joined:
        _, more = find_session_cookie_in_header(
            config, scheme, rest.replace(", ", "; ")
        )
        count += more
    return session_id, count


class _ResponseState:
    __slots__ = ("cookie", "refusal", "started")

    def __init__(self) -> None:
        self.started = False
        self.cookie: str | None = None
        self.refusal: Iterable[bytes] | None = None


class _Guarded:
    """The app's body, unless the session could not be saved when the
    response started: then the 503 that replaced it.

    A class rather than a generator: the server calls ``close()`` even if it
    never iterates, and the app's own ``close()`` must run then too
    (PEP 3333).
    """

    __slots__ = ("_result", "_state")

    def __init__(self, result: Iterable[bytes], state: _ResponseState) -> None:
        self._result = result
        self._state = state

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._result:
            if self._state.refusal is not None:
                break
            yield chunk
        if self._state.refusal is not None:
            yield from self._state.refusal

    def close(self) -> None:
        _close(self._result)


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


def _discard(data: bytes) -> None:
    """The ``write`` callable of a response that was replaced."""


def _refuse_unavailable(
    environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    facts = _facts(environ)
    rejection = Rejection(Reason.STORE_UNAVAILABLE)
    log_rejection(rejection, facts)
    return _respond(start_response, render_rejection(rejection, facts))


class CSRFMiddleware:
    """Refuses unsafe requests that do not carry the session's token.

    Must run inside :class:`SessionMiddleware`. The token is looked for in
    the ``X-CSRF-Token`` header, then in the ``csrf_token`` field of a form
    body or the top-level key of a JSON body; the query string never
    counts. When the body is searched, the app still reads every byte from
    ``wsgi.input``; ``CONTENT_LENGTH`` is left as it was.

    :param trusted_origins: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param exempt_paths: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param extra_header_names: see :class:`~forgeproof.policy.CSRFPolicy`.
    :param is_exempt: a per-request exemption hook, given the environ, for
        integrations that mark views exempt. It weakens protection exactly
        where it answers ``True``.
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
        app: WSGIApplication,
        *,
        trusted_origins: Iterable[str] = (),
        exempt_paths: Iterable[str] = (),
        header_name: str = DEFAULT_HEADER_NAME,
        extra_header_names: Iterable[str] = (),
        field_name: str = DEFAULT_FIELD_NAME,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
        is_exempt: Callable[[WSGIEnvironment], bool] | None = None,
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
        self._token_keys = [_environ_key(name) for name in self.policy.header_names]

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        # Checked on every request, GET included, so a stack built without
        # sessions fails on its first page rather than on its first form.
        session = environ.get(ENVIRON_KEY)
        if not isinstance(session, Session):
            raise RuntimeError(
                "CSRFMiddleware needs forgeproof's SessionMiddleware around it: "
                "SessionMiddleware(CSRFMiddleware(app), store=...)"
            )
        method = environ.get("REQUEST_METHOD", "GET")
        if method in SAFE_METHODS:
            return self.app(environ, start_response)

        exempt = self.is_exempt is not None and self.is_exempt(environ)
        verdict, facts = self._precheck(environ, method, session, exempt)
        verdict = verdict_after_precheck(
            self.policy, verdict, session, self._header_token(environ)
        )
        if verdict is Verdict.CHECK_TOKEN:
            tokens, problem = self._scan_body(environ)
            verdict = token_verdict(self.policy, session, tokens, problem)

        if isinstance(verdict, Rejection):
            facts = facts or _facts(environ, session, exempt)
            if (refused := self._reject(start_response, verdict, facts)) is not None:
                return refused
        elif self.decisions.on_decision is not None:
            self.decisions.accept(facts or _facts(environ, session, exempt))
        # In report-only mode too: wsgi.input replays any body bytes scanned.
        return self.app(environ, start_response)

    def _precheck(
        self, environ: WSGIEnvironment, method: str, session: Session, exempt: bool
    ) -> tuple[Verdict | Rejection, RequestFacts | None]:
        """The policy's precheck, and the facts if it needed them.

        RequestFacts is built only when someone reads it: the precheck of an
        unusual request, a rejection, or an ``on_decision`` callback. Our own
        page's form or ``fetch()`` is told from three headers.
        """
        if self.policy.needs_only_the_token(
            method=method,
            path=_path(environ),
            scheme=environ.get("wsgi.url_scheme", "http"),
            host=_text(environ, "HTTP_HOST"),
            origin=_text(environ, "HTTP_ORIGIN"),
            sec_fetch_site=_text(environ, "HTTP_SEC_FETCH_SITE"),
            session_cookie_count=session.cookie_count,
            has_live_session=not session.is_new,
            exempt=exempt,
        ):
            return Verdict.CHECK_TOKEN, None

        facts = _facts(environ, session, exempt)
        return self.policy.precheck(facts), facts

    def _header_token(self, environ: WSGIEnvironment) -> str | None:
        """The first of the token headers that the request carries."""
        for key in self._token_keys:
            if (value := _text(environ, key)) is not None:
                return value
        return None

    def _scan_body(
        self, environ: WSGIEnvironment
    ) -> tuple[list[str], Rejection | None]:
        """Read just enough of ``wsgi.input`` to find the token, and put in
        its place a stream that replays what was read and then goes on."""
        content_type = environ.get("CONTENT_TYPE")
        kind = body_kind(content_type)
        if kind is None:
            return [], None  # no token anywhere: check_token says so

        stream: IO[bytes] = environ["wsgi.input"]
        remaining = _content_length(environ)
        if remaining is None and not environ.get("wsgi.input_terminated"):
            # PEP 3333: without CONTENT_LENGTH, a server that does not
            # terminate the stream may block forever on a read: no body.
            remaining = 0

        scanner = BodyScanner(
            content_type,
            kind,
            self.policy.field_name,
            self.policy.scan_limit,
            header_name=self.policy.header_name,
        )
        read: list[bytes] = []
        while True:
            size = _READ_SIZE if remaining is None else min(_READ_SIZE, remaining)
            chunk = stream.read(size) if size else b""
            if not chunk:
                scanner.finish()
                break
            read.append(chunk)
            if remaining is not None:
                remaining -= len(chunk)
                if remaining == 0:
                    scanner.feed_last(chunk)  # the whole body is in
                    break
            if scanner.feed(chunk):
                break

        environ["wsgi.input"] = _ReplayInput(read, stream, remaining)
        return scanner.tokens, scanner.rejection

    def _reject(
        self, start_response: StartResponse, rejection: Rejection, facts: RequestFacts
    ) -> Iterable[bytes] | None:
        """The refusal, or ``None`` in report-only mode: the rejection was
        logged and counted, and the app runs."""
        if not self.decisions.reject(rejection, facts):
            return None
        return _respond(start_response, self.on_reject(rejection, facts))


class _ReplayInput:
    """A ``wsgi.input`` that gives back the bytes already read, then the
    rest of the original stream, never past ``CONTENT_LENGTH``.

    Besides what PEP 3333 asks for it has ``readable`` and ``readinto``,
    as ``io.RawIOBase`` streams do: Werkzeug then reads straight into its
    own buffer instead of copying each chunk once more. Once the bytes
    read are given back, it hands the app's reads to the stream itself
    wherever that returns the same bytes.

    :param head: the chunks read from *stream* so far, in order.
    :param remaining: bytes left in *stream* by ``CONTENT_LENGTH``, or
        ``None`` when the server terminates the stream itself.
    """

    def __init__(
        self, head: list[bytes], stream: IO[bytes], remaining: int | None
    ) -> None:
        self._head = deque(chunk for chunk in head if chunk)
        self._pos = 0  # how far into the first chunk of _head was read
        self._stream = stream
        self._remaining = remaining
        # PEP 3333 promises read(), not readinto(); use it when there.
        self._readinto: Callable[[memoryview], int | None] | None = getattr(
            stream, "readinto", None
        )
        # Attributes rather than methods, so that _step_aside can swap in the
        # stream's own: an upload read in 64 KiB pieces then costs no Python
        # call per piece.
        self.read: Callable[..., bytes] = self._replay_read
        self.readinto: Callable[[Any], int | None] = self._replay_readinto
        self.readline: Callable[..., bytes] = self._replay_readline
        if not self._head:
            self._step_aside()

    def readable(self) -> bool:
        """Always ``True``: this is an input stream."""
        return True

    def _step_aside(self) -> None:
        # Once the replayed bytes are out, the stream itself answers exactly
        # as this class would when there is nothing left to cap: the server
        # ends the stream (no CONTENT_LENGTH), or the stream ends within
        # CONTENT_LENGTH anyway (a seekable buffer of the body, as waitress
        # and test clients give). A body read whole by the scan (a small
        # form) has nothing left to hand over: no need to find out.
        stream = self._stream
        remaining = self._remaining
        if remaining == 0 or (
            remaining is not None and not self._ends_within(remaining)
        ):
            return
        self.read = stream.read
        self.readline = stream.readline
        if self._readinto is not None:
            self.readinto = self._readinto

    def _ends_within(self, size: int) -> bool:
        """Whether the stream is seekable and holds at most *size* more bytes."""
        stream = self._stream
        seekable = getattr(stream, "seekable", None)
        if seekable is None or not seekable():
            return False
        try:
            here = stream.tell()
            end = stream.seek(0, io.SEEK_END)
            stream.seek(here)
        except OSError:
            return False
        return end - here <= size

    def _replay_read(self, size: int | None = -1) -> bytes:
        """Up to *size* bytes (all that is left when negative or omitted)."""
        if size is None or size < 0:
            return self._take(-1) + self._read_rest(-1)

        data = self._take(size)
        if len(data) < size:
            data += self._read_rest(size - len(data))
        return data

    def _replay_readinto(self, buffer: Any) -> int:
        """Fill *buffer* as :meth:`read` would, without a copy of its own;
        return how many bytes went in (0 at the end of the body)."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while self._head and filled < len(view):
            part = self._consume(len(view) - filled)
            view[filled : filled + len(part)] = part
            filled += len(part)
        if filled < len(view):
            filled += self._read_rest_into(view[filled:] if filled else view)
        return filled

    def _replay_readline(self, size: int | None = -1) -> bytes:
        """One line, or at most *size* bytes of it."""
        limit = -1 if size is None else size
        parts: list[bytes] = []
        while self._head and limit != 0:
            newline = self._head[0].find(b"\n", self._pos)
            length = (
                len(self._head[0]) - self._pos
                if newline == -1
                else newline + 1 - self._pos
            )
            part = self._consume(length if limit < 0 else min(length, limit))
            parts.append(part)
            if limit > 0:
                limit -= len(part)
            if part.endswith(b"\n"):
                return b"".join(parts)

        if limit != 0:
            parts.append(self._readline_rest(limit))
        return b"".join(parts)

    def readlines(self, hint: int = -1) -> list[bytes]:
        """The remaining lines, stopping once *hint* bytes were read."""
        lines: list[bytes] = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _consume(self, size: int) -> bytes:
        # Up to *size* bytes of the first chunk; a chunk read to its end is
        # let go, so the scanned bytes are freed as the app reads them.
        chunk, start = self._head[0], self._pos
        end = min(len(chunk), start + size)
        if end == len(chunk):
            self._head.popleft()
            self._pos = 0
            if not self._head:
                self._step_aside()
            return chunk if start == 0 else chunk[start:]
        self._pos = end
        return chunk[start:end]

    def _take(self, size: int) -> bytes:
        parts: list[bytes] = []
        while self._head and size != 0:
            part = self._consume(len(self._head[0]) if size < 0 else size)
            parts.append(part)
            if size > 0:
                size -= len(part)
        return b"".join(parts)

    def _read_rest(self, size: int) -> bytes:
        if self._remaining is None:
            return self._stream.read(size)

        want = self._remaining if size < 0 else min(size, self._remaining)
        parts: list[bytes] = []
        while want > 0:
            # In pieces: CONTENT_LENGTH is the client's word, and a stream
            # asked for 10**20 bytes at once raises (OverflowError) or
            # allocates them up front (MemoryError).
            chunk = self._stream.read(min(want, _READ_SIZE))
            if not chunk:
                break
            parts.append(chunk)
            want -= len(chunk)
            self._remaining -= len(chunk)
        return b"".join(parts)

    def _read_rest_into(self, view: memoryview) -> int:
        readinto = self._readinto
        if readinto is None:
            data = self._read_rest(len(view))
            view[: len(data)] = data
            return len(data)

        remaining = self._remaining
        if remaining is None:
            return readinto(view) or 0
        if len(view) > remaining:
            view = view[:remaining]
        # Like _read_rest: on until the view is full or the stream ends.
        filled = readinto(view) or 0
        while 0 < filled < len(view):
            count = readinto(view[filled:]) or 0
            if not count:
                break
            filled += count
        self._remaining = remaining - filled
        return filled

    def _readline_rest(self, size: int) -> bytes:
        if self._remaining is None:
            return self._stream.readline(size)

        want = self._remaining if size < 0 else min(size, self._remaining)
        if want <= 0:
            return b""
        # A line's limit is not allocated up front, but must fit an index.
        line = self._stream.readline(min(want, sys.maxsize))
        self._remaining -= len(line)
        return line


def _text(environ: WSGIEnvironment, key: str) -> str | None:
    """The environ's *key* if it is a string: a request header, read as
    PEP 3333 puts it, where a value of any other type counts as absent."""
    value = environ.get(key)
    return value if isinstance(value, str) else None


def _facts(
    environ: WSGIEnvironment, session: Session | None = None, exempt: bool = False
) -> RequestFacts:
    def header(name: str) -> str | None:
        return _text(environ, _FACT_KEYS.get(name) or _environ_key(name))

    return request_facts(
        method=environ.get("REQUEST_METHOD", "GET"),
        scheme=environ.get("wsgi.url_scheme", "http"),
        path=_path(environ),
        header=header,
        session=session,
        exempt=exempt,
    )


def _environ_key(name: str) -> str:
    """Where PEP 3333 puts the request header *name* in the environ."""
    key = name.upper().replace("-", "_")
    if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        key = "HTTP_" + key
    return key


# The environ keys of the headers request_facts reads, worked out once.
_FACT_KEYS = {
    name: _environ_key(name)
    for name in (
        "host",
        "origin",
        "referer",
        "sec-fetch-site",
        "authorization",
        "accept",
        "forwarded",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
    )
}


def _path(environ: WSGIEnvironment) -> str:
    # PEP 3333 carries the path as bytes decoded as latin-1; ASGI gives the
    # same path decoded as UTF-8, and exempt paths must match alike.
    raw: str = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if raw.isascii():
        return raw  # the same either way, without two copies
    try:
        return raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return raw


def _content_length(environ: WSGIEnvironment) -> int | None:
    value = environ.get("CONTENT_LENGTH", "")
    if not isinstance(value, str) or not value.strip().isdecimal():
        return None
    return int(value) if value.isascii() else None


def _respond(
    start_response: StartResponse, response: RejectionResponse
) -> Iterable[bytes]:
    status = f"{response.status} {HTTPStatus(response.status).phrase}"
    headers = [*response.headers, ("content-length", str(len(response.body)))]
    start_response(status, headers)
    return [response.body]
