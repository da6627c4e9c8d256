"""The ASGI adapter's shortcut for the everyday request decides exactly as
the full precheck does.

``CSRFPolicy.needs_only_the_token`` answers from a few headers, and the
adapter builds ``RequestFacts`` only when something reads them. Each test
here compares that with the long way round (``CSRFPolicy.precheck`` over
the full facts) or shows that a request the shortcut must not take is
still refused, with its control.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.core_kit import (
    COOKIE_NAME,
    HOST,
    ORIGIN,
    RecordingApp,
    Sent,
    Stack,
    call,
    http_scope,
    make_stack,
    run,
    seed_session,
)
from forgeproof import (
    CSRFMiddleware,
    CSRFPolicy,
    MemorySessionStore,
    SessionMiddleware,
)
from forgeproof._adapter import request_facts
from forgeproof.decisions import Decision
from forgeproof.policy import Rejection, RequestFacts, Verdict
from forgeproof.responses import RejectionResponse, render_rejection
from forgeproof.sessions.base import Session, SessionRecord, store_key
from forgeproof.types import Scope

POLICIES: dict[str, dict[str, Any]] = {
    "default": {},
    "trusted": {"trusted_origins": ["https://partner.example", "https://*.app.test"]},
    "exempt paths": {"exempt_paths": ["/hooks/", "/public"]},
    "public origins": {"public_origins": ["https://app.test", "http://testserver"]},
    "one proxy": {"trusted_proxies": 1},
    "forwarded proxy": {"trusted_proxies": 1, "proxy_headers": "forwarded"},
}

HOSTS = [
    HOST,
    "TestServer",
    " testserver ",
    "testserver:80",
    "testserver:8000",
    "testserver.",
    "app.test",
    "app.test:443",
    "[::1]:8000",
    "evil.example",
    "",
]
ORIGINS = [
    ORIGIN,
    "http://TESTSERVER",
    " http://testserver",
    "http://testserver ",
    "http://testserver:80",
    "http://testserver:8000",
    "https://testserver",
    "https://app.test",
    "http://app.test",
    "http://[::1]:8000",
    "null",
    "NULL",
    f"{ORIGIN}, {ORIGIN}",
    f"{ORIGIN}, https://evil.example",
    "https://partner.example",
    "https://a.app.test",
    "https://a..app.test",
    "https://evil.example",
    "",
]
SITES = [
    "same-origin",
    "Same-Origin",
    " same-origin",
    "same-origin ",
    "same-origin, same-origin",
    "same-site",
    "cross-site",
    "CROSS-SITE",
    "none",
    "",
]
REFERERS = [
    f"{ORIGIN}/form",
    "https://testserver/form",
    "https://app.test/form?q=1",
    "https://evil.example/attack",
    "not a url",
    "",
]
AUTHORIZATIONS = ["Bearer abc", "bearer xyz", "Bearer ", "Basic dXNlcjpw", ""]
PATHS = ["/submit", "/hooks/github", "/hooks/../submit", "/public", "/publicity"]
METHODS = ["POST", "PUT", "PATCH", "DELETE", "post", "PROPPATCH", "GET", "HEAD"]


def _usually(everyday: Any, variants: list[Any]) -> st.SearchStrategy[Any]:
    """The everyday value half the time, so that requests one or two
    changes away from it, where a shortcut would go wrong, are common."""
    return st.one_of(st.just(everyday), st.sampled_from(variants))


def _usually_one(everyday: str, variants: list[str]) -> st.SearchStrategy[list[str]]:
    """The values of a header: the everyday one alone half the time, else
    none, one or two of *variants* (sent as two headers)."""
    return st.one_of(
        st.just([everyday]), st.lists(st.sampled_from(variants), max_size=2)
    )


@st.composite
def request_facts_strategy(draw: st.DrawFn) -> RequestFacts:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(_usually(HOST, ["app.test", None, *HOSTS]))
    own = f"{scheme}://{(host or '').strip().lower()}"
    return RequestFacts(
        method=draw(_usually("POST", METHODS)),
        scheme=scheme,
        host=host,
        path=draw(_usually("/submit", PATHS)),
        origin=draw(_usually(own, [None, own.upper(), f"{own}, {own}", *ORIGINS])),
        referer=draw(_usually(None, REFERERS)),
        sec_fetch_site=draw(_usually("same-origin", [None, *SITES])),
        authorization=draw(_usually(None, AUTHORIZATIONS)),
        session_cookie_count=draw(_usually(1, [0, 2])),
        has_live_session=draw(_usually(True, [False])),
        exempt=draw(_usually(False, [True])),
        accept=draw(_usually("*/*", [None, "application/json", "text/html"])),
        forwarded=draw(_usually(None, ["proto=https;host=app.test", "host=evil"])),
        x_forwarded_proto=draw(_usually(None, ["https", "http", "https, http"])),
        x_forwarded_host=draw(_usually(None, ["app.test", "evil.example", HOST])),
        x_forwarded_port=draw(_usually(None, ["443", "8000", "x"])),
    )


def _shortcut(policy: CSRFPolicy, facts: RequestFacts) -> bool:
    return policy.needs_only_the_token(
        method=facts.method,
        path=facts.path,
        scheme=facts.scheme,
        host=facts.host,
        origin=facts.origin,
        sec_fetch_site=facts.sec_fetch_site,
        session_cookie_count=facts.session_cookie_count,
        has_live_session=facts.has_live_session,
        exempt=facts.exempt,
    )


@settings(max_examples=3000, deadline=None)
@given(policy_name=st.sampled_from(sorted(POLICIES)), facts=request_facts_strategy())
def test_the_precheck_shortcut_only_says_what_the_precheck_says(
    policy_name: str, facts: RequestFacts
) -> None:
    policy = CSRFPolicy.build(**POLICIES[policy_name])

    if _shortcut(policy, facts):
        assert policy.precheck(facts) is Verdict.CHECK_TOKEN


@pytest.mark.parametrize(
    ("policy_name", "scheme", "host", "origin"),
    [
        ("default", "http", HOST, ORIGIN),
        ("default", "http", "TestServer:80", ORIGIN),
        ("trusted", "https", "app.test", "https://app.test"),
        ("exempt paths", "http", HOST, ORIGIN),
        ("public origins", "http", "internal:8080", "https://app.test"),
    ],
)
@pytest.mark.parametrize("site", [None, "same-origin"])
def test_the_precheck_shortcut_answers_for_the_everyday_same_origin_request(
    policy_name: str, scheme: str, host: str, origin: str, site: str | None
) -> None:
    policy = CSRFPolicy.build(**POLICIES[policy_name])
    facts = RequestFacts(
        "POST",
        scheme,
        host,
        "/submit",
        origin=origin,
        sec_fetch_site=site,
        session_cookie_count=1,
        has_live_session=True,
    )

    assert _shortcut(policy, facts)
    assert policy.precheck(facts) is Verdict.CHECK_TOKEN


def test_the_precheck_shortcut_leaves_trusted_proxies_to_the_precheck() -> None:
    policy = CSRFPolicy.build(trusted_proxies=1)
    facts = RequestFacts(
        "POST",
        "http",
        HOST,
        "/submit",
        origin=ORIGIN,
        session_cookie_count=1,
        has_live_session=True,
    )

    assert not _shortcut(policy, facts)
    assert policy.precheck(facts) is Verdict.CHECK_TOKEN


# -- through the ASGI adapter -------------------------------------------------


class _LongWayMiddleware(CSRFMiddleware):
    """The adapter as it was: every unsafe request through the precheck."""

    def _needs_only_the_token(self, *args: Any) -> bool:
        return False


def _run_stack(
    middleware: CSRFMiddleware, store: MemorySessionStore, scope: Scope, body: bytes
) -> Sent:
    sent = Sent()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    run(SessionMiddleware(middleware, store=store)(dict(scope), receive, sent))
    return sent


asgi_requests = st.fixed_dictionaries(
    {
        "policy": st.sampled_from(sorted(POLICIES)),
        "method": _usually("POST", METHODS),
        "scheme": _usually("http", ["https"]),
        "path": _usually("/submit", PATHS),
        "host": _usually_one(HOST, HOSTS),
        "origin": _usually_one(ORIGIN, ORIGINS),
        "site": _usually_one("same-origin", SITES),
        "referer": _usually([], [[value] for value in REFERERS]),
        "authorization": _usually([], [[value] for value in AUTHORIZATIONS]),
        "cookies": _usually("one", ["none", "two pairs", "two headers"]),
        "live": _usually(True, [False]),
        "token": _usually("valid", ["other", "missing", "twice"]),
        "forwarded": _usually(
            [],
            [
                [("x-forwarded-proto", "https")],
                [("x-forwarded-host", "app.test")],
                [("forwarded", "proto=https;host=app.test")],
            ],
        ),
    }
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request=asgi_requests)
def test_the_asgi_adapter_decides_every_request_as_the_long_way_does(
    request: dict[str, Any],
) -> None:
    options = POLICIES[request["policy"]]
    store = MemorySessionStore()
    seeded = seed_session(store)
    other = seed_session(store)
    session_id = seeded.session_id if request["live"] else "x" * 43
    name = COOKIE_NAME if request["scheme"] == "http" else f"__Host-{COOKIE_NAME}"
    headers: list[tuple[str, str]] = [("content-type", "application/json")]
    headers += [("host", value) for value in request["host"]]
    headers += [("origin", value) for value in request["origin"]]
    headers += [("sec-fetch-site", value) for value in request["site"]]
    headers += [("referer", value) for value in request["referer"]]
    headers += [("authorization", value) for value in request["authorization"]]
    headers += request["forwarded"]
    cookie = f"theme=dark; {name}={session_id}"
    headers += {
        "none": [("cookie", "theme=dark")],
        "one": [("cookie", cookie)],
        "two pairs": [("cookie", f"{cookie}; {name}={other.session_id}")],
        "two headers": [("cookie", cookie), ("cookie", f"{name}={session_id}")],
    }[request["cookies"]]
    token = {"valid": seeded.token(), "other": other.token()}.get(request["token"])
    if token is not None:
        headers.append(("x-csrf-token", token))
    if request["token"] == "twice":
        headers += [("x-csrf-token", seeded.token()), ("x-csrf-token", other.token())]
    scope = http_scope(
        request["method"], request["path"], headers, scheme=request["scheme"]
    )
    scope["headers"] = scope["headers"][1:]  # only the generated Host headers

    short_app, long_app = RecordingApp(), RecordingApp()
    short = _run_stack(CSRFMiddleware(short_app, **options), store, scope, b"{}")
    long = _run_stack(_LongWayMiddleware(long_app, **options), store, scope, b"{}")

    assert short.status == long.status
    assert short.body == long.body
    assert short_app.calls == long_app.calls


def test_the_asgi_adapter_takes_the_shortcut_for_an_everyday_post(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = make_stack()

    def no_precheck(self: CSRFPolicy, facts: RequestFacts) -> None:
        raise AssertionError("the everyday request needs no full precheck")

    monkeypatch.setattr(CSRFPolicy, "precheck", no_precheck)
    sent, _ = call(
        stack,
        [b"{}"],
        [
            ("content-type", "application/json"),
            ("origin", ORIGIN),
            ("sec-fetch-site", "same-origin"),
            ("cookie", stack.session.cookie),
            ("x-csrf-token", stack.session.token()),
        ],
    )

    assert sent.status == 200
    assert stack.app.calls == 1


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        pytest.param(
            [("sec-fetch-site", "cross-site")],
            "cross_site_request",
            id="our own origin claimed by a cross-site request",
        ),
        pytest.param(
            [("sec-fetch-site", "same-site")],
            "cross_site_request",
            id="a sibling subdomain with our origin",
        ),
        pytest.param(
            [("origin", "https://evil.example")],
            "origin_not_allowed",
            id="a second origin header",
        ),
        pytest.param(
            [("cookie", f"{COOKIE_NAME}={'A' * 43}")],
            "session_cookie_ambiguous",
            id="a planted second session cookie header",
        ),
    ],
)
def test_requests_the_shortcut_must_not_take_are_refused_with_their_reason(
    attack: list[tuple[str, str]],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack()
    token = stack.session.token()
    everyday = [
        ("content-type", "application/json"),
        ("origin", ORIGIN),
        ("cookie", stack.session.cookie),
        ("x-csrf-token", token),
    ]
    before = stack.store.load(_key(stack))

    with caplog.at_level(logging.WARNING, logger="forgeproof.csrf"):
        sent, _ = call(stack, [b"{}"], everyday + attack)

    assert sent.status == 403
    assert f'"reason":"{reason}"' in sent.body.decode().replace(" ", "")
    assert stack.app.calls == 0
    assert stack.store.load(_key(stack)) == before
    assert f"reason={reason}" in caplog.text
    assert token not in caplog.text
    assert stack.session.session_id not in caplog.text
    control, _ = call(stack, [b"{}"], everyday)
    assert control.status == 200
    assert stack.app.calls == 1


def _key(stack: Stack) -> str:
    return store_key(stack.session.session_id)


def test_decision_callbacks_and_renderers_still_get_the_facts() -> None:
    """Facts are built lazily now; what reaches the public hooks is what
    the shared translation makes of the same request."""
    decisions: list[Decision] = []
    rendered: list[RequestFacts] = []

    def renderer(rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
        rendered.append(facts)
        return render_rejection(rejection, facts)

    stack = make_stack(on_decision=decisions.append, on_reject=renderer)
    headers = [
        ("content-type", "application/json"),
        ("origin", ORIGIN),
        ("accept", "application/json"),
        ("cookie", stack.session.cookie),
    ]

    accepted, _ = call(
        stack, [b"{}"], [*headers, ("x-csrf-token", stack.session.token())]
    )
    refused, _ = call(stack, [b"{}"], headers)

    assert accepted.status == 200
    assert refused.status == 403
    expected = request_facts(
        method="POST",
        scheme="http",
        path="/submit",
        header={"host": HOST, "origin": ORIGIN, "accept": "application/json"}.get,
        session=_live_session(),
    )
    assert [d.facts for d in decisions] == [expected, expected]
    assert [d.accepted for d in decisions] == [True, False]
    assert rendered == [expected]


def _live_session() -> Session:
    return Session("x" * 43, SessionRecord({}, None, 0.0, 0.0), now=0.0, cookie_count=1)
