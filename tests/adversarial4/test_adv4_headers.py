"""Header tricks against the origin checks and the token header.

Only the headers the policy reads are decoded now, and the token header
is looked up by a precomputed key: each row here pins what the policy
decides for an odd spelling, a repeat or a lookalike, the same on both
adapters.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adversarial4.adv4_support import (
    HOST_COOKIE,
    ORIGIN,
    STACKS,
    TRUSTED_ORIGIN,
    Headers,
    Login,
    Stack,
    assert_accepted,
    assert_refused,
)
from forgeproof import mask_secret, new_secret

_FOREIGN = "http://evil.example"


def _check(
    stack: Stack,
    login: Login,
    outcome_reason: str,
    logs: pytest.LogCaptureFixture,
    headers: Headers,
    *,
    origin: str | None = None,
    host: str | None = "app.test",
    token: str | None = None,
) -> None:
    """POST with *headers* (no Origin of ours unless given) and expect
    *outcome_reason*, or "accept"."""
    before = stack.record(login.session_id)
    sent: Headers = [login.cookie]
    if origin is not None:
        sent.append(("Origin", origin))
    sent.append(("X-CSRF-Token", token if token is not None else login.token))
    outcome = stack.send("POST", "/notes", sent + headers, b"{}", host=host)
    if outcome_reason == "accept":
        assert_accepted(outcome)
        return
    assert_refused(stack, outcome, outcome_reason, logs, login=login, before=before)


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        pytest.param([ORIGIN], "accept", id="control: our origin"),
        pytest.param([], "accept", id="no Origin over http"),
        pytest.param([TRUSTED_ORIGIN], "accept", id="the trusted origin"),
        pytest.param(["HTTP://APP.TEST"], "origin_not_allowed", id="upper case"),
        pytest.param(["http://app.test/"], "origin_not_allowed", id="trailing slash"),
        pytest.param(["http://app.test:80"], "origin_not_allowed", id="default port"),
        pytest.param(["http://app.test:8080"], "origin_not_allowed", id="other port"),
        pytest.param(["https://app.test"], "origin_not_allowed", id="other scheme"),
        pytest.param(["http://user@app.test"], "origin_not_allowed", id="userinfo"),
        pytest.param(
            ["http://app.test@evil.example"], "origin_not_allowed", id="@ lookalike"
        ),
        pytest.param(
            ["http://app.test.evil.example"], "origin_not_allowed", id="suffix"
        ),
        pytest.param(["http://evilapp.test"], "origin_not_allowed", id="prefix"),
        pytest.param([" http://app.test"], "origin_not_allowed", id="leading space"),
        pytest.param([_FOREIGN + " "], "origin_not_allowed", id="foreign, spaced"),
        pytest.param([ORIGIN, ORIGIN], "origin_not_allowed", id="ours sent twice"),
        pytest.param([ORIGIN, _FOREIGN], "origin_not_allowed", id="ours, then evil"),
        pytest.param([_FOREIGN, ORIGIN], "origin_not_allowed", id="evil, then ours"),
        pytest.param([f"{_FOREIGN}, {ORIGIN}"], "origin_not_allowed", id="joined"),
        pytest.param(["null"], "origin_null", id="null"),
        pytest.param(["NULL"], "origin_not_allowed", id="NULL"),
        pytest.param(["null", "null"], "origin_not_allowed", id="null twice"),
        pytest.param(
            ["https://trusted.example/"], "origin_not_allowed", id="trusted, slash"
        ),
        pytest.param(
            ["https://TRUSTED.example"], "origin_not_allowed", id="trusted, upper"
        ),
        pytest.param(
            ["https://trusted.example:443"], "origin_not_allowed", id="trusted, port"
        ),
    ],
)
def test_only_an_exact_origin_of_ours_or_a_trusted_one_passes(
    stack: Stack, origins: list[str], expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()

    _check(stack, login, expected, logs, [("Origin", o) for o in origins])


@pytest.mark.parametrize(
    ("origin", "site", "expected"),
    [
        pytest.param(ORIGIN, ["same-origin"], "accept", id="control: same-origin"),
        pytest.param(ORIGIN, ["none"], "accept", id="none"),
        pytest.param(ORIGIN, ["cross-site"], "cross_site_request", id="cross-site"),
        pytest.param(ORIGIN, ["same-site"], "cross_site_request", id="same-site"),
        pytest.param(ORIGIN, ["Cross-Site"], "cross_site_request", id="mixed case"),
        pytest.param(ORIGIN, ["CROSS-SITE"], "cross_site_request", id="upper case"),
        pytest.param(ORIGIN, [" cross-site "], "cross_site_request", id="spaces"),
        pytest.param(ORIGIN, ["\tcross-site"], "cross_site_request", id="a tab"),
        pytest.param(None, ["cross-site"], "cross_site_request", id="no Origin"),
        pytest.param(TRUSTED_ORIGIN, ["cross-site"], "accept", id="trusted origin"),
        pytest.param(
            _FOREIGN, ["same-origin"], "origin_not_allowed", id="a lie about evil"
        ),
        pytest.param(
            _FOREIGN,
            ["cross-site", "cross-site"],
            "origin_not_allowed",
            id="twice, evil origin",
        ),
        pytest.param(
            _FOREIGN,
            ["same-origin", "same-origin"],
            "origin_not_allowed",
            id="same-origin twice, evil origin",
        ),
        pytest.param("null", ["same-origin"], "accept", id="null vouched for"),
        pytest.param("null", ["Same-Origin"], "accept", id="null, mixed case"),
        pytest.param(
            "null", ["same-origin", "same-origin"], "origin_null", id="null, twice"
        ),
        pytest.param("null", ["same-site"], "cross_site_request", id="null same-site"),
        pytest.param("null", ["none"], "origin_null", id="null, none"),
    ],
)
def test_sec_fetch_site_in_any_spelling_never_lets_another_site_in(
    stack: Stack,
    origin: str | None,
    site: list[str],
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    login = stack.visit()

    headers = [("Sec-Fetch-Site", value) for value in site]
    _check(stack, login, expected, logs, headers, origin=origin)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("app.test", "accept", id="control"),
        pytest.param("app.test:80", "accept", id="default port"),
        pytest.param("APP.TEST", "accept", id="upper case"),
        pytest.param("app.test.", "accept", id="trailing dot"),
        pytest.param("app.test:8080", "origin_not_allowed", id="other port"),
        pytest.param("app.test:", "origin_not_allowed", id="empty port"),
        pytest.param("app.test:80:80", "origin_not_allowed", id="two ports"),
        pytest.param("evil.example", "origin_not_allowed", id="other host"),
        pytest.param("app.test@evil.example", "origin_not_allowed", id="userinfo-like"),
        pytest.param("app.test, app.test", "origin_not_allowed", id="sent twice"),
        pytest.param(None, "origin_not_allowed", id="missing: fail closed"),
    ],
)
def test_the_host_header_decides_our_origin_and_fails_closed(
    stack: Stack, host: str | None, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()

    _check(stack, login, expected, logs, [], origin=ORIGIN, host=host)


def test_an_idn_origin_matches_only_its_ascii_host(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    host = "xn--bcher-kva.test"

    _check(stack, login, "accept", logs, [], origin=f"http://{host}", host=host)
    _check(
        stack,
        login,
        "origin_not_allowed",
        logs,
        [],
        origin="http://bücher.test",
        host=host,
    )


def _token_like(stack: Stack, login: Login) -> str:
    """Another token of *login*'s session that has a '-' or '_' in it."""
    while True:
        token = stack.visit([login.cookie]).token
        if "-" in token or "_" in token:
            return token


def _noncanonical(token: str) -> str:
    # The last character carries 2 bits; the 4 low ones must be zero.
    return token[:-1] + {"A": "B", "Q": "R", "g": "h", "w": "x"}[token[-1]]


TokenCase = Callable[[Stack, Login], Headers]

_T = "X-CSRF-Token"

_TOKEN_CASES: list[tuple[str, TokenCase, str]] = [
    ("control", lambda s, v: [(_T, v.token)], "accept"),
    ("lower-case name", lambda s, v: [("x-csrf-token", v.token)], "accept"),
    ("odd-case name", lambda s, v: [("X-Csrf-TOKEN", v.token)], "accept"),
    ("twice, same value", lambda s, v: [(_T, v.token), (_T, v.token)], "accept"),
    (
        "twice, two tokens of the session",
        lambda s, v: [(_T, v.token), (_T, s.visit([v.cookie]).token)],
        "token_conflict",
    ),
    (
        "twice, ours and another session's",
        lambda s, v: [(_T, v.token), (_T, s.visit().token)],
        "token_conflict",
    ),
    (
        "twice, junk first",
        lambda s, v: [(_T, "junk"), (_T, v.token)],
        "token_conflict",
    ),
    ("twice, one empty", lambda s, v: [(_T, ""), (_T, v.token)], "token_conflict"),
    (
        "joined in one header",
        lambda s, v: [(_T, f"{v.token}, {v.token[::-1]}")],
        "token_conflict",
    ),
    ("spaces around it", lambda s, v: [(_T, f"  {v.token} ")], "accept"),
    (
        "a space inside",
        lambda s, v: [(_T, v.token[:40] + " " + v.token[41:])],
        "token_invalid",
    ),
    ("padding '='", lambda s, v: [(_T, v.token + "=")], "token_invalid"),
    ("padding '=='", lambda s, v: [(_T, v.token + "==")], "token_invalid"),
    (
        "non-canonical last char",
        lambda s, v: [(_T, _noncanonical(v.token))],
        "token_invalid",
    ),
    ("85 characters", lambda s, v: [(_T, v.token[:-1])], "token_invalid"),
    ("87 characters", lambda s, v: [(_T, v.token + "A")], "token_invalid"),
    ("non-ASCII", lambda s, v: [(_T, "é" + v.token[1:])], "token_invalid"),
    ("non-ASCII, 86 bytes", lambda s, v: [(_T, "é" + v.token[2:])], "token_invalid"),
    (
        "standard base64 alphabet",
        lambda s, v: [(_T, _token_like(s, v).replace("-", "+").replace("_", "/"))],
        "token_invalid",
    ),
    ("another session's token", lambda s, v: [(_T, s.visit().token)], "token_invalid"),
    (
        "a token of a random secret",
        lambda s, v: [(_T, mask_secret(new_secret()))],
        "token_invalid",
    ),
    ("an empty header", lambda s, v: [(_T, "")], "token_invalid"),
    ("a comma only", lambda s, v: [(_T, ",")], "token_invalid"),
    ("another header name", lambda s, v: [("X-XSRF-Token", v.token)], "token_missing"),
    ("a lookalike name", lambda s, v: [("X-CSRF-Tokens", v.token)], "token_missing"),
    (
        "in Cookie only",
        lambda s, v: [("Cookie", f"csrf_token={v.token}")],
        "token_missing",
    ),
]


@pytest.mark.parametrize(
    ("make", "expected"),
    [pytest.param(make, expected, id=name) for name, make, expected in _TOKEN_CASES],
)
def test_the_token_header_is_read_exactly(
    stack: Stack, make: TokenCase, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    headers = make(stack, login)
    before = stack.record(login.session_id)
    sent: Headers = [("Origin", ORIGIN), login.cookie, *headers]

    outcome = stack.send("POST", "/notes", sent, b"{}")

    if expected == "accept":
        assert_accepted(outcome)
        return
    leaks = [value for name, value in headers if name != "Cookie" and len(value) > 20]
    assert_refused(
        stack, outcome, expected, logs, login=login, before=before, secrets=leaks
    )


_FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("header", "field", "expected"),
    [
        pytest.param("good", "other", "accept", id="header wins over a body token"),
        pytest.param("bad", "good", "token_invalid", id="a bad header is not rescued"),
        pytest.param("empty", "good", "token_invalid", id="an empty header counts"),
        pytest.param(None, "good", "accept", id="control: body token alone"),
    ],
)
def test_the_token_header_decides_and_the_body_is_then_never_read(
    stack: Stack,
    header: str | None,
    field: str,
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    login = stack.visit()
    other = stack.visit()
    values = {
        "good": login.token,
        "bad": other.token,
        "empty": "",
        "other": other.token,
    }
    body = f"a=1&csrf_token={values[field]}".encode()
    before = stack.record(login.session_id)
    sent: Headers = [("Origin", ORIGIN), login.cookie, ("Content-Type", _FORM)]
    if header is not None:
        sent.append(("X-CSRF-Token", values[header]))

    outcome = stack.send("POST", "/notes", sent, body)

    if expected == "accept":
        assert_accepted(outcome)
        assert outcome.app_body == body
        return
    assert_refused(
        stack,
        outcome,
        expected,
        logs,
        login=login,
        before=before,
        secrets=[other.token],
    )


@pytest.mark.parametrize("kind", sorted(STACKS))
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([("X-XSRF-TOKEN", "good")], "accept", id="the extra header"),
        pytest.param([("x-xsrf-token", "good")], "accept", id="extra, lower case"),
        pytest.param(
            [("X-CSRF-Token", "junk"), ("X-XSRF-TOKEN", "good")],
            "token_invalid",
            id="only the first header present is read",
        ),
        pytest.param(
            [("X-XSRF-TOKEN", "good"), ("X-CSRF-Token", "junk")],
            "token_invalid",
            id="whatever the order on the wire",
        ),
        pytest.param(
            [("X-XSRF-TOKEN", "good"), ("X-XSRF-TOKEN", "other")],
            "token_conflict",
            id="the extra header twice",
        ),
    ],
)
def test_extra_token_headers_follow_the_configured_order(
    kind: str, headers: Headers, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    stack = STACKS[kind](extra_header_names=["X-XSRF-TOKEN"])
    login = stack.visit()
    other = stack.visit([login.cookie]).token
    values = {"good": login.token, "junk": "junk", "other": other}
    before = stack.record(login.session_id)
    sent: Headers = [("Origin", ORIGIN), login.cookie]
    sent += [(name, values[value]) for name, value in headers]

    outcome = stack.send("POST", "/notes", sent, b"{}")

    if expected == "accept":
        assert_accepted(outcome)
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        pytest.param(None, "accept", id="control: no Referer"),
        pytest.param("https://app.test/page?x=1", "accept", id="our page"),
        pytest.param(TRUSTED_ORIGIN + "/app", "accept", id="a trusted page"),
        pytest.param("https://evil.example/", "origin_not_allowed", id="evil page"),
        pytest.param(
            "https://app.test.evil.example/", "origin_not_allowed", id="suffix"
        ),
        pytest.param("http://app.test/page", "origin_not_allowed", id="over http"),
        pytest.param(
            "https://evil.example/?https://app.test/",
            "origin_not_allowed",
            id="ours in the query",
        ),
    ],
)
def test_over_https_a_referer_without_origin_must_name_an_allowed_page(
    stack: Stack, referer: str | None, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit(scheme="https")
    before = stack.record(login.session_id)
    headers: Headers = [
        ("Cookie", f"{HOST_COOKIE}={login.session_id}"),
        ("X-CSRF-Token", login.token),
    ]
    if referer is not None:
        headers.append(("Referer", referer))

    outcome = stack.send("POST", "/notes", headers, b"{}", scheme="https")

    if expected == "accept":
        assert_accepted(outcome)
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


def test_over_http_a_foreign_referer_alone_proves_nothing(stack: Stack) -> None:
    """Documented: the Referer is read only on https, where browsers send
    it reliably."""
    login = stack.visit()

    outcome = stack.post(login, [("Referer", "http://evil.example/")], origin=None)

    assert_accepted(outcome)


_PUBLIC = "https://app.example"


@pytest.mark.parametrize("kind", sorted(STACKS))
@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        pytest.param(_PUBLIC, "accept", id="control: the public origin"),
        pytest.param(TRUSTED_ORIGIN, "accept", id="a trusted origin"),
        pytest.param(ORIGIN, "origin_not_allowed", id="the Host's own origin"),
        pytest.param(_PUBLIC + "/", "origin_not_allowed", id="public, slash"),
        pytest.param("https://APP.example", "origin_not_allowed", id="public, upper"),
        pytest.param("http://app.example", "origin_not_allowed", id="public, http"),
        pytest.param("null", "origin_null", id="null"),
        pytest.param(f"{_PUBLIC}, {_PUBLIC}", "origin_not_allowed", id="joined"),
    ],
)
def test_with_public_origins_only_those_count_as_ours(
    kind: str, origin: str, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    stack = STACKS[kind](public_origins=[_PUBLIC])
    login = stack.visit()

    _check(stack, login, expected, logs, [], origin=origin)


@pytest.mark.parametrize("kind", sorted(STACKS))
@pytest.mark.parametrize(
    ("forwarded", "origin", "expected"),
    [
        pytest.param([], ORIGIN, "accept", id="control: no forwarding headers"),
        pytest.param(
            [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "app.example")],
            _PUBLIC,
            "accept",
            id="the proxy's origin",
        ),
        pytest.param(
            [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "app.example")],
            ORIGIN,
            "origin_not_allowed",
            id="the inner origin behind the proxy",
        ),
        pytest.param(
            [("X-Forwarded-Host", "evil.example, app.example")],
            "http://app.example",
            "accept",
            id="the hop we trust is the last one",
        ),
        pytest.param(
            [("X-Forwarded-Host", "app.example, evil.example")],
            "http://app.example",
            "origin_not_allowed",
            id="a spoofed first hop is ignored",
        ),
    ],
)
def test_behind_one_trusted_proxy_its_last_hop_names_our_origin(
    kind: str,
    forwarded: Headers,
    origin: str,
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    stack = STACKS[kind](trusted_proxies=1)
    login = stack.visit()

    _check(stack, login, expected, logs, forwarded, origin=origin)
