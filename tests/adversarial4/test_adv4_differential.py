"""Generated requests: both adapters give the same verdict, and that
verdict is the one a plain reading of the policy predicts.

The two adapters share one store, so every generated request is run
through both against the same live sessions. The oracle below is written
from the documented rules, not from the code: an unsafe request reaches
the app only when it is exempt (path or bearer without our cookie), or
names exactly our session once, comes from an allowed origin, and carries
only tokens of that session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adversarial4.adv4_support import (
    COOKIE,
    ORIGIN,
    TRUSTED_ORIGIN,
    Headers,
    Login,
    Outcome,
    Stack,
    asgi_stack,
    wsgi_stack,
)

_ASGI = asgi_stack()
_WSGI = wsgi_stack(store=_ASGI.store, clock=_ASGI.clock)
_VICTIM = _ASGI.visit()
_OTHER = _WSGI.visit()

# Cookie pairs: the first three name the victim's session.
_COOKIES = {
    "ours": f"{COOKIE}={_VICTIM.session_id}",
    "quoted": f'{COOKIE}="{_VICTIM.session_id}"',
    "spaced": f" {COOKIE} ={_VICTIM.session_id}",
    "other": f"{COOKIE}={_OTHER.session_id}",
    "empty": f"{COOKIE}=",
    "junk": f"{COOKIE}=junk",
    "upper": f"FORGEPROOF_SESSION={_VICTIM.session_id}",
    "suffix": f"x{COOKIE}={_VICTIM.session_id}",
    "inside": f"a={COOKIE}={_VICTIM.session_id}",
    "theme": "theme=dark",
}
_VICTIM_NAMED = {"ours", "quoted", "spaced"}
_OUR_NAME = _VICTIM_NAMED | {"other", "empty", "junk"}

_ORIGINS = {
    "ours": [ORIGIN],
    "trusted": [TRUSTED_ORIGIN],
    "evil": ["http://evil.example"],
    "null": ["null"],
    "upper": ["HTTP://APP.TEST"],
    "twice": [ORIGIN, ORIGIN],
    "none": [],
}
_TOKENS = {
    "ours": _VICTIM.token,
    "other": _OTHER.token,
    "junk": "junk",
    "padded": _VICTIM.token + "=",
    "empty": "",
}
_SAFE = {"GET", "HEAD"}
# Host headers, and whether each makes http://app.test our origin.
_HOSTS: dict[str | None, bool] = {
    "app.test": True,
    "APP.TEST": True,
    "app.test:80": True,
    "app.test:8080": False,
    "evil.example": False,
    None: False,
}
_BEARERS = {"Bearer abc", "bearer  abc"}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    host: str | None
    cookies: tuple[str, ...]
    separator: str
    origin: str
    site: str | None
    auth: str | None
    token_headers: tuple[str, ...]
    body_kind: str | None
    body_tokens: tuple[str, ...]
    cuts: tuple[int, ...]


_cases = st.builds(
    Case,
    method=st.sampled_from(["POST", "post", "PUT", "PROPPATCH", "GET", "HEAD"]),
    path=st.sampled_from(["/notes", "/notes", "/hooks/x", "/hooks/../notes"]),
    host=st.sampled_from(sorted(_HOSTS, key=str)),
    cookies=st.lists(st.sampled_from(sorted(_COOKIES)), max_size=3).map(tuple),
    separator=st.sampled_from(["; ", ";", " ;  "]),
    origin=st.sampled_from(sorted(_ORIGINS)),
    site=st.sampled_from(
        [None, "same-origin", "cross-site", "same-site", "none", "Cross-Site"]
    ),
    auth=st.sampled_from([None, "Bearer abc", "bearer  abc", "Basic eDp5", "Bearer "]),
    token_headers=st.lists(st.sampled_from(sorted(_TOKENS)), max_size=2).map(tuple),
    body_kind=st.sampled_from([None, "form", "json", "multipart", "plain"]),
    body_tokens=st.lists(st.sampled_from(sorted(_TOKENS)), max_size=2).map(tuple),
    cuts=st.lists(st.integers(0, 2000), max_size=3).map(tuple),
)


def _body(case: Case) -> tuple[str | None, bytes]:
    values = [_TOKENS[label] for label in case.body_tokens]
    if case.body_kind == "form":
        fields = ["a=1", *(f"csrf_token={v}" for v in values), "b=2"]
        return "application/x-www-form-urlencoded", "&".join(fields).encode()
    if case.body_kind == "json":
        pairs = ", ".join(f'"csrf_token": {json.dumps(v)}' for v in values)
        return "application/json", ("{" + pairs + "}").encode()
    if case.body_kind == "multipart":
        parts = b"".join(
            b'--bnd\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            + v.encode()
            + b"\r\n"
            for v in values
        )
        return "multipart/form-data; boundary=bnd", parts + b"--bnd--\r\n"
    if case.body_kind == "plain":
        return "text/plain", "&".join(f"csrf_token={v}" for v in values).encode()
    return None, b""


def _request(case: Case) -> tuple[Headers, list[bytes]]:
    headers: Headers = [("Origin", value) for value in _ORIGINS[case.origin]]
    if case.cookies:
        pairs = case.separator.join(_COOKIES[label] for label in case.cookies)
        headers.append(("Cookie", pairs))
    if case.site is not None:
        headers.append(("Sec-Fetch-Site", case.site))
    if case.auth is not None:
        headers.append(("Authorization", case.auth))
    headers += [("X-CSRF-Token", _TOKENS[label]) for label in case.token_headers]
    content_type, body = _body(case)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    cuts = sorted({cut % (len(body) + 1) for cut in case.cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in pairwise(cuts)] or [b""]
    return headers, chunks


def _origin_allowed(case: Case) -> bool:
    site = (case.site or "").lower()
    if site in ("cross-site", "same-site"):
        return case.origin == "trusted"
    if case.origin == "null":
        return site == "same-origin"
    if case.origin == "ours":
        return _HOSTS[case.host]
    return case.origin in ("trusted", "none")


def _tokens_valid(case: Case) -> bool:
    if case.token_headers:
        return set(case.token_headers) == {"ours"}
    if case.body_kind in ("form", "json", "multipart") and case.body_tokens:
        return set(case.body_tokens) == {"ours"}
    return False


def may_pass(case: Case) -> bool:
    """The documented rules, read plainly."""
    if case.method in _SAFE or case.path == "/hooks/x":
        return True
    named = [label for label in case.cookies if label in _OUR_NAME]
    if not named and case.auth in _BEARERS:
        return True
    return (
        len(named) == 1
        and named[0] in _VICTIM_NAMED
        and _origin_allowed(case)
        and _tokens_valid(case)
    )


def _run(stack: Stack, case: Case) -> Outcome:
    headers, chunks = _request(case)
    return stack.send(case.method, case.path, headers, chunks, host=case.host)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=_cases)
def test_both_adapters_give_the_documented_verdict_for_generated_requests(
    case: Case,
) -> None:
    asgi = _run(_ASGI, case)
    wsgi = _run(_WSGI, case)
    body = b"".join(_request(case)[1])

    assert (asgi.status, asgi.reason, asgi.reached) == (
        wsgi.status,
        wsgi.reason,
        wsgi.reached,
    )
    assert asgi.reached == may_pass(case)
    assert asgi.status in (200, 403)
    if asgi.reached:
        assert asgi.app_body == body
        assert wsgi.app_body == body


def test_the_generated_sessions_are_live_in_the_shared_store() -> None:
    """The sessions the generator names are real, so a refusal above is
    never a mere unknown session."""
    for login in (_VICTIM, _OTHER):
        assert isinstance(login, Login)
        assert _ASGI.record(login.session_id) is not None
