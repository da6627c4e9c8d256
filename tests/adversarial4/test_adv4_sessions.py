"""Tokens of sessions that are no longer live, and the bearer exemption.

The session lookup and the "no secret, no valid token" rule are on the
fast path now; these pin that a token never outlives its session or its
secret, and that only a real bearer credential without our cookie skips
the check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adversarial4.adv4_support import (
    COOKIE,
    HOST_COOKIE,
    ORIGIN,
    STACKS,
    TLS_ORIGIN,
    Clock,
    Headers,
    Login,
    Stack,
    assert_accepted,
    assert_refused,
)
from forgeproof import SessionConfig, SQLiteSessionStore

_STORES = ["memory", "sqlite", "sqlite-mmap"]


@pytest.fixture(
    params=[(kind, store) for kind in sorted(STACKS) for store in _STORES],
    ids=lambda param: "-".join(param),
)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """This module's stacks: each adapter over each store, since the store
    decides whether an old id or an expired session still loads."""
    kind, store_kind = request.param
    if store_kind == "memory":
        yield STACKS[kind]()
        return
    clock = Clock()
    path = tmp_path / "s.db"
    if store_kind == "sqlite":
        store = SQLiteSessionStore(path, clock=clock)
    else:
        try:
            store = SQLiteSessionStore(path, clock=clock, mmap_size=1 << 20)
        except TypeError:  # mmap_size is being added in this round
            pytest.skip("this SQLiteSessionStore has no mmap_size yet")
    try:
        yield STACKS[kind](store=store, clock=clock)
    finally:
        store.close()


_IDLE = SessionConfig().idle_timeout
_ABSOLUTE = SessionConfig().absolute_timeout


def _log_in(stack: Stack, visitor: Login) -> Login:
    response = stack.post(visitor, path="/login")
    assert response.status == 200
    session_id = response.session_id()
    assert session_id is not None
    return Login(session_id, str(response.json()["token"]))


def test_a_token_of_a_logged_out_session_is_refused(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    user = _log_in(stack, stack.visit())
    logout = stack.post(user, path="/logout")
    assert logout.status == 200
    assert stack.record(user.session_id) is None

    outcome = stack.post(user)

    assert_refused(stack, outcome, "session_missing", logs, login=user, before=None)
    control = stack.visit()
    assert_accepted(stack.post(control))


def test_a_token_from_before_login_is_refused_in_the_new_session(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    visitor = stack.visit()
    user = _log_in(stack, visitor)
    stale = Login(user.session_id, visitor.token)
    before = stack.record(user.session_id)

    outcome = stack.post(stale)

    assert_refused(stack, outcome, "token_invalid", logs, login=stale, before=before)
    assert_accepted(stack.post(user))


def test_the_id_from_before_login_is_dead_with_its_token(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    visitor = stack.visit()
    user = _log_in(stack, visitor)

    outcome = stack.post(visitor)

    assert_refused(stack, outcome, "session_missing", logs, login=visitor, before=None)
    fresh = Login(visitor.session_id, user.token)
    assert_refused(
        stack, stack.post(fresh), "session_missing", logs, login=fresh, before=None
    )


def test_a_token_of_an_idle_expired_session_is_refused(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    stack.clock.now += _IDLE - 1
    assert_accepted(stack.post(login))  # control: just in time, and touched
    stack.clock.now += _IDLE + 1

    outcome = stack.post(login)

    assert outcome.status == 403
    assert outcome.reason == "session_missing"
    assert not outcome.reached
    assert "reason=session_missing" in logs.text
    assert login.token not in logs.text
    assert login.session_id not in logs.text


def test_a_token_of_a_session_past_its_absolute_timeout_is_refused(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    created = stack.clock.now
    while stack.clock.now + _IDLE / 2 < created + _ABSOLUTE:
        stack.clock.now += _IDLE / 2
        assert_accepted(stack.post(login))  # busy all along
    stack.clock.now = created + _ABSOLUTE + 1

    outcome = stack.post(login)

    assert outcome.status == 403
    assert outcome.reason == "session_missing"
    assert not outcome.reached
    assert login.token not in logs.text
    assert login.session_id not in logs.text


_EVIL = [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            [("Authorization", "Bearer abc.def"), *_EVIL],
            "accept",
            id="bearer alone is exempt, even cross-site",
        ),
        pytest.param(
            [("Authorization", "bearer abc")], "accept", id="lower-case scheme"
        ),
        pytest.param(
            [("Authorization", "Bearer abc"), ("Cookie", "theme=dark")],
            "accept",
            id="bearer beside a cookie of another name",
        ),
        pytest.param(
            [("Authorization", "Bearer abc"), ("Cookie", "FORGEPROOF_SESSION=x")],
            "accept",
            id="bearer beside an upper-case lookalike",
        ),
        pytest.param(
            [("Authorization", "Bearer abc"), ("Cookie", f"{COOKIE}=junk")],
            "session_missing",
            id="bearer beside our cookie, junk value",
        ),
        pytest.param(
            [("Authorization", "Bearer abc"), ("Cookie", f"{COOKIE}=")],
            "session_missing",
            id="bearer beside our cookie, empty value",
        ),
        pytest.param(
            [("Authorization", "Bearer abc"), ("Cookie", f"a=1;{COOKIE}=x")],
            "session_missing",
            id="bearer beside our cookie, no space",
        ),
        pytest.param(
            [("Authorization", "Bearer")], "session_missing", id="no credentials"
        ),
        pytest.param(
            [("Authorization", "Bearer    ")], "session_missing", id="blank credentials"
        ),
        pytest.param(
            [("Authorization", "Basic YWxpY2U6cHc=")],
            "session_missing",
            id="Basic is not exempt",
        ),
        pytest.param(
            [("Authorization", "Digest username=alice")],
            "session_missing",
            id="Digest is not exempt",
        ),
        pytest.param(
            [("Authorization", "Bearerabc")], "session_missing", id="glued scheme"
        ),
    ],
)
def test_only_a_bearer_credential_without_our_cookie_skips_the_check(
    stack: Stack, headers: Headers, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    sent: Headers = [("Origin", ORIGIN), *headers]
    if any(name == "Origin" for name, _ in headers):
        sent = list(headers)

    outcome = stack.send("POST", "/notes", sent, b"{}")

    if expected == "accept":
        assert_accepted(outcome)
        assert "reason=" not in logs.text
        return
    assert outcome.status == 403
    assert outcome.reason == expected
    assert not outcome.reached
    assert f"reason={expected}" in logs.text


@pytest.mark.parametrize(
    "authorization",
    ["Bearer abc", "Basic YWxpY2U6cHc=", "bearer abc"],
)
def test_a_bearer_or_basic_request_with_the_session_cookie_is_checked(
    stack: Stack, authorization: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    auth = [("Authorization", authorization)]

    outcome = stack.post(login, auth, token_header=False)

    assert_refused(stack, outcome, "token_missing", logs, login=login, before=before)
    assert_accepted(stack.post(login, auth))


def test_over_https_the_bearer_exemption_looks_only_at_the_host_cookie(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit(scheme="https")
    bearer = ("Authorization", "Bearer abc")
    plain = ("Cookie", f"{COOKIE}={login.session_id}")
    ours = ("Cookie", f"{HOST_COOKIE}={login.session_id}")
    before = stack.record(login.session_id)

    tossed = stack.send(
        "POST", "/notes", [("Origin", TLS_ORIGIN), bearer, plain], scheme="https"
    )
    checked = stack.send(
        "POST", "/notes", [("Origin", TLS_ORIGIN), bearer, ours], scheme="https"
    )

    assert_accepted(tossed)
    assert_refused(stack, checked, "token_missing", logs, login=login, before=before)


def _forged_id() -> str:
    """A well-formed session id that no server ever issued."""
    return "A" * 20 + "-" + "b" * 22


@pytest.mark.parametrize("how", ["forged", "logged out", "expired"])
def test_a_dead_or_unknown_session_id_is_never_adopted(
    stack: Stack, how: str, logs: pytest.LogCaptureFixture
) -> None:
    """Session fixation: an id the server does not hold live must never
    become the visitor's session, or whoever chose it shares it."""
    if how == "forged":
        dead = _forged_id()
    elif how == "logged out":
        user = _log_in(stack, stack.visit())
        assert stack.post(user, path="/logout").status == 200
        dead = user.session_id
    else:
        dead = stack.visit().session_id
        stack.clock.now += _IDLE + 1

    page = stack.send("GET", "/page", [("Cookie", f"{COOKIE}={dead}")])

    assert page.status == 200
    issued = page.session_id()
    assert issued is not None
    assert issued != dead
    assert stack.record(dead) is None
    assert stack.record(issued) is not None
    assert dead not in logs.text
