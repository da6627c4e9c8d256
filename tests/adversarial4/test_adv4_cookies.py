"""Cookie header tricks against the session cookie lookup.

The lookup is a fast path (only the pairs that name our cookie are parsed),
so each trick pins what a full RFC 6265 reading gives: a pair is ours when
its name matches exactly after trimming, every occurrence counts towards
"named twice", and nothing inside another cookie's name or value is ever
our session.
"""

from __future__ import annotations

import time

import pytest

from adversarial4.adv4_support import (
    COOKIE,
    HOST_COOKIE,
    ORIGIN,
    STACKS,
    TLS_ORIGIN,
    Outcome,
    Stack,
    assert_accepted,
    assert_refused,
)

# {sid}: the victim's live session; {other}: another live session.
_SAME_SESSION = [
    pytest.param([f"{COOKIE}={{sid}}"], id="control: the cookie once"),
    pytest.param(
        [f"{COOKIE}={{sid}}", "theme=dark"], id="two Cookie headers, ours first"
    ),
    pytest.param([f"a=1;{COOKIE}={{sid}}"], id="no space after the semicolon"),
    pytest.param([f"a=1;   {COOKIE}  ={{sid}}  "], id="spaces around the name"),
    pytest.param([f'{COOKIE}="{{sid}}"'], id="a quoted value"),
    pytest.param([f"{COOKIE}={{sid}}; Path=/"], id="a cookie named Path after it"),
    pytest.param(
        [f"FORGEPROOF_SESSION={{other}}; {COOKIE}={{sid}}"],
        id="an upper-case lookalike beside ours",
    ),
    pytest.param([f"x{COOKIE}={{other}}; {COOKIE}={{sid}}"], id="suffix lookalike"),
    pytest.param([f"{COOKIE}x={{other}}; {COOKIE}={{sid}}"], id="prefix lookalike"),
    pytest.param(
        [f"a={COOKIE}={{other}}; {COOKIE}={{sid}}"],
        id="ours inside another cookie's value, beside ours",
    ),
    pytest.param(
        [f"{HOST_COOKIE}={{other}}; {COOKIE}={{sid}}"],
        id="a __Host- variant over http",
    ),
    pytest.param(
        [f"__Secure-{COOKIE}={{other}}; {COOKIE}={{sid}}"], id="a __Secure- variant"
    ),
]

_AMBIGUOUS = [
    pytest.param(
        [f"{COOKIE}={{sid}}", f"{COOKIE}={{sid}}"],
        id="two Cookie headers, both ours, same value",
    ),
    pytest.param(
        [f"{COOKIE}={{other}}", f"{COOKIE}={{sid}}"],
        id="two Cookie headers, two sessions",
    ),
    pytest.param([f"{COOKIE}={{sid}}; {COOKIE}={{sid}}"], id="named twice, same value"),
    pytest.param(
        [f"{COOKIE}={{other}}; {COOKIE}={{sid}}"], id="named twice, planted first"
    ),
    pytest.param(
        [f"{COOKIE}={{sid}}; {COOKIE}={{other}}"], id="named twice, planted last"
    ),
    pytest.param([f"{COOKIE}=; {COOKIE}={{sid}}"], id="named twice, one empty"),
    pytest.param([f"{COOKIE}=junk; {COOKIE}={{sid}}"], id="named twice, one junk"),
    pytest.param(
        [f" {COOKIE} ={{other}}; {COOKIE}={{sid}}"], id="a spaced twin counts"
    ),
    pytest.param([f'{COOKIE}="{{sid}}"; {COOKIE}={{sid}}'], id="a quoted twin counts"),
]

_NO_SESSION = [
    pytest.param(["FORGEPROOF_SESSION={sid}"], id="the name in upper case"),
    pytest.param(["Forgeproof_Session={sid}"], id="the name in mixed case"),
    pytest.param([f"x{COOKIE}={{sid}}"], id="our name as a suffix"),
    pytest.param([f"{COOKIE}x={{sid}}"], id="our name as a prefix"),
    pytest.param([f"a={COOKIE}={{sid}}"], id="inside another cookie's value"),
    pytest.param([f"a={COOKIE}%3D{{sid}}"], id="percent-encoded inside a value"),
    pytest.param([f"{HOST_COOKIE}={{sid}}"], id="the __Host- name over http"),
    pytest.param([f"{COOKIE}="], id="an empty value"),
    pytest.param([f"{COOKIE}={{sid}}x"], id="one character too many"),
    pytest.param([f"{COOKIE}={{sid_short}}"], id="one character too few"),
    pytest.param([f"{COOKIE}"], id="the name without '='"),
    pytest.param([f"{COOKIE}={{sid}}\u00e9"], id="a non-ASCII tail"),
]


def _fill(templates: list[str], sid: str, other: str) -> list[str]:
    return [t.format(sid=sid, other=other, sid_short=sid[:-1]) for t in templates]


def _post(
    stack: Stack, cookies: list[str], token: str, *, scheme: str = "http"
) -> Outcome:
    headers = [("Origin", TLS_ORIGIN if scheme == "https" else ORIGIN)]
    headers += [("Cookie", value) for value in cookies]
    headers.append(("X-CSRF-Token", token))
    return stack.send("POST", "/notes", headers, b"{}", scheme=scheme)


@pytest.mark.parametrize("cookies", _SAME_SESSION)
def test_a_cookie_header_that_names_our_session_once_is_accepted(
    stack: Stack, cookies: list[str]
) -> None:
    login = stack.visit()
    other = stack.visit()

    outcome = _post(
        stack, _fill(cookies, login.session_id, other.session_id), login.token
    )

    assert_accepted(outcome)
    record = stack.record(login.session_id)
    assert record is not None
    assert record.data == {"writes": 1}


@pytest.mark.parametrize("cookies", _AMBIGUOUS)
def test_a_session_cookie_named_twice_is_refused_as_ambiguous(
    stack: Stack, cookies: list[str], logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    other = stack.visit()
    before = stack.record(login.session_id)
    other_before = stack.record(other.session_id)

    outcome = _post(
        stack, _fill(cookies, login.session_id, other.session_id), login.token
    )

    assert_refused(
        stack,
        outcome,
        "session_cookie_ambiguous",
        logs,
        login=login,
        before=before,
        secrets=[other.session_id],
    )
    assert stack.record(other.session_id) == other_before


@pytest.mark.parametrize("cookies", _NO_SESSION)
def test_a_session_id_that_is_not_exactly_our_cookie_is_no_session(
    stack: Stack, cookies: list[str], logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)

    outcome = _post(stack, _fill(cookies, login.session_id, "-"), login.token)

    assert_refused(stack, outcome, "session_missing", logs, login=login, before=before)


_TLS_CASES = [
    pytest.param([f"{HOST_COOKIE}={{sid}}"], "accept", id="control: __Host- cookie"),
    pytest.param(
        [f"{COOKIE}={{other}}; {HOST_COOKIE}={{sid}}"],
        "accept",
        id="a tossed unprefixed cookie beside ours is ignored",
    ),
    pytest.param([f"{COOKIE}={{sid}}"], "session_missing", id="unprefixed name"),
    pytest.param(
        [f"__Secure-{COOKIE}={{sid}}"], "session_missing", id="__Secure- prefix"
    ),
    pytest.param(
        [f"__host-{COOKIE}={{sid}}"], "session_missing", id="lower-case __host-"
    ),
    pytest.param(
        [f"__HOST-{COOKIE}={{sid}}"], "session_missing", id="upper-case __HOST-"
    ),
    pytest.param(
        [f"{HOST_COOKIE}={{other}}; {HOST_COOKIE}={{sid}}"],
        "session_cookie_ambiguous",
        id="__Host- twice",
    ),
]


@pytest.mark.parametrize(("cookies", "expected"), _TLS_CASES)
def test_over_https_only_the_exact_host_prefixed_cookie_is_the_session(
    stack: Stack, cookies: list[str], expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit(scheme="https")
    other = stack.visit(scheme="https")
    before = stack.record(login.session_id)
    filled = _fill(cookies, login.session_id, other.session_id)

    outcome = _post(stack, filled, login.token, scheme="https")

    if expected == "accept":
        assert_accepted(outcome)
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_a_session_id_inside_another_cookies_value_after_a_comma_is_not_a_session(
    kind: str, logs: pytest.LogCaptureFixture
) -> None:
    """RFC 6265bis §5.7 cuts a pair at ';' only: browsers store and send a
    value like 'x, name=v' whole, so a comma proves nothing about a join."""
    stack = STACKS[kind]()
    attacker = stack.visit(scheme="https")
    logged_in = stack.send(
        "POST",
        "/login",
        [
            ("Origin", TLS_ORIGIN),
            ("Cookie", f"{HOST_COOKIE}={attacker.session_id}"),
            ("X-CSRF-Token", attacker.token),
        ],
        scheme="https",
    )
    fixed_id = logged_in.session_id()
    assert fixed_id is not None
    planted = f"theme=x, {HOST_COOKIE}={fixed_id}"

    page = stack.send("GET", "/page", [("Cookie", planted)], scheme="https")

    assert page.status == 200
    assert page.json()["user"] is None
    assert page.session_id() not in (None, fixed_id)


def test_asgi_reads_our_cookie_from_a_second_cookie_header() -> None:
    stack = STACKS["asgi"]()
    login = stack.visit()

    outcome = _post(stack, ["theme=dark", f"{COOKIE}={login.session_id}"], login.token)

    assert_accepted(outcome)


def test_a_comma_inside_one_cookie_header_hides_our_cookie_from_the_asgi_adapter(
    logs: pytest.LogCaptureFixture,
) -> None:
    stack = STACKS["asgi"]()
    login = stack.visit()
    before = stack.record(login.session_id)

    outcome = _post(stack, [f"theme=dark, {COOKIE}={login.session_id}"], login.token)

    assert_refused(stack, outcome, "session_missing", logs, login=login, before=before)


def _junk_pairs(size: int) -> str:
    pairs = []
    total = 0
    index = 0
    while total < size:
        pair = f"k{index}=v{index}{'x' * 40}"
        pairs.append(pair)
        total += len(pair) + 2
        index += 1
    return "; ".join(pairs)


_LONG = 100 * 1024


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        pytest.param(lambda sid: _junk_pairs(_LONG), "session_missing", id="junk only"),
        pytest.param(
            lambda sid: f"{_junk_pairs(_LONG)}; {COOKIE}={sid}",
            "accept",
            id="ours after 100 KB",
        ),
        pytest.param(
            lambda sid: f"{COOKIE}={sid}; {_junk_pairs(_LONG)}",
            "accept",
            id="ours before 100 KB",
        ),
        pytest.param(
            lambda sid: "; ".join([f"{COOKIE}={sid}"] * 2000),
            "session_cookie_ambiguous",
            id="ours 2000 times",
        ),
        pytest.param(
            lambda sid: f"{COOKIE}x=" + f"{COOKIE}=" * 5000,
            "session_missing",
            id="our name 5000 times in one value",
        ),
        pytest.param(
            lambda sid: ";" * _LONG + f"{COOKIE}={sid}",
            "accept",
            id="100 KB of semicolons then ours",
        ),
        pytest.param(
            lambda sid: f"{COOKIE}=" + "A" * _LONG,
            "session_missing",
            id="a 100 KB value",
        ),
    ],
)
def test_a_100_kb_cookie_header_is_answered_at_once_and_never_crashes(
    stack: Stack, cookie: object, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    assert callable(cookie)

    started = time.perf_counter()
    outcome = _post(stack, [cookie(login.session_id)], login.token)
    elapsed = time.perf_counter() - started

    # Not a speed figure: a generous bound that only a quadratic scan or a
    # hang would cross.
    assert elapsed < 2.0
    if expected == "accept":
        assert_accepted(outcome)
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


def test_wsgi_counts_a_twin_after_a_comma_as_a_second_session_cookie(
    logs: pytest.LogCaptureFixture,
) -> None:
    """HTTP_COOKIE cannot tell a value's comma from a server's join of two
    headers, so a twin after ", " is never the session but makes ours
    ambiguous; the control without it is accepted."""
    stack = STACKS["wsgi"]()
    login = stack.visit()
    other = stack.visit()

    control = _post(stack, [f"{COOKIE}={login.session_id}; theme=x"], login.token)
    assert_accepted(control)
    before = stack.record(login.session_id)
    planted = f"{COOKIE}={login.session_id}; theme=x, {COOKIE}={other.session_id}"
    outcome = _post(stack, [planted], login.token)

    assert_refused(
        stack,
        outcome,
        "session_cookie_ambiguous",
        logs,
        login=login,
        before=before,
        secrets=[other.session_id],
    )
