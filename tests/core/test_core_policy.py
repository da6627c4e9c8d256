"""The accept/reject policy, framework-free: one threat table, every rejection
row beside the control row that passes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from forgeproof import (
    ConfigurationError,
    CSRFPolicy,
    Reason,
    Rejection,
    RequestFacts,
    Verdict,
    mask_secret,
    new_secret,
)

SECRET = new_secret()
OTHER_SECRET = new_secret()

# Stand-ins resolved when the row runs, so ids stay readable.
VALID = "<valid token>"
OTHER = "<token of another session>"
ACCEPTED = "accepted"

POLICY = CSRFPolicy.build(
    trusted_origins=["https://partner.example", "https://*.corp.example"],
    exempt_paths=["/hooks/", "/status"],
)

BASE = RequestFacts(
    method="POST",
    scheme="https",
    host="app.example",
    path="/notes",
    origin="https://app.example",
    sec_fetch_site="same-origin",
    session_cookie_count=1,
    has_live_session=True,
)

# The worst request a safe method could bring: from another site, no
# session, no token. Safe methods are accepted anyway, without any check.
HOSTILE: dict[str, Any] = {
    "origin": "https://evil.example",
    "sec_fetch_site": "cross-site",
    "session_cookie_count": 2,
    "has_live_session": False,
}


def decide(
    facts: RequestFacts, tokens: list[str], policy: CSRFPolicy = POLICY
) -> str | Reason:
    """Run the policy as an adapter does; ACCEPTED or the rejection reason."""
    stand_ins = {VALID: mask_secret(SECRET), OTHER: mask_secret(OTHER_SECRET)}
    resolved = [stand_ins.get(t, t) for t in tokens]
    verdict = policy.precheck(facts)
    if isinstance(verdict, Rejection):
        return verdict.reason
    if verdict is Verdict.ACCEPT:
        return ACCEPTED
    rejection = policy.check_token(resolved, SECRET if facts.has_live_session else None)
    return ACCEPTED if rejection is None else rejection.reason


def row(
    threat: str, tokens: list[str], expected: str | Reason, **changes: Any
) -> Any:  # pytest's ParameterSet is not public
    return pytest.param(replace(BASE, **changes), tokens, expected, id=threat)


SAFE_METHODS = [
    row(f"{m} from another site without session or token is not checked", [], ACCEPTED,
        method=m, **HOSTILE)
    for m in ("GET", "HEAD", "OPTIONS", "TRACE")
]  # fmt: skip

METHODS = [
    row("POST without token", [], Reason.TOKEN_MISSING),
    row("control: POST with token", [VALID], ACCEPTED),
    row("lower-case post is checked", [], Reason.TOKEN_MISSING, method="post"),
    row("control: lower-case post with token", [VALID], ACCEPTED, method="post"),
    row("lower-case get is checked (methods are case-sensitive)", [],
        Reason.TOKEN_MISSING, method="get"),
    row("control: lower-case get with token", [VALID], ACCEPTED, method="get"),
    row("mixed-case Get is checked", [], Reason.TOKEN_MISSING, method="Get"),
    row("GET with trailing space is checked", [], Reason.TOKEN_MISSING, method="GET "),
    row("WebDAV PROPFIND is checked", [], Reason.TOKEN_MISSING, method="PROPFIND"),
    row("control: PROPFIND with token", [VALID], ACCEPTED, method="PROPFIND"),
    row("invented PURGE is checked", [], Reason.TOKEN_MISSING, method="PURGE"),
    row("control: PURGE with token", [VALID], ACCEPTED, method="PURGE"),
    row("PUT is checked", [], Reason.TOKEN_MISSING, method="PUT"),
    row("PATCH is checked", [], Reason.TOKEN_MISSING, method="PATCH"),
    row("DELETE is checked", [], Reason.TOKEN_MISSING, method="DELETE"),
    row("CONNECT is checked", [], Reason.TOKEN_MISSING, method="CONNECT"),
    row("an empty method is checked", [], Reason.TOKEN_MISSING, method=""),
]  # fmt: skip

FETCH_METADATA = [
    row("Sec-Fetch-Site cross-site with a valid token", [VALID],
        Reason.CROSS_SITE_REQUEST, sec_fetch_site="cross-site"),
    row("Sec-Fetch-Site in upper case CROSS-SITE", [VALID],
        Reason.CROSS_SITE_REQUEST, sec_fetch_site="CROSS-SITE"),
    row("Sec-Fetch-Site cross-site from an untrusted origin", [VALID],
        Reason.CROSS_SITE_REQUEST, sec_fetch_site="cross-site",
        origin="https://evil.example"),
    row("control: Sec-Fetch-Site cross-site from a trusted origin", [VALID],
        ACCEPTED, sec_fetch_site="cross-site", origin="https://partner.example"),
    row("Sec-Fetch-Site same-site from a sibling subdomain", [VALID],
        Reason.CROSS_SITE_REQUEST, sec_fetch_site="same-site",
        origin="https://blog.app.example"),
    row("Sec-Fetch-Site same-site without Origin", [VALID],
        Reason.CROSS_SITE_REQUEST, sec_fetch_site="same-site", origin=None),
    row("control: Sec-Fetch-Site same-site from a trusted wildcard origin", [VALID],
        ACCEPTED, sec_fetch_site="same-site", origin="https://hr.corp.example"),
    row("control: Sec-Fetch-Site same-origin", [VALID], ACCEPTED),
    row("Sec-Fetch-Site none without token: the token decides", [],
        Reason.TOKEN_MISSING, sec_fetch_site="none", origin=None),
    row("control: Sec-Fetch-Site none with token", [VALID], ACCEPTED,
        sec_fetch_site="none", origin=None),
    row("control: no Sec-Fetch-Site (older browser) with token", [VALID], ACCEPTED,
        sec_fetch_site=None),
]  # fmt: skip

ORIGINS = [
    row("foreign Origin with a valid token", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://evil.example", sec_fetch_site=None),
    row("Origin on http for an https app (scheme counts)", [VALID],
        Reason.ORIGIN_NOT_ALLOWED, origin="http://app.example", sec_fetch_site=None),
    row("Origin on another port (port counts)", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://app.example:8443", sec_fetch_site=None),
    row("Origin with the default port spelled out (browsers never send it)",
        [VALID], Reason.ORIGIN_NOT_ALLOWED, origin="https://app.example:443",
        sec_fetch_site=None),
    row("Origin sharing our name as a prefix", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://app.example.evil.net", sec_fetch_site=None),
    row("Origin sharing our name as a suffix", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://evilapp.example", sec_fetch_site=None),
    row("Origin in upper case", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="HTTPS://APP.EXAMPLE", sec_fetch_site=None),
    row("Origin with a trailing slash", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://app.example/", sec_fetch_site=None),
    row("Origin header sent twice (joined values)", [VALID],
        Reason.ORIGIN_NOT_ALLOWED, origin="https://app.example, https://evil.example",
        sec_fetch_site=None),
    row("Origin of a trusted host on http", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="http://partner.example", sec_fetch_site=None),
    row("Origin under a trusted name as a prefix", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://partner.example.evil.net", sec_fetch_site=None),
    row("Origin of the wildcard's bare domain", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        origin="https://corp.example", sec_fetch_site=None),
    row("Origin of a wildcard subdomain on another port", [VALID],
        Reason.ORIGIN_NOT_ALLOWED, origin="https://hr.corp.example:8443",
        sec_fetch_site=None),
    row("control: our own Origin", [VALID], ACCEPTED, sec_fetch_site=None),
    row("control: a trusted Origin", [VALID], ACCEPTED,
        origin="https://partner.example", sec_fetch_site=None),
    row("control: a subdomain of a trusted wildcard", [VALID], ACCEPTED,
        origin="https://hr.corp.example", sec_fetch_site=None),
    row("Origin on the app's default port when the app runs on 8443", [VALID],
        Reason.ORIGIN_NOT_ALLOWED, host="app.example:8443", sec_fetch_site=None),
    row("control: Origin with the app's non-default port", [VALID], ACCEPTED,
        host="app.example:8443", origin="https://app.example:8443",
        sec_fetch_site=None),
    row("control: Host with an explicit default port", [VALID], ACCEPTED,
        host="app.example:443", sec_fetch_site=None),
    row("no Host header: no Origin can match", [VALID], Reason.ORIGIN_NOT_ALLOWED,
        host=None, sec_fetch_site=None),
    row("Origin null from a sandboxed frame", [VALID], Reason.ORIGIN_NULL,
        origin="null", sec_fetch_site=None),
    row("Origin null that the browser calls cross-site", [VALID],
        Reason.CROSS_SITE_REQUEST, origin="null", sec_fetch_site="cross-site"),
    row("Origin null with Sec-Fetch-Site none", [VALID], Reason.ORIGIN_NULL,
        origin="null", sec_fetch_site="none"),
    row("control: Origin null vouched for by Sec-Fetch-Site same-origin", [VALID],
        ACCEPTED, origin="null"),
    row("Origin null vouched for but no token", [], Reason.TOKEN_MISSING,
        origin="null"),
    row("no Origin and no Referer without token: the token decides", [],
        Reason.TOKEN_MISSING, origin=None, sec_fetch_site=None),
    row("control: no Origin and no Referer with token", [VALID], ACCEPTED,
        origin=None, sec_fetch_site=None),
    row("no Origin and a foreign Referer on https", [VALID],
        Reason.ORIGIN_NOT_ALLOWED, origin=None, sec_fetch_site=None,
        referer="https://evil.example/attack.html"),
    row("no Origin and an unparsable Referer on https", [VALID],
        Reason.ORIGIN_NOT_ALLOWED, origin=None, sec_fetch_site=None,
        referer="https://[broken/"),
    row("control: no Origin and our own Referer", [VALID], ACCEPTED, origin=None,
        sec_fetch_site=None, referer="https://app.example/notes?page=2"),
    row("control: no Origin and a trusted Referer", [VALID], ACCEPTED, origin=None,
        sec_fetch_site=None, referer="https://partner.example/embed"),
    row("control: plain http ignores the Referer, the token decides", [VALID],
        ACCEPTED, scheme="http", host="app.example", origin=None,
        sec_fetch_site=None, referer="http://evil.example/"),
]  # fmt: skip

CREDENTIALS = [
    row("control: bearer token without session cookie needs no CSRF token", [],
        ACCEPTED, authorization="Bearer abc.def.ghi", session_cookie_count=0,
        has_live_session=False, origin=None, sec_fetch_site=None),
    row("control: bearer scheme in lower case", [], ACCEPTED,
        authorization="bearer abc", session_cookie_count=0, has_live_session=False),
    row("bearer with the session cookie is still checked", [],
        Reason.TOKEN_MISSING, authorization="Bearer abc"),
    row("control: bearer with the session cookie and a token", [VALID], ACCEPTED,
        authorization="Bearer abc"),
    row("bearer with a planted second session cookie", [VALID],
        Reason.SESSION_COOKIE_AMBIGUOUS, authorization="Bearer abc",
        session_cookie_count=2),
    row("Bearer with no credentials is no bearer", [], Reason.SESSION_MISSING,
        authorization="Bearer ", session_cookie_count=0, has_live_session=False),
    row("Basic credentials are replayed by browsers: no exemption", [],
        Reason.SESSION_MISSING, authorization="Basic dXNlcjpwYXNz",
        session_cookie_count=0, has_live_session=False),
    row("Digest credentials are replayed by browsers: no exemption", [],
        Reason.SESSION_MISSING, authorization='Digest username="u", nonce="n"',
        session_cookie_count=0, has_live_session=False),
    row("a scheme merely starting with Bearer", [], Reason.SESSION_MISSING,
        authorization="Bearerish abc", session_cookie_count=0,
        has_live_session=False),
    row("no session at all (login CSRF)", [VALID], Reason.SESSION_MISSING,
        session_cookie_count=0, has_live_session=False),
    row("a session cookie naming no live session", [VALID], Reason.SESSION_MISSING,
        has_live_session=False),
    row("no session from another site: the origin is the first reason", [],
        Reason.CROSS_SITE_REQUEST, session_cookie_count=0, has_live_session=False,
        sec_fetch_site="cross-site"),
    row("the session cookie twice (cookie tossing), even with a valid token",
        [VALID], Reason.SESSION_COOKIE_AMBIGUOUS, session_cookie_count=2),
    row("control: the session cookie once", [VALID], ACCEPTED),
]  # fmt: skip

EXEMPTIONS = [
    row("control: under an exempt prefix nothing is checked", [], ACCEPTED,
        path="/hooks/github", **HOSTILE),
    row("control: an exact exempt path", [], ACCEPTED, path="/status", **HOSTILE),
    row("the prefix entry without its slash is not exempt", [],
        Reason.TOKEN_MISSING, path="/hooks"),
    row("a name that merely starts like the prefix is not exempt", [],
        Reason.TOKEN_MISSING, path="/hooksX"),
    row("a dot-dot segment escaping the prefix is not exempt", [],
        Reason.TOKEN_MISSING, path="/hooks/../transfer"),
    row("a dot segment under the prefix is not exempt", [], Reason.TOKEN_MISSING,
        path="/hooks/./github"),
    row("the prefix in another case is not exempt", [], Reason.TOKEN_MISSING,
        path="/HOOKS/github"),
    row("the prefix deeper in the path is not exempt", [], Reason.TOKEN_MISSING,
        path="/api/hooks/github"),
    row("an exact entry does not cover a sub-path", [], Reason.TOKEN_MISSING,
        path="/status/"),
    row("an exact entry does not cover a longer name", [], Reason.TOKEN_MISSING,
        path="/statusx"),
    row("control: a non-exempt path with token", [VALID], ACCEPTED,
        path="/hooks/../transfer"),
    row("control: a route the integration marked exempt", [], ACCEPTED,
        exempt=True, **HOSTILE),
]  # fmt: skip

TOKENS = [
    row("no token", [], Reason.TOKEN_MISSING),
    row("a token of another session", [OTHER], Reason.TOKEN_INVALID),
    row("junk in place of a token", ["not-a-token"], Reason.TOKEN_INVALID),
    row("an empty token", [""], Reason.TOKEN_INVALID),
    row("two different tokens, one valid", [VALID, OTHER], Reason.TOKEN_CONFLICT),
    row("a valid token and junk", [VALID, "junk"], Reason.TOKEN_CONFLICT),
    row("control: the same valid token twice", [VALID, VALID], ACCEPTED),
    row("control: one valid token", [VALID], ACCEPTED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("facts", "tokens", "expected"),
    [*SAFE_METHODS, *METHODS, *FETCH_METADATA, *ORIGINS, *CREDENTIALS,
     *EXEMPTIONS, *TOKENS],
)  # fmt: skip
def test_policy_threat_table(
    facts: RequestFacts, tokens: list[str], expected: str | Reason
) -> None:
    assert decide(facts, tokens) == expected


def test_two_distinct_but_equally_valid_tokens_are_a_conflict() -> None:
    """Two maskings of our own secret still mean two different values sent."""
    tokens = [mask_secret(SECRET), mask_secret(SECRET)]

    rejection = POLICY.check_token(tokens, SECRET)

    assert rejection is not None
    assert rejection.reason is Reason.TOKEN_CONFLICT


def test_a_session_without_a_secret_accepts_no_token() -> None:
    rejection = POLICY.check_token([mask_secret(SECRET)], None)

    assert rejection is not None
    assert rejection.reason is Reason.TOKEN_INVALID


def test_origin_rejections_name_both_origins_for_the_log() -> None:
    facts = replace(BASE, origin="https://evil.example", sec_fetch_site=None)

    verdict = POLICY.precheck(facts)

    assert isinstance(verdict, Rejection)
    assert verdict.expected_origin == "https://app.example"
    assert verdict.got_origin == "https://evil.example"


def test_a_referer_rejection_says_the_referer_was_foreign() -> None:
    facts = replace(BASE, origin=None, sec_fetch_site=None, referer="https://e.x/")

    verdict = POLICY.precheck(facts)

    assert isinstance(verdict, Rejection)
    assert "Referer" in verdict.message
    assert verdict.got_origin == "https://e.x"


def test_a_rejection_without_a_detail_uses_the_reasons_detail() -> None:
    assert Rejection(Reason.TOKEN_MISSING).message == Reason.TOKEN_MISSING.detail


def test_a_policy_without_trusted_origins_trusts_no_foreign_origin() -> None:
    facts = replace(BASE, origin="https://partner.example", sec_fetch_site=None)

    assert decide(facts, [VALID], CSRFPolicy()) == Reason.ORIGIN_NOT_ALLOWED
    assert decide(facts, [VALID], POLICY) == ACCEPTED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"exempt_paths": ["hooks/"]}, "must start with '/'",
                     id="relative exempt path"),
        pytest.param({"exempt_paths": ["/"]}, "everywhere", id="the root"),
        pytest.param({"scan_limit": 100}, "at least 1024", id="tiny scan limit"),
        pytest.param({"trusted_origins": ["app.example"]}, "not an origin",
                     id="origin without scheme"),
        pytest.param({"trusted_origins": ["ftp://app.example"]}, "not an origin",
                     id="origin with a non-http scheme"),
        pytest.param({"trusted_origins": ["https://app.example/path"]}, "no path",
                     id="origin with a path"),
        pytest.param({"trusted_origins": ["https://u:p@app.example"]}, "user name",
                     id="origin with credentials"),
        pytest.param({"trusted_origins": ["https://app.example:http"]},
                     "not a number", id="origin with a bad port"),
    ],
)  # fmt: skip
def test_bad_configuration_fails_at_construction_with_the_fix(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CSRFPolicy.build(**options)


def test_configuration_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="start with"):
        CSRFPolicy.build(exempt_paths=["x"])
