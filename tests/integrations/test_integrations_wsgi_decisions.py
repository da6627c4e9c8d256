"""The WSGI adapter decides the everyday request without building
RequestFacts; over generated requests it must decide exactly as the
policy does from the full facts, and hand renderers and callbacks the
same facts."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeproof import MemorySessionStore, SessionConfig
from forgeproof import wsgi as forgeproof_wsgi
from forgeproof._adapter import request_facts, token_verdict, verdict_before_body
from forgeproof.decisions import Decision
from forgeproof.policy import CSRFPolicy, Rejection, RequestFacts, Verdict
from forgeproof.responses import RejectionResponse
from forgeproof.sessions.base import Session
from forgeproof.tokens import mask_secret, new_secret
from forgeproof.wsgi import ENVIRON_KEY, CSRFMiddleware, SessionMiddleware

Environ = dict[str, Any]

HOST = "testserver"
CONFIG = SessionConfig()
POLICIES = {
    "default": {},
    "exempt paths": {"exempt_paths": ["/hooks/"]},
    "public origin": {"public_origins": ["https://app.example"]},
    "trusted origin": {"trusted_origins": ["https://partner.example"]},
    "one proxy": {"trusted_proxies": 1},
}


class Stack:
    """SessionMiddleware(Probe(CSRFMiddleware(app))) over one live session.

    The probe keeps the session the CSRF check will see, so the reference
    verdict can be worked out from the same inputs.
    """

    def __init__(self, policy: CSRFPolicy, exempt: bool | None) -> None:
        self.store = MemorySessionStore()
        self.secret = new_secret()
        self.session_id = _save_session(self.store, self.secret)
        self.rendered: list[tuple[Rejection, RequestFacts]] = []
        self.decisions: list[Decision] = []
        self.app_calls = 0
        self.seen: Session | None = None
        hook = None if exempt is None else (lambda environ: exempt)
        self.plain = self._stack(
            CSRFMiddleware(
                self._app, policy=policy, is_exempt=hook, on_reject=self._render
            )
        )
        self.observed = self._stack(
            CSRFMiddleware(
                self._app,
                policy=policy,
                is_exempt=hook,
                on_decision=self.decisions.append,
            )
        )

    def _stack(self, checked: Callable[..., Iterable[bytes]]) -> SessionMiddleware:
        def probe(
            environ: Environ, start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            self.seen = environ[ENVIRON_KEY]
            return checked(environ, start_response)

        return SessionMiddleware(probe, store=self.store)

    def _app(self, environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        self.app_calls += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def _render(self, rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
        self.rendered.append((rejection, facts))
        return RejectionResponse(rejection.reason.status, (), b"refused")


def _save_session(store: MemorySessionStore, secret: bytes) -> str:
    session = Session(None, None, now=CONFIG.clock())
    session._secret = secret  # what csrf_secret would create
    session._secret_created = True
    write = session.plan_write(CONFIG, "http")
    assert write is not None
    write.perform(store)
    assert session.id is not None
    return session.id


def run(app: Callable[..., Iterable[bytes]], environ: Environ) -> str:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    b"".join(
        app(
            dict(environ, **{"wsgi.input": io.BytesIO(environ["body"])}), start_response
        )
    )
    return statuses[0]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def reference_facts(environ: Environ, session: Session, exempt: bool) -> RequestFacts:
    """The facts as the shared translation makes them, from PEP 3333's
    spelling of each header."""
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return request_facts(
        method=environ.get("REQUEST_METHOD", "GET"),
        scheme=environ.get("wsgi.url_scheme", "http"),
        path=raw.encode("latin-1").decode("utf-8", "replace"),
        header=lambda name: _text(
            environ.get("HTTP_" + name.upper().replace("-", "_"))
        ),
        session=session,
        exempt=exempt,
    )


def reference_verdict(
    policy: CSRFPolicy,
    facts: RequestFacts,
    session: Session,
    environ: Environ,
    body_token: str | None,
) -> Verdict | Rejection:
    header = next(
        (
            value
            for name in policy.header_names
            if (value := _text(environ.get("HTTP_" + name.upper().replace("-", "_"))))
            is not None
        ),
        None,
    )
    verdict = verdict_before_body(policy, facts, session, header)
    if verdict is Verdict.CHECK_TOKEN:
        tokens = [] if body_token is None else [body_token]
        verdict = token_verdict(policy, session, tokens)
    return verdict


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    scheme = draw(st.sampled_from(["http", "https"]))
    optional = {
        "HTTP_HOST": [
            HOST,
            "TestServer",
            f"{HOST}:80",
            f"{HOST}:8443",
            "app.example",
            f" {HOST}",
            f"{HOST}.",
            b"testserver",
            "",
        ],
        "HTTP_ORIGIN": [
            f"{scheme}://{HOST}",
            f"http://{HOST}",
            f"https://{HOST}",
            f"{scheme}://{HOST}:80",
            "null",
            "https://evil.example",
            "https://app.example",
            "https://partner.example",
            f"{scheme}://{HOST}, {scheme}://{HOST}",
            f"{scheme.upper()}://{HOST.upper()}",
            b"http://testserver",
        ],
        "HTTP_SEC_FETCH_SITE": [
            "same-origin",
            "Same-Origin",
            "same-site",
            "cross-site",
            "none",
            " same-origin",
            b"same-origin",
        ],
        "HTTP_REFERER": [f"https://{HOST}/form", "https://evil.example/x?t=1"],
        "HTTP_AUTHORIZATION": ["Bearer abc", "Basic eHk6eQ==", "Bearer "],
        "HTTP_ACCEPT": ["*/*", "text/html", "application/json"],
        "HTTP_FORWARDED": ["proto=https;host=app.example"],
        "HTTP_X_FORWARDED_PROTO": ["https", "http"],
        "HTTP_X_FORWARDED_HOST": ["app.example", HOST],
        "HTTP_X_FORWARDED_PORT": ["443"],
    }
    environ: dict[str, Any] = {
        "REQUEST_METHOD": draw(
            st.sampled_from(
                ["POST", "PUT", "PATCH", "DELETE", "post", "PROPFIND", "GET", "OPTIONS"]
            )
        ),
        "SCRIPT_NAME": draw(st.sampled_from(["", "/app"])),
        "PATH_INFO": draw(
            st.sampled_from(
                ["/submit", "/hooks/in", "/hooks/../submit", "/h\xc3\xa9", "/\xff"]
            )
        ),
        "wsgi.url_scheme": scheme,
    }
    for key, values in optional.items():
        value = draw(st.none() | st.sampled_from(values))
        if value is not None:
            environ[key] = value
    return environ


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=requests(),
    policy_name=st.sampled_from(sorted(POLICIES)),
    exempt=st.sampled_from([None, False, True]),
    cookie=st.sampled_from(["none", "ours", "ours twice", "unknown"]),
    header_token=st.sampled_from(
        ["none", "valid", "other", "garbage", "twice", "conflict"]
    ),
    body_token=st.sampled_from(["none", "valid", "garbage"]),
)
def test_the_wsgi_check_decides_every_request_as_the_policy_does_from_full_facts(
    request: dict[str, Any],
    policy_name: str,
    exempt: bool | None,
    cookie: str,
    header_token: str,
    body_token: str,
) -> None:
    policy = CSRFPolicy.build(**POLICIES[policy_name])  # type: ignore[arg-type]
    stack = Stack(policy, exempt)
    valid = mask_secret(stack.secret)
    name = CONFIG.cookie_name_for(request["wsgi.url_scheme"])
    cookies = {
        "none": None,
        "ours": f"theme=dark; {name}={stack.session_id}",
        "ours twice": f"{name}={stack.session_id}; {name}={stack.session_id}",
        "unknown": f"{name}={'u' * 43}",
    }[cookie]
    tokens = {
        "none": None,
        "valid": valid,
        "other": mask_secret(new_secret()),
        "garbage": "x" * 86,
        "twice": f"{valid}, {valid}",
        "conflict": f"{valid}, {mask_secret(stack.secret)}",
    }
    environ = dict(request)
    if cookies is not None:
        environ["HTTP_COOKIE"] = cookies
    if tokens[header_token] is not None:
        environ["HTTP_X_CSRF_TOKEN"] = tokens[header_token]
    in_body = {"none": None, "valid": valid, "garbage": "y" * 86}[body_token]
    environ["body"] = b"title=hi" + (
        b"" if in_body is None else f"&csrf_token={in_body}".encode()
    )
    environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    environ["CONTENT_LENGTH"] = str(len(environ["body"]))

    status = run(stack.plain, environ)
    assert stack.seen is not None
    facts = reference_facts(environ, stack.seen, exempt is True)
    expected = reference_verdict(policy, facts, stack.seen, environ, in_body)

    if isinstance(expected, Rejection):
        assert status.startswith(str(expected.reason.status))
        assert stack.app_calls == 0
        assert stack.rendered == [(expected, facts)]
    else:
        assert status == "200 OK"
        assert stack.app_calls == 1
        assert stack.rendered == []

    if request["REQUEST_METHOD"] in ("GET", "OPTIONS"):
        return  # safe methods are not decided, so not reported
    run(stack.observed, environ)
    [decision] = stack.decisions
    assert decision.rejection == (expected if isinstance(expected, Rejection) else None)
    assert decision.facts.path == facts.path
    assert decision.facts.origin == facts.origin
    assert decision.facts.has_live_session == facts.has_live_session


def test_an_everyday_post_is_decided_without_building_request_facts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = Stack(CSRFPolicy.build(), exempt=None)
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/submit",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": HOST,
        "HTTP_ORIGIN": f"http://{HOST}",
        "HTTP_SEC_FETCH_SITE": "same-origin",
        "HTTP_COOKIE": f"{CONFIG.cookie_name}={stack.session_id}",
        "HTTP_X_CSRF_TOKEN": mask_secret(stack.secret),
        "body": b"",
    }

    def no_facts(*args: object) -> RequestFacts:
        raise AssertionError("RequestFacts built for an everyday request")

    monkeypatch.setattr(forgeproof_wsgi, "_facts", no_facts)

    assert run(stack.plain, environ) == "200 OK"
    assert stack.app_calls == 1
    forged = dict(environ, HTTP_X_CSRF_TOKEN=mask_secret(new_secret()))
    with pytest.raises(AssertionError, match="RequestFacts built"):
        run(stack.plain, forged)  # a refusal needs the facts for its renderer
    assert stack.app_calls == 1
