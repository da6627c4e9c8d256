"""The WSGI adapter in-process: what it reads from ``wsgi.input``, what it
gives the app, and how it fails."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import pytest

from forgeproof import (
    MemorySessionStore,
    Session,
    SessionRecord,
    StoreUnavailableError,
    csrf_token,
)
from forgeproof.wsgi import CSRFMiddleware, SessionMiddleware

Environ = dict[str, Any]


class SpyStream(io.BytesIO):
    """A wsgi.input that counts what was read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


class Recorder:
    """A WSGI app that reads its whole body and remembers it."""

    def __init__(self) -> None:
        self.calls = 0
        self.body = b""
        self.content_length: str | None = None

    def __call__(
        self, environ: Environ, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        self.calls += 1
        self.content_length = environ.get("CONTENT_LENGTH")
        self.body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


class Call:
    status = ""
    headers: list[tuple[str, str]]
    body = b""


def run(app: Callable[..., Iterable[bytes]], environ: Environ) -> Call:
    call = Call()

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        call.status, call.headers = status, headers
        return lambda data: None

    call.body = b"".join(app(environ, start_response))
    return call


def environ_for(
    method: str = "POST",
    body: bytes = b"",
    *,
    content_type: str = "application/x-www-form-urlencoded",
    cookie: str = "",
    headers: dict[str, str] | None = None,
    content_length: bool = True,
    terminated: bool = False,
    stream: io.BytesIO | None = None,
) -> Environ:
    environ: Environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/submit",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream if stream is not None else SpyStream(body),
        "CONTENT_TYPE": content_type,
    }
    if content_length:
        environ["CONTENT_LENGTH"] = str(len(body))
    if terminated:
        environ["wsgi.input_terminated"] = True
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


class Site:
    """A protected WSGI app plus a browser session with a token."""

    def __init__(self, **options: Any) -> None:
        self.store = MemorySessionStore()
        self.app = Recorder()
        self.wsgi = SessionMiddleware(
            CSRFMiddleware(self.app, **options), store=self.store
        )
        page = environ_for("GET", content_type="")
        tokens: list[str] = []

        def issue(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
            tokens.append(csrf_token(environ))
            start_response("200 OK", [])
            return []

        call = run(SessionMiddleware(issue, store=self.store), page)
        cookie = dict(call.headers)["Set-Cookie"].partition(";")[0]
        self.cookie = cookie
        self.token = tokens[0]

    def post(self, body: bytes = b"", **kwargs: Any) -> tuple[Call, Environ]:
        kwargs.setdefault("cookie", self.cookie)
        environ = environ_for("POST", body, **kwargs)
        return run(self.wsgi, environ), environ


def reason(call: Call) -> str:
    return str(json.loads(call.body)["reason"])


def test_header_token_means_the_body_is_never_read() -> None:
    site = Site()
    body = b"x" * 100_000

    call, environ = site.post(
        body,
        content_type="application/octet-stream",
        headers={"X-CSRF-Token": site.token},
    )

    assert call.status == "200 OK"
    assert site.app.body == body
    assert environ["wsgi.input"].bytes_read == len(body)  # all by the app
    assert site.app.content_length == str(len(body))


def test_header_token_leaves_wsgi_input_as_the_server_gave_it() -> None:
    site = Site()
    stream = SpyStream(b"payload")
    environ = environ_for(
        "POST",
        b"payload",
        cookie=site.cookie,
        headers={"X-CSRF-Token": site.token},
        stream=stream,
    )

    run(site.wsgi, environ)

    assert environ["wsgi.input"] is stream


def test_form_token_first_stops_the_scan_early_and_the_app_reads_every_byte() -> None:
    site = Site()
    body = urlencode({"csrf_token": site.token, "big": "y" * 3_000_000}).encode()
    stream = SpyStream(body)

    call, _ = site.post(body, stream=stream)

    assert call.status == "200 OK"
    assert site.app.body == body
    assert site.app.content_length == str(len(body))


def test_scan_reads_at_most_the_scan_limit_before_the_app_runs() -> None:
    site = Site()
    body = urlencode({"csrf_token": site.token, "big": "y" * 3_000_000}).encode()
    stream = SpyStream(body)
    seen: list[int] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(stream.bytes_read)
        environ["wsgi.input"].read()
        start_response("204 No Content", [])
        return []

    wsgi = SessionMiddleware(
        CSRFMiddleware(app, scan_limit=64 * 1024), store=site.store
    )
    run(wsgi, environ_for("POST", body, cookie=site.cookie, stream=stream))

    assert seen[0] <= 2 * 64 * 1024  # the limit, plus one read
    assert stream.bytes_read == len(body)


def test_chunked_input_without_content_length_is_scanned_to_the_token() -> None:
    site = Site()
    body = urlencode({"text": "hello", "csrf_token": site.token}).encode()

    call, _ = site.post(body, content_length=False, terminated=True)

    assert call.status == "200 OK"
    assert site.app.body == body


def test_input_neither_sized_nor_terminated_is_not_read_and_has_no_token() -> None:
    site = Site()
    body = urlencode({"csrf_token": site.token}).encode()

    stream = SpyStream(body)

    call, _ = site.post(body, content_length=False, stream=stream)

    assert call.status.startswith("403")
    assert reason(call) == "token_missing"
    assert stream.bytes_read == 0
    assert site.app.calls == 0


def test_scan_never_reads_past_content_length() -> None:
    site = Site()
    body = urlencode({"csrf_token": site.token, "text": "a"}).encode()
    stream = SpyStream(body + b"&trailing=garbage-from-the-next-request")
    environ = environ_for("POST", body, cookie=site.cookie, stream=stream)

    call = run(site.wsgi, environ)

    assert call.status == "200 OK"
    assert site.app.body == body


def test_token_beyond_the_scan_limit_is_missing_with_a_detail_saying_why() -> None:
    site = Site(scan_limit=4096)
    body = urlencode({"big": "z" * 10_000, "csrf_token": site.token}).encode()

    call, _ = site.post(body)

    assert call.status.startswith("403")
    assert reason(call) == "token_missing"
    assert "X-CSRF-Token header" in json.loads(call.body)["detail"]
    assert site.app.calls == 0


def test_lower_case_method_is_checked_like_any_unsafe_method() -> None:
    site = Site()
    environ = environ_for("post", b"text=x", cookie=site.cookie)

    call = run(site.wsgi, environ)

    assert call.status == "403 Forbidden"
    assert reason(call) == "token_missing"
    assert site.app.calls == 0


def test_browser_gets_the_html_rejection_page() -> None:
    site = Site()

    call, _ = site.post(b"text=x", headers={"Accept": "text/html,*/*"})

    assert call.status == "403 Forbidden"
    assert dict(call.headers)["content-type"] == "text/html; charset=utf-8"
    assert b"token_missing" in call.body
    assert dict(call.headers)["content-length"] == str(len(call.body))


def test_exempt_path_and_exempt_hook_skip_the_check() -> None:
    by_path = Site(exempt_paths=["/submit"])
    by_hook = Site(is_exempt=lambda environ: environ["PATH_INFO"] == "/submit")

    assert by_path.post(b"text=x")[0].status == "200 OK"
    assert by_hook.post(b"text=x")[0].status == "200 OK"


def test_rejection_is_logged_with_reason_but_never_token_or_session_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = Site()
    other = Site()
    caplog.set_level(logging.WARNING, logger="forgeproof.csrf")

    call, _ = site.post(urlencode({"csrf_token": other.token}).encode())

    assert reason(call) == "token_invalid"
    assert len(caplog.records) == 1
    assert "reason=token_invalid" in caplog.text
    assert other.token not in caplog.text
    assert site.cookie.partition("=")[2] not in caplog.text


def test_csrf_middleware_without_session_middleware_fails_loudly() -> None:
    app = CSRFMiddleware(Recorder())

    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        run(app, environ_for("POST", b"text=x"))


class BrokenStore:
    def load(self, key: str) -> SessionRecord | None:
        raise StoreUnavailableError("broken")

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
    ) -> None:
        raise StoreUnavailableError("broken")

    def delete(self, key: str) -> None:
        raise StoreUnavailableError("broken")


def test_store_outage_refuses_unsafe_requests_with_503_and_skips_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = Site()
    app = Recorder()
    wsgi = SessionMiddleware(CSRFMiddleware(app), store=BrokenStore())
    caplog.set_level(logging.WARNING)
    environ = environ_for("POST", b"text=x", cookie=site.cookie)

    call = run(wsgi, environ)

    assert call.status == "503 Service Unavailable"
    assert dict(call.headers)["content-type"] == "application/problem+json"
    assert reason(call) == "store_unavailable"
    assert app.calls == 0
    assert "session store unavailable" in caplog.text
    assert site.cookie.partition("=")[2] not in caplog.text


def test_store_outage_gives_safe_requests_an_empty_session() -> None:
    site = Site()
    sessions: list[Session] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        sessions.append(environ["forgeproof.session"])
        start_response("200 OK", [])
        return []

    call = run(
        SessionMiddleware(app, store=BrokenStore()),
        environ_for("GET", cookie=site.cookie),
    )

    assert call.status == "200 OK"
    assert sessions[0].is_new


def test_session_changes_are_saved_and_the_cookie_is_set_once_on_error_restart() -> (
    None
):
    store = MemorySessionStore()

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        environ["forgeproof.session"]["user"] = "alice"
        start_response("200 OK", [])
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"error"]

    call = run(SessionMiddleware(app, store=store), environ_for("GET"))
    cookies = [value for name, value in call.headers if name == "Set-Cookie"]
    session_id = cookies[0].partition(";")[0].partition("=")[2]

    loaded: list[Session] = []

    def reader(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        loaded.append(environ["forgeproof.session"])
        start_response("200 OK", [])
        return []

    run(
        SessionMiddleware(reader, store=store),
        environ_for("GET", cookie=f"forgeproof_session={session_id}"),
    )

    assert call.status.startswith("500")
    assert len(cookies) == 1
    assert loaded[0]["user"] == "alice"


def test_replayed_input_supports_readline_readlines_and_iteration() -> None:
    site = Site()
    lines = [b"csrf_token=" + site.token.encode() + b"&a=1\n", b"second\n", b"third"]
    body = b"".join(lines)
    captured: list[Any] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        stream = environ["wsgi.input"]
        captured.append(stream.readline())
        captured.append(stream.readline(3))
        captured.append(list(stream))
        captured.append(stream.read())
        start_response("200 OK", [])
        return []

    wsgi = SessionMiddleware(CSRFMiddleware(app), store=site.store)
    call = run(wsgi, environ_for("POST", body, cookie=site.cookie))

    assert call.status == "200 OK"
    assert captured == [lines[0], b"sec", [b"ond\n", b"third"], b""]


class SaveFailsStore(MemorySessionStore):
    def save(
        self, key: str, record: SessionRecord, expires_at: float, **kwargs: Any
    ) -> None:
        raise StoreUnavailableError("broken")


@pytest.mark.parametrize("lazy", [False, True], ids=["eager start", "lazy start"])
def test_response_whose_session_cannot_be_saved_is_replaced_by_503(lazy: bool) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        def body() -> Iterable[bytes]:
            token = csrf_token(environ)
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"token: " + token.encode()

        if lazy:
            return body()
        token = csrf_token(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"token: " + token.encode()]

    call = run(SessionMiddleware(app, store=SaveFailsStore()), environ_for("GET"))

    assert call.status == "503 Service Unavailable"
    assert b"token: " not in call.body
    assert reason(call) == "store_unavailable"
    assert "Set-Cookie" not in dict(call.headers)
