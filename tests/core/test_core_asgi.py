"""CSRFMiddleware in process: Starlette behind it, driven by httpx's
ASGITransport, plus raw ASGI for the scopes httpx cannot send."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from core.core_app import AppState, build_app, token_in
from core.core_kit import (
    ORIGIN,
    RecordingApp,
    Sent,
    call,
    csrf_records,
    http_scope,
    make_stack,
    run,
)
from forgeproof import (
    CSRFMiddleware,
    MemorySessionStore,
    Reason,
    Rejection,
    RejectionResponse,
    RequestFacts,
    Session,
    render_problem_json,
)
from forgeproof.sessions.base import store_key
from forgeproof.types import Message

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
Scenario = Callable[[httpx.AsyncClient, AppState], Awaitable[None]]


def session_id_of(client: httpx.AsyncClient) -> str:
    value = client.cookies.get("forgeproof_session")
    assert value is not None
    return value


def drive(scenario: Scenario, **csrf_options: Any) -> None:
    """Run *scenario* against a fresh app with a fresh client."""
    app, state = build_app(**csrf_options)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            await scenario(client, state)

    run(main())


async def page_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/")
    assert page.status_code == 200
    return token_in(page.text)


def assert_no_secrets(text: str, *values: str) -> None:
    for value in values:
        assert value
        assert value not in text


# -- the flow through a real framework ---------------------------------------


def test_a_form_posted_with_the_page_token_reaches_starlettes_form_parser() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)

        response = await client.post("/notes", data={"csrf_token": token, "note": "hi"})

        assert response.status_code == 200
        assert state.notes == ["hi"]

    drive(scenario)


def test_a_form_posted_without_the_token_is_refused_and_nothing_is_saved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        await page_token(client)

        response = await client.post("/notes", data={"note": "forged"})

        assert response.status_code == 403
        assert response.json()["reason"] == "token_missing"
        assert state.calls == 0
        assert state.notes == []
        assert "reason=token_missing" in caplog.text
        assert_no_secrets(caplog.text + response.text, session_id_of(client))

    drive(scenario)


def test_a_multipart_upload_reaches_starlettes_parser_byte_for_byte() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)
        content = bytes(range(256)) * 4000

        response = await client.post(
            "/form-upload",
            data={"csrf_token": token},
            files={"upload": ("data.bin", content, "application/octet-stream")},
        )

        assert response.status_code == 200
        assert response.json()["size"] == len(content)

    drive(scenario)


def test_a_json_body_with_the_token_passes() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)

        response = await client.post("/api", json={"csrf_token": token, "x": 1})

        assert response.status_code == 200
        assert state.calls == 1

    drive(scenario)


@pytest.mark.parametrize(
    ("method", "headers", "content", "params", "reason"),
    [
        pytest.param("POST", {"X-HTTP-Method-Override": "GET"}, b"", {},
                     Reason.TOKEN_MISSING, id="X-HTTP-Method-Override GET"),
        pytest.param("POST", {"X-HTTP-Method": "GET", "X-Method-Override": "HEAD"},
                     b"", {}, Reason.TOKEN_MISSING, id="other override headers"),
        pytest.param("POST", {"Content-Type": "text/plain"}, b"csrf_token=<t>", {},
                     Reason.TOKEN_MISSING, id="text/plain body shaped like a form"),
        pytest.param("POST", {}, b"csrf_token=<t>", {}, Reason.TOKEN_MISSING,
                     id="no Content-Type at all"),
        pytest.param("POST", {}, b"", {"csrf_token": "<t>"}, Reason.TOKEN_MISSING,
                     id="token in the query string only"),
        pytest.param("DELETE", {}, b"", {"csrf_token": "<t>"}, Reason.TOKEN_MISSING,
                     id="DELETE with the token in the query string"),
        pytest.param("PUT", {"Authorization": "Basic dXNlcjpwYXNz"}, b"", {},
                     Reason.TOKEN_MISSING, id="Basic credentials with the cookie"),
        pytest.param("POST", {"Authorization": "Bearer abc"}, b"", {},
                     Reason.TOKEN_MISSING, id="bearer token with the session cookie"),
        pytest.param("POST", {"X-CSRF-Token": "<t>", "Origin": "https://evil.example"},
                     b"", {}, Reason.ORIGIN_NOT_ALLOWED, id="foreign Origin"),
        pytest.param("POST", {"X-CSRF-Token": "<t>",
                              "Sec-Fetch-Site": "cross-site"},
                     b"", {}, Reason.CROSS_SITE_REQUEST,
                     id="Sec-Fetch-Site: cross-site"),
        pytest.param("POST", {"X-CSRF-Token": "<t>", "Origin": "null"}, b"", {},
                     Reason.ORIGIN_NULL, id="Origin null"),
        pytest.param("POST", {"X-CSRF-Token": "<t>, <t2>"}, b"", {},
                     Reason.TOKEN_CONFLICT, id="two tokens in the header"),
        pytest.param("POST", {"X-CSRF-Token": "<t>", "Origin": ORIGIN,
                              "Sec-Fetch-Site": "same-origin"}, b"", {},
                     None, id="control: header token from our own origin"),
        pytest.param("POST", {"Content-Type": "text/plain", "X-CSRF-Token": "<t>"},
                     b"anything", {}, None, id="control: text/plain with header token"),
        pytest.param("DELETE", {"X-CSRF-Token": "<t>"}, b"", {}, None,
                     id="control: DELETE with header token"),
        pytest.param("POST", {"Content-Type": "application/x-www-form-urlencoded"},
                     b"csrf_token=<t>", {}, None, id="control: token in the form"),
    ],
)  # fmt: skip
def test_adapter_threats_and_controls(
    method: str,
    headers: dict[str, str],
    content: bytes,
    params: dict[str, str],
    reason: Reason | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token, token2 = await page_token(client), await page_token(client)

        def fill(text: str) -> str:
            return text.replace("<t2>", token2).replace("<t>", token)

        response = await client.request(
            method,
            "/api",
            headers={k: fill(v) for k, v in headers.items()},
            content=fill(content.decode()).encode(),
            params={k: fill(v) for k, v in params.items()},
        )

        if reason is None:
            assert response.status_code == 200
            assert state.calls == 1
            assert csrf_records(caplog) == []
            return
        assert response.status_code == 403
        assert response.json()["reason"] == reason.value
        assert state.calls == 0
        assert f"reason={reason.value}" in caplog.text
        assert_no_secrets(caplog.text + response.text, token, token2)
        assert_no_secrets(caplog.text + response.text, session_id_of(client))

    drive(scenario)


def test_a_bearer_request_without_session_cookie_needs_no_token() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        response = await client.post("/api", headers={"Authorization": "Bearer abc"})

        assert response.status_code == 200
        assert state.calls == 1

    drive(scenario)


def test_a_request_without_any_session_is_refused_as_session_missing() -> None:
    """Login CSRF: a forged login from a browser that has no session yet."""

    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        response = await client.post("/login", data={"user": "mallory"})

        assert response.status_code == 403
        assert response.json()["reason"] == "session_missing"
        assert state.calls == 0
        assert "forgeproof_session" not in response.headers.get("set-cookie", "")

    drive(scenario)


def test_the_session_cookie_sent_twice_is_refused_as_ambiguous() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)
        sid = session_id_of(client)
        planted = "A" * 43
        client.cookies.clear()
        headers = {
            "Cookie": f"forgeproof_session={planted}; forgeproof_session={sid}",
            "X-CSRF-Token": token,
        }

        refused = await client.post("/api", headers=headers)
        control = await client.post(
            "/api",
            headers={"Cookie": f"forgeproof_session={sid}", "X-CSRF-Token": token},
        )

        assert refused.status_code == 403
        assert refused.json()["reason"] == "session_cookie_ambiguous"
        assert control.status_code == 200
        assert state.calls == 1

    drive(scenario)


def test_an_exempt_prefix_skips_the_check_and_nothing_else() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        exempt = await client.post("/hooks/github", content=b"{}")
        checked = await client.post("/api", content=b"{}")

        assert exempt.status_code == 200
        assert checked.status_code == 403
        assert state.calls == 1

    drive(scenario, exempt_paths=["/hooks/"])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/hooks/github", 200),
        ("/hooks/../api", 403),
        ("/hooks/./github", 403),
        ("/hooks", 403),
        ("/hooksX", 403),
    ],
)
def test_raw_paths_that_only_look_exempt_are_checked(path: str, status: int) -> None:
    """httpx normalises dot segments; a raw client or a proxy may not."""
    stack = make_stack(exempt_paths=["/hooks/"])

    sent, _ = call(stack, [b"{}"], [("cookie", stack.session.cookie)], path=path)

    assert sent.status == status
    assert stack.app.calls == (1 if status == 200 else 0)


def test_a_per_route_exemption_hook_sees_the_scope() -> None:
    seen: list[str] = []

    def is_exempt(scope: Any) -> bool:
        seen.append(scope["path"])
        return bool(scope["path"] == "/api")

    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        exempt = await client.post("/api")
        checked = await client.post("/notes", data={"note": "x"})

        assert exempt.status_code == 200
        assert checked.status_code == 403
        assert seen == ["/api", "/notes"]

    drive(scenario, is_exempt=is_exempt)


# -- what a refusal looks like ------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [None, "application/json", "application/problem+json", "*/*",
     "text/html, application/json"],
)  # fmt: skip
def test_api_clients_get_problem_json(accept: str | None) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        await page_token(client)
        headers = {"Accept": accept} if accept else {}
        if accept is None:
            client.headers.pop("Accept", None)

        response = await client.post("/notes", data={"note": "x"}, headers=headers)

        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["cache-control"] == "no-store"
        assert int(response.headers["content-length"]) == len(response.content)
        problem = response.json()
        assert problem["type"] == "urn:forgeproof:reason:token_missing"
        assert problem["title"] == "Request rejected"
        assert problem["status"] == 403
        assert problem["reason"] == "token_missing"
        assert "X-CSRF-Token" in problem["detail"]

    drive(scenario)


def test_browsers_get_a_short_html_page_with_the_reason() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)

        response = await client.post(
            "/notes",
            data={"note": "x", "csrf_token": token},
            headers={"Accept": BROWSER_ACCEPT, "Origin": "https://evil.example"},
        )

        assert response.status_code == 403
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        csp = response.headers["content-security-policy"]
        assert csp.startswith("default-src 'none'; style-src 'sha256-")
        assert "<code>origin_not_allowed</code>" in response.text
        assert "evil.example" not in response.text
        assert token not in response.text

    drive(scenario)


def test_origin_problems_name_the_expected_and_the_received_origin() -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)
        headers = {"Origin": "https://evil.example", "X-CSRF-Token": token}

        response = await client.post("/api", headers=headers)

        assert response.json()["expected_origin"] == ORIGIN
        assert response.json()["origin"] == "https://evil.example"

    drive(scenario)


def test_a_custom_renderer_replaces_the_response() -> None:
    calls: list[tuple[Rejection, RequestFacts]] = []

    def on_reject(rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
        calls.append((rejection, facts))
        return RejectionResponse(
            418, (("content-type", "text/plain"),), f"no: {rejection.reason}".encode()
        )

    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        await page_token(client)

        response = await client.post("/notes?x=1", data={"note": "x"})

        assert response.status_code == 418
        assert response.text == "no: token_missing"
        assert state.calls == 0
        assert len(calls) == 1
        assert calls[0][0].reason is Reason.TOKEN_MISSING
        assert calls[0][1].path == "/notes"
        assert calls[0][1].method == "POST"

    drive(scenario, on_reject=on_reject)


# -- logging --------------------------------------------------------------------


def test_each_refusal_logs_one_warning_with_reason_method_and_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        token = await page_token(client)
        await client.post("/notes", data={"note": "x"})
        await client.put(
            "/api", headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
        )
        await client.post("/notes", data={"note": "x", "csrf_token": token})

        records = csrf_records(caplog)
        assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
        first, second = (r.getMessage() for r in records)
        assert first.startswith("CSRF rejected 'POST' '/notes': reason=token_missing")
        assert "reason=origin_not_allowed" in second
        assert "'PUT' '/api'" in second
        assert "origin='https://evil.example'" in second
        assert f"expected='{ORIGIN}'" in second

    drive(scenario)


def test_no_token_secret_or_session_id_ever_reaches_logs_or_responses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = MemorySessionStore()
    app, _ = build_app(store=store)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            token = await page_token(client)
            sid = session_id_of(client)
            record = store.load(store_key(sid))
            assert record is not None
            assert record.csrf_secret is not None
            secret = record.csrf_secret
            bodies = []
            for headers, data in [
                ({"X-CSRF-Token": token + "x"}, None),
                ({"X-CSRF-Token": token, "Origin": "null"}, None),
                ({"X-CSRF-Token": f"{token}, {token}x"}, None),
                ({"Accept": BROWSER_ACCEPT}, {"csrf_token": token[::-1]}),
                ({}, {"csrf_token": sid}),
            ]:
                response = await client.post("/api", headers=headers, data=data)
                assert response.status_code == 403
                bodies.append(response.text)
            exposed = caplog.text + "".join(bodies)
            assert len(csrf_records(caplog)) == 5
            for value in (token, token[::-1], sid, store_key(sid), secret.hex()):
                assert value not in exposed

    run(main())


def test_a_crafted_path_cannot_forge_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack_app = CSRFMiddleware(RecordingApp())
    scope = http_scope("POST", "/x\nCSRF accepted POST /admin", [])
    scope["session"] = Session(None, None, now=0.0)
    sent = Sent()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    run(stack_app(scope, receive, sent))

    assert sent.status == 403
    assert len(csrf_records(caplog)) == 1
    assert "\n" not in csrf_records(caplog)[0].getMessage()
    assert "\\n" in csrf_records(caplog)[0].getMessage()


# -- other scopes and misconfiguration ----------------------------------------


def test_a_same_origin_websocket_passes_through_the_stack() -> None:
    app, _ = build_app()
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"origin", b"http://testserver")],
        "subprotocols": [],
    }
    sent = Sent()

    async def receive() -> Message:
        return incoming.pop(0)

    run(app(scope, receive, sent))

    assert [m["type"] for m in sent.messages] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert sent.messages[1]["text"] == "echo hi"


@pytest.mark.parametrize("scope_type", ["lifespan", "websocket"])
def test_non_http_scopes_pass_through_the_csrf_middleware_alone(
    scope_type: str,
) -> None:
    inner = RecordingApp()
    middleware = CSRFMiddleware(inner)

    async def receive() -> Message:
        return {"type": f"{scope_type}.disconnect"}

    scope = {
        "type": scope_type,
        "scheme": "ws",
        "path": "/",
        "headers": [(b"host", b"testserver"), (b"origin", b"http://testserver")],
    }
    run(middleware(scope, receive, Sent()))

    assert inner.calls == 1
    assert inner.scopes[0]["type"] == scope_type


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_csrf_middleware_without_sessions_fails_loudly(method: str) -> None:
    inner = RecordingApp()
    middleware = CSRFMiddleware(inner)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    with pytest.raises(RuntimeError, match="needs forgeproof's SessionMiddleware"):
        run(middleware(http_scope(method, "/"), receive, Sent()))
    assert inner.calls == 0


def test_starlettes_own_session_middleware_is_not_enough() -> None:
    """A plain dict at scope["session"] has no CSRF secret to check."""
    inner = RecordingApp()
    middleware = CSRFMiddleware(inner)
    scope = http_scope("POST", "/")
    scope["session"] = {"user": "alice"}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        run(middleware(scope, receive, Sent()))


def test_the_problem_json_is_valid_json_for_every_reason() -> None:
    facts = RequestFacts(method="POST", scheme="https", host="a", path="/")
    for reason in Reason:
        response = render_problem_json(Rejection(reason), facts)
        document = json.loads(response.body)

        assert document["reason"] == reason.value
        assert document["status"] == reason.status == response.status
