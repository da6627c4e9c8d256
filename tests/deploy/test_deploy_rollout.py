"""Report-only mode, the on_decision hook and the caching headers, run
through both adapters with the same tiny app."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest

from forgeproof import MemorySessionStore, Session, csrf_token
from forgeproof import asgi as fp_asgi
from forgeproof import wsgi as fp_wsgi
from forgeproof._caching import cache_headers
from forgeproof.decisions import Decision

BASE = "http://testserver"
Headers = list[tuple[str, str]]


def route(
    method: str,
    path: str,
    request: Any,
    session: Session,
    body: bytes,
    calls: list[str],
) -> tuple[int, Headers, bytes]:
    """The app both adapters serve."""
    calls.append(f"{method} {path}")
    if path == "/token":
        return 200, [("content-type", "text/plain")], csrf_token(request).encode()
    if path == "/token-strict":
        token = csrf_token(request).encode()
        return 200, [("cache-control", "no-cache, must-revalidate")], token
    if path == "/token-public":
        token = csrf_token(request).encode()
        return 200, [("Cache-Control", "public, max-age=600, s-maxage=600")], token
    if path == "/read":
        return 200, [("vary", "Accept-Encoding")], str(session.get("user")).encode()
    if path == "/echo":
        return 200, [], hashlib.sha256(body).hexdigest().encode()
    return 200, [], b"plain"


def asgi_stack(calls: list[str], **options: Any) -> httpx.Client:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, headers, out = route(
            scope["method"], scope["path"], scope, scope["session"], body, calls
        )
        raw = [(k.encode(), v.encode()) for k, v in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": out})

    stack = fp_asgi.SessionMiddleware(
        fp_asgi.CSRFMiddleware(app, **options), store=MemorySessionStore()
    )
    return httpx.Client(transport=SyncASGITransport(stack), base_url=BASE)


class SyncASGITransport(httpx.BaseTransport):
    """httpx's ASGITransport, driven from a synchronous client."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=content
            )

        return asyncio.run(send())


def wsgi_stack(calls: list[str], **options: Any) -> httpx.Client:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        status, headers, out = route(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            environ,
            environ[fp_wsgi.ENVIRON_KEY],
            body,
            calls,
        )
        start_response(f"{status} OK", headers)
        return [out]

    stack = fp_wsgi.SessionMiddleware(
        fp_wsgi.CSRFMiddleware(app, **options), store=MemorySessionStore()
    )
    return httpx.Client(transport=httpx.WSGITransport(app=stack), base_url=BASE)


StackFactory = Callable[..., httpx.Client]


@pytest.fixture(params=[asgi_stack, wsgi_stack], ids=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> StackFactory:
    factory: StackFactory = request.param
    return factory


def test_report_only_lets_a_forged_request_through_and_logs_it_as_such(
    stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    decisions: list[Decision] = []
    client = stack(calls, report_only=True, on_decision=decisions.append)
    token = client.get("/token").text

    with caplog.at_level(logging.WARNING, logger="forgeproof.csrf"):
        response = client.post(
            "/echo", content=b"x=1", headers={"origin": "https://evil.example"}
        )

    assert response.status_code == 200
    assert calls[-1] == "POST /echo"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "report-only, would reject" in record.getMessage()
    assert "reason=origin_not_allowed" in record.getMessage()
    assert token not in caplog.text
    assert decisions[-1].reason is not None
    assert decisions[-1].reason.value == "origin_not_allowed"
    assert decisions[-1].report_only
    assert not decisions[-1].blocked


def test_the_same_forged_request_is_blocked_when_enforcing(
    stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    decisions: list[Decision] = []
    client = stack(calls, on_decision=decisions.append)
    token = client.get("/token").text

    with caplog.at_level(logging.WARNING, logger="forgeproof.csrf"):
        response = client.post(
            "/echo", content=b"x=1", headers={"origin": "https://evil.example"}
        )

    assert response.status_code == 403
    assert response.json()["reason"] == "origin_not_allowed"
    assert calls == ["GET /token"]
    assert "CSRF rejected 'POST' '/echo'" in caplog.text
    assert "report-only" not in caplog.text
    assert token not in caplog.text
    assert decisions[-1].blocked


def test_report_only_hands_the_app_every_byte_of_a_scanned_body(
    stack: StackFactory,
) -> None:
    calls: list[str] = []
    client = stack(calls, report_only=True)
    client.get("/token")
    # A wrong token at the very end: the whole body is scanned first.
    body = b"text=" + b"y" * 200_000 + b"&csrf_token=" + b"A" * 86

    response = client.post(
        "/echo",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert response.text == hashlib.sha256(body).hexdigest()


def test_rejections_are_counted_by_reason_in_both_modes(stack: StackFactory) -> None:
    for report_only in (True, False):
        client = stack([], report_only=report_only)
        client.get("/token")
        client.post("/echo", headers={"origin": "https://evil.example"})
        client.post("/echo", headers={"origin": "https://evil.example"})
        client.post("/echo", headers={"origin": BASE})  # no token

        middleware = _csrf_middleware(client)
        assert middleware.decisions.rejection_counts() == {
            "origin_not_allowed": 2,
            "token_missing": 1,
        }


def test_on_decision_sees_accepted_requests_with_their_facts(
    stack: StackFactory,
) -> None:
    decisions: list[Decision] = []
    client = stack([], on_decision=decisions.append)
    token = client.get("/token").text

    response = client.post("/echo", headers={"origin": BASE, "x-csrf-token": token})

    assert response.status_code == 200
    [decision] = decisions
    assert decision.accepted
    assert decision.reason is None
    assert decision.facts.path == "/echo"
    assert token not in repr(decision)


def test_a_failing_on_decision_callback_does_not_change_the_decision(
    stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(decision: Decision) -> None:
        raise ValueError("metrics backend down")

    client = stack([], on_decision=broken)
    token = client.get("/token").text

    with caplog.at_level(logging.ERROR, logger="forgeproof.csrf"):
        response = client.post("/echo", headers={"origin": BASE, "x-csrf-token": token})

    assert response.status_code == 200
    assert "on_decision callback failed" in caplog.text


@pytest.mark.parametrize(
    ("path", "cache_control", "vary"),
    [
        pytest.param("/token", {"private", "no-store"}, "Cookie", id="token page"),
        pytest.param(
            "/token-strict",
            {"no-cache", "must-revalidate", "private", "no-store"},
            "Cookie",
            id="the app's stricter directives are kept",
        ),
        pytest.param(
            "/token-public",
            {"max-age=600", "private", "no-store"},
            "Cookie",
            id="public and s-maxage are dropped from a token page",
        ),
        pytest.param("/read", None, "Accept-Encoding, Cookie", id="session read"),
        pytest.param("/plain", None, None, id="session untouched"),
    ],
)
def test_responses_that_depend_on_the_session_are_marked_for_caches(
    stack: StackFactory, path: str, cache_control: set[str] | None, vary: str | None
) -> None:
    client = stack([])

    response = client.get(path)

    got = response.headers.get("cache-control")
    if cache_control is None:
        assert got is None
    else:
        assert got is not None
        assert {d.strip() for d in got.split(",")} == cache_control
    assert response.headers.get("vary") == vary


@pytest.mark.parametrize(
    ("vary", "expected"),
    [
        pytest.param([], [("vary", "Cookie")], id="none yet"),
        pytest.param([("Vary", "cookie")], [("Vary", "cookie")], id="already"),
        pytest.param([("Vary", "*")], [("Vary", "*")], id="varies by everything"),
        pytest.param(
            [("Vary", "Accept, Cookie ")],
            [("Vary", "Accept, Cookie ")],
            id="in a list",
        ),
    ],
)
def test_vary_cookie_is_added_once(vary: Headers, expected: Headers) -> None:
    session = Session(None, None, now=0.0)
    session.accessed = True

    assert cache_headers(session, vary) == expected


def _csrf_middleware(client: httpx.Client) -> Any:
    transport: Any = client._transport
    return transport.app.app


@pytest.mark.parametrize(
    ("options", "status"),
    [
        pytest.param({"trusted_proxies": 1}, 200, id="one trusted proxy: accepted"),
        pytest.param({}, 403, id="no trusted proxy: the headers are ignored"),
    ],
)
def test_both_adapters_read_forwarding_headers_only_when_told_to(
    stack: StackFactory, options: dict[str, Any], status: int
) -> None:
    client = stack([], **options)
    token = client.get("/token").text

    response = client.post(
        "/echo",
        headers={
            "origin": "https://shop.example:8443",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "evil.example, shop.example",
            "x-forwarded-port": "8443",
            "x-csrf-token": token,
        },
    )

    assert response.status_code == status


def test_on_decision_never_sees_an_authorization_credential(
    stack: StackFactory,
) -> None:
    decisions: list[Decision] = []
    client = stack([], on_decision=decisions.append)
    client.get("/token")

    client.post(
        "/echo",
        headers={"origin": "https://evil.example", "authorization": "Basic c2VjcmV0"},
    )

    [decision] = decisions
    assert decision.facts.authorization == "[redacted]"
    assert "c2VjcmV0" not in repr(decision)
