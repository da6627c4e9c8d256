"""The everyday-request shortcut (``CSRFPolicy.needs_only_the_token``)
against the full precheck, at the policy and through both adapters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adversarial4.adv4_support import (
    ORIGIN,
    TRUSTED_ORIGIN,
    Stack,
    assert_accepted,
    assert_refused,
)
from forgeproof.policy import CSRFPolicy, RequestFacts, Verdict

_HOSTS = [
    "app.test",
    "APP.TEST",
    "app.test.",
    "app.test:80",
    "app.test:443",
    "app.test:8080",
    " app.test ",
    "[::1]",
    "[::1]:80",
    "app.test, evil.test",
    "",
    "äpp.test",
    "app.test\x00",
]
_ORIGINS = [
    "http://app.test",
    "https://app.test",
    "HTTP://APP.TEST",
    "http://app.test.",
    "http://app.test:80",
    "http://app.test/",
    "http://[::1]",
    "null",
    "http://app.test, http://app.test",
    "https://trusted.example",
    "http://Ã¤pp.test",
    " http://app.test",
]
_SITES = [
    None,
    "same-origin",
    "Same-Origin",
    "same-origin ",
    "cross-site",
    "same-site",
    "none",
    "same-origin, cross-site",
    "",
]
_POLICIES = [
    CSRFPolicy.build(),
    CSRFPolicy.build(trusted_origins=[TRUSTED_ORIGIN], exempt_paths=["/hooks/"]),
    CSRFPolicy.build(public_origins=["https://app.test"]),
    CSRFPolicy.build(public_origins=["http://app.test:8080", "https://app.test"]),
    CSRFPolicy.build(trusted_proxies=1),
]


@settings(max_examples=600, deadline=None)
@given(
    policy=st.sampled_from(_POLICIES),
    method=st.sampled_from(["POST", "PUT", "DELETE", "post", "PURGE", "GET"]),
    path=st.sampled_from(["/notes", "/hooks/x", "/hooks/../notes", "/hooks"]),
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.one_of(st.none(), st.sampled_from(_HOSTS)),
    origin=st.one_of(st.none(), st.sampled_from(_ORIGINS)),
    site=st.sampled_from(_SITES),
    cookies=st.integers(min_value=0, max_value=3),
    live=st.booleans(),
    exempt=st.booleans(),
    authorization=st.sampled_from([None, "Bearer abc", "Basic Zm9v"]),
)
def test_shortcut_never_says_token_only_where_the_precheck_refuses(
    policy: CSRFPolicy,
    method: str,
    path: str,
    scheme: str,
    host: str | None,
    origin: str | None,
    site: str | None,
    cookies: int,
    live: bool,
    exempt: bool,
    authorization: str | None,
) -> None:
    shortcut = policy.needs_only_the_token(
        method=method,
        path=path,
        scheme=scheme,
        host=host,
        origin=origin,
        sec_fetch_site=site,
        session_cookie_count=cookies,
        has_live_session=live,
        exempt=exempt,
    )
    facts = RequestFacts(
        method=method,
        scheme=scheme,
        host=host,
        path=path,
        origin=origin,
        referer="https://evil.test/x",
        sec_fetch_site=site,
        authorization=authorization,
        session_cookie_count=cookies,
        has_live_session=live,
        exempt=exempt,
        x_forwarded_host="evil.test",
        x_forwarded_proto="https",
    )
    if shortcut:
        assert policy.precheck(facts) is Verdict.CHECK_TOKEN


def test_the_everyday_same_origin_post_is_accepted(stack: Stack) -> None:
    login = stack.visit()
    assert_accepted(stack.post(login, [("Sec-Fetch-Site", "same-origin")]))


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("HTTP://APP.TEST", "origin_not_allowed"),
        ("http://app.test.", "origin_not_allowed"),
        ("http://app.test:80", "origin_not_allowed"),
        ("http://app.test/", "origin_not_allowed"),
        ("null", "origin_null"),
        ("http://äpp.test", "origin_not_allowed"),
        ("http://app.test, http://app.test", "origin_not_allowed"),
        ("http://evil.test", "origin_not_allowed"),
    ],
)
def test_an_origin_spelled_unlike_the_browser_is_refused_with_a_valid_token(
    stack: Stack, logs: pytest.LogCaptureFixture, origin: str, reason: str
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    outcome = stack.post(login, origin=origin)
    assert_refused(stack, outcome, reason, logs, login=login, before=before)


def test_our_origin_sent_as_two_separate_header_entries_is_refused(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    outcome = stack.post(login, [("Origin", ORIGIN)])
    assert_refused(
        stack, outcome, "origin_not_allowed", logs, login=login, before=before
    )


@pytest.mark.parametrize(
    "site", ["cross-site", "Cross-Site ", "same-site", " SAME-SITE"]
)
def test_our_origin_with_a_cross_site_fetch_metadata_is_refused(
    stack: Stack, logs: pytest.LogCaptureFixture, site: str
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    outcome = stack.post(login, [("Sec-Fetch-Site", site)])
    assert_refused(
        stack, outcome, "cross_site_request", logs, login=login, before=before
    )


@pytest.mark.parametrize(
    ("host", "accepted"),
    [
        ("app.test", True),
        ("APP.TEST", True),
        ("app.test.", True),
        ("app.test:80", True),
        (" app.test", True),
        ("app.test:8080", False),
        ("[::1]", False),
        ("evil.test", False),
        ("app.test, evil.test", False),
    ],
)
def test_the_host_decides_our_origin_alike_on_both_adapters(
    stack: Stack, logs: pytest.LogCaptureFixture, host: str, accepted: bool
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    sent = [("Origin", ORIGIN), login.cookie, ("X-CSRF-Token", login.token)]
    outcome = stack.send("POST", "/notes", sent, host=host)
    if accepted:
        assert_accepted(outcome)
    else:
        assert_refused(
            stack, outcome, "origin_not_allowed", logs, login=login, before=before
        )


def test_a_host_in_raw_non_latin1_bytes_never_matches_an_ascii_origin(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    sent = [("Origin", "http://äpp.test"), login.cookie, ("X-CSRF-Token", login.token)]
    outcome = stack.send("POST", "/notes", sent, host="äpp.test")
    assert_refused(
        stack, outcome, "origin_not_allowed", logs, login=login, before=before
    )


def test_bearer_credentials_beside_the_session_cookie_do_not_skip_the_origin(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    bearer = [("Authorization", "Bearer abc")]
    assert_accepted(stack.post(login, bearer))
    before = stack.record(login.session_id)
    outcome = stack.post(login, bearer, origin="http://evil.test")
    assert_refused(
        stack, outcome, "origin_not_allowed", logs, login=login, before=before
    )


def test_a_dot_segment_under_an_exempt_prefix_still_needs_the_token(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    assert_accepted(stack.post(login, path="/hooks/ping", token_header=False))
    before = stack.record(login.session_id)
    outcome = stack.post(login, path="/hooks/../notes", token_header=False)
    assert_refused(stack, outcome, "token_missing", logs, login=login, before=before)


def test_a_trusted_origin_takes_the_long_way_and_still_needs_the_token(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    assert_accepted(stack.post(login, origin=TRUSTED_ORIGIN))
    before = stack.record(login.session_id)
    outcome = stack.post(login, origin=TRUSTED_ORIGIN, token_header=False)
    assert_refused(stack, outcome, "token_missing", logs, login=login, before=before)


def test_public_origins_replace_the_host_on_the_shortcut_too(
    logs: pytest.LogCaptureFixture,
) -> None:
    from adversarial4.adv4_support import STACKS

    for kind in sorted(STACKS):
        stack = STACKS[kind](public_origins=["https://app.test"])
        login = stack.visit()
        assert_accepted(stack.post(login, origin="https://app.test"))
        before = stack.record(login.session_id)
        # The request's own Host-derived origin no longer counts.
        outcome = stack.post(login, origin=ORIGIN)
        assert_refused(
            stack, outcome, "origin_not_allowed", logs, login=login, before=before
        )
