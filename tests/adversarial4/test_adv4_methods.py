"""Methods: only RFC 9110's safe methods, spelled exactly, skip the check.

The adapters now test the method against a set before anything else; a
rewrite that upper-cases it, or checks a denylist, would let a lower-case
``post`` or a WebDAV method through.
"""

from __future__ import annotations

import pytest

from adversarial4.adv4_support import (
    ORIGIN,
    Headers,
    Stack,
    assert_accepted,
    assert_refused,
)

_UNSAFE = [
    "post",
    "Post",
    "pOST",
    "PUT",
    "PATCH",
    "DELETE",
    "PROPPATCH",
    "MKCOL",
    "LOCK",
    "PURGE",
    "get",
    "Get",
    "head",
    "options",
    "GET ",
    "CONNECT",
]


@pytest.mark.parametrize("method", _UNSAFE)
def test_any_method_not_spelled_as_a_safe_one_is_checked(
    stack: Stack, method: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)

    refused = stack.post(login, method=method, token_header=False, body=b"x=1")

    assert_refused(stack, refused, "token_missing", logs, login=login, before=before)


@pytest.mark.parametrize("method", _UNSAFE)
def test_an_unsafe_method_with_its_token_is_accepted(stack: Stack, method: str) -> None:
    login = stack.visit()

    outcome = stack.post(login, method=method, body=b"x=1")

    assert_accepted(outcome)
    record = stack.record(login.session_id)
    assert record is not None
    assert record.data == {"writes": 1}


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="plain"),
        pytest.param(
            [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")],
            id="cross-site",
        ),
        pytest.param([("Origin", "null")], id="null origin"),
    ],
)
def test_a_safe_method_with_a_body_is_passed_on_unchecked_and_untouched(
    stack: Stack, method: str, headers: Headers, logs: pytest.LogCaptureFixture
) -> None:
    """Documented: safe methods are never checked; not changing state on
    them is the app's job. The middleware neither reads their body nor
    opens a session for them."""
    other = stack.visit()
    body = f"csrf_token={other.token}&amount=1000".encode()
    sent = [*headers, ("Content-Type", "application/x-www-form-urlencoded")]

    outcome = stack.send(method, "/notes", sent, [body[:10], body[10:]])

    assert_accepted(outcome)
    assert outcome.app_body == body
    assert outcome.session_id() is None
    assert "reason=" not in logs.text


def test_a_lower_case_post_is_checked_like_post_on_both_adapters_alike(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    foreign = [("Origin", "http://evil.example")]
    before = stack.record(login.session_id)

    outcome = stack.send(
        "post", "/notes", [login.cookie, ("X-CSRF-Token", login.token), *foreign]
    )

    assert_refused(
        stack, outcome, "origin_not_allowed", logs, login=login, before=before
    )
    control = stack.send(
        "post",
        "/notes",
        [login.cookie, ("X-CSRF-Token", login.token), ("Origin", ORIGIN)],
    )
    assert_accepted(control)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/hooks/github", "accept", id="control: under the exempt prefix"),
        pytest.param("/hooks/", "accept", id="the prefix itself"),
        pytest.param("/hooks", "token_missing", id="without the slash"),
        pytest.param("/hooksx", "token_missing", id="a longer name"),
        pytest.param("/HOOKS/github", "token_missing", id="upper case"),
        pytest.param("//hooks/github", "token_missing", id="a doubled slash"),
        pytest.param("/hooks/../notes", "token_missing", id="dot-dot out"),
        pytest.param("/hooks/./github", "token_missing", id="a dot segment"),
        pytest.param("/hooks/a/../../notes", "token_missing", id="deeper dot-dot"),
        pytest.param("/notes/../hooks/x", "token_missing", id="dot-dot in"),
    ],
)
def test_only_a_clean_path_under_an_exempt_prefix_skips_the_check(
    stack: Stack, path: str, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)

    outcome = stack.post(login, path=path, token_header=False, body=b"x")

    if expected == "accept":
        assert_accepted(outcome)
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


def test_a_token_in_the_query_string_never_counts(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    query = f"csrf_token={login.token}"
    form = [("Content-Type", "application/x-www-form-urlencoded")]

    outcome = stack.post(login, form, b"a=1", token_header=False, query=query)

    assert_refused(stack, outcome, "token_missing", logs, login=login, before=before)
    control = stack.post(login, form, query.encode(), token_header=False)
    assert_accepted(control)
