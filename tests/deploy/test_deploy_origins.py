"""Own, public and trusted origins, the https Referer rule and exempt
paths, as the policy applies them (no I/O)."""

from __future__ import annotations

import pytest

from forgeproof import (
    ConfigurationError,
    CSRFPolicy,
    Rejection,
    RequestFacts,
    TrustedOrigins,
    Verdict,
    render_problem_json,
)
from forgeproof.origins import normalize_public_origins


def facts(
    origin: str | None,
    *,
    scheme: str = "https",
    host: str = "app.example",
    referer: str | None = None,
    path: str = "/notes",
) -> RequestFacts:
    return RequestFacts(
        method="POST",
        scheme=scheme,
        host=host,
        path=path,
        origin=origin,
        referer=referer,
        has_live_session=True,
    )


@pytest.mark.parametrize(
    ("entry", "origin", "trusted"),
    [
        pytest.param(
            "https://partner.example", "https://partner.example", True, id="exact"
        ),
        pytest.param(
            "https://partner.example", "http://partner.example", False, id="http twin"
        ),
        pytest.param(
            "https://partner.example",
            "https://partner.example:8443",
            False,
            id="other port",
        ),
        pytest.param(
            "https://partner.example",
            "https://partner.example.evil.net",
            False,
            id="suffix attack",
        ),
        pytest.param(
            "https://partner.example",
            "https://xpartner.example",
            False,
            id="prefix attack",
        ),
        pytest.param(
            "https://partner.example",
            "HTTPS://PARTNER.EXAMPLE",
            False,
            id="request side is exact",
        ),
        pytest.param(
            "https://partner.example",
            "https://partner.example/",
            False,
            id="trailing slash sent",
        ),
        pytest.param(
            "https://*.example.com",
            "https://a.example.com",
            True,
            id="wildcard subdomain",
        ),
        pytest.param(
            "https://*.example.com",
            "https://a.b.example.com",
            True,
            id="wildcard deeper",
        ),
        pytest.param(
            "https://*.example.com",
            "https://example.com",
            False,
            id="wildcard not apex",
        ),
        pytest.param(
            "https://*.example.com",
            "http://a.example.com",
            False,
            id="wildcard other scheme",
        ),
        pytest.param(
            "https://*.example.com",
            "https://a.example.com:444",
            False,
            id="wildcard other port",
        ),
        pytest.param(
            "https://*.example.com",
            "https://evil.com/.example.com",
            False,
            id="wildcard path trick",
        ),
        pytest.param(
            "https://*.example.com",
            "https://evilexample.com",
            False,
            id="wildcard no dot",
        ),
    ],
)
def test_trusted_origins_match_scheme_host_and_port_exactly(
    entry: str, origin: str, trusted: bool
) -> None:
    assert (origin in TrustedOrigins([entry])) is trusted


@pytest.mark.parametrize(
    ("configured", "normal"),
    [
        pytest.param(
            "HTTPS://Partner.Example", "https://partner.example", id="mixed case"
        ),
        pytest.param(
            "https://partner.example.", "https://partner.example", id="trailing dot"
        ),
        pytest.param(
            "https://partner.example:443", "https://partner.example", id="default port"
        ),
        pytest.param(
            "http://partner.example:80/",
            "http://partner.example",
            id="default port and slash",
        ),
        pytest.param(
            "https://bücher.example", "https://xn--bcher-kva.example", id="IDNA"
        ),
        pytest.param(
            "https://*.Bücher.Example.",
            "https://*.xn--bcher-kva.example",
            id="IDNA wildcard",
        ),
    ],
)
def test_configured_origins_are_normalised_once(configured: str, normal: str) -> None:
    assert TrustedOrigins([configured]).entries == (normal,)


@pytest.mark.parametrize(
    "configured",
    [
        pytest.param("partner.example", id="no scheme"),
        pytest.param("https://user@partner.example", id="userinfo"),
        pytest.param("https://partner.example/path", id="path"),
        pytest.param("ftp://partner.example", id="other scheme"),
    ],
)
def test_an_origin_that_is_not_one_is_refused_at_configuration(configured: str) -> None:
    with pytest.raises(ConfigurationError):
        CSRFPolicy.build(trusted_origins=[configured])


def test_public_origins_replace_the_origin_read_from_the_request() -> None:
    policy = CSRFPolicy.build(
        public_origins=["HTTPS://Shop.Example:443", "https://www.shop.example"]
    )
    behind_proxy = {"scheme": "http", "host": "10.0.0.5:8000"}

    assert policy.public_origins == ("https://shop.example", "https://www.shop.example")
    assert (
        policy.precheck(facts("https://shop.example", **behind_proxy))
        is Verdict.CHECK_TOKEN
    )
    assert (
        policy.precheck(facts("https://www.shop.example", **behind_proxy))
        is Verdict.CHECK_TOKEN
    )
    rejected = policy.precheck(facts("http://10.0.0.5:8000", **behind_proxy))
    assert isinstance(rejected, Rejection)
    assert rejected.expected_origin == "https://shop.example, https://www.shop.example"


def test_a_public_origin_is_exact() -> None:
    with pytest.raises(ConfigurationError, match="wildcards"):
        normalize_public_origins(["https://*.shop.example"])


def test_a_single_public_origin_string_is_one_origin() -> None:
    assert normalize_public_origins("https://shop.example") == ("https://shop.example",)


@pytest.mark.parametrize(
    ("scheme", "referer", "accepted"),
    [
        pytest.param("https", None, True, id="https, no Referer: the token decides"),
        pytest.param(
            "https", "https://app.example/form", True, id="https, own Referer"
        ),
        pytest.param(
            "https", "https://partner.example/x", True, id="https, trusted Referer"
        ),
        pytest.param(
            "https", "https://evil.example/x", False, id="https, foreign Referer"
        ),
        pytest.param(
            "https", "http://app.example/form", False, id="https, http twin Referer"
        ),
        pytest.param("https", "not a url", False, id="https, garbage Referer"),
        pytest.param(
            "http", "https://evil.example/x", True, id="http: Referer not used"
        ),
    ],
)
def test_without_origin_a_present_referer_must_be_own_or_trusted_on_https(
    scheme: str, referer: str | None, accepted: bool
) -> None:
    policy = CSRFPolicy.build(trusted_origins=["https://partner.example"])

    verdict = policy.precheck(facts(None, scheme=scheme, referer=referer))

    if accepted:
        assert verdict is Verdict.CHECK_TOKEN
    else:
        assert isinstance(verdict, Rejection)
        assert verdict.reason.value == "origin_not_allowed"
        assert verdict.expected_origin == f"{scheme}://app.example"


def test_behind_a_tls_proxy_the_referer_rule_follows_the_public_origin() -> None:
    policy = CSRFPolicy.build(public_origins=["https://app.example"])
    seen_as_http = {"scheme": "http", "host": "10.0.0.5"}

    control = policy.precheck(
        facts(None, referer="https://app.example/", **seen_as_http)
    )
    verdict = policy.precheck(
        facts(None, referer="https://evil.example/", **seen_as_http)
    )

    assert control is Verdict.CHECK_TOKEN
    assert isinstance(verdict, Rejection)
    assert verdict.got_origin == "https://evil.example"


@pytest.mark.parametrize(
    ("path", "exempt"),
    [
        pytest.param("/hooks/", True, id="the prefix itself"),
        pytest.param("/hooks/github", True, id="under the prefix"),
        pytest.param("/hooks", False, id="without the slash"),
        pytest.param("/hooksX", False, id="a longer name"),
        pytest.param("/hooks/../transfer", False, id="dot segments"),
        pytest.param("/stripe", True, id="an exact entry"),
        pytest.param("/stripe/", False, id="an exact entry is not a prefix"),
        pytest.param("/stripe2", False, id="an exact entry is not a prefix of names"),
    ],
)
def test_exempt_paths_match_exactly_or_by_a_slash_terminated_prefix(
    path: str, exempt: bool
) -> None:
    policy = CSRFPolicy.build(exempt_paths=["/hooks/", "/stripe"])
    foreign = facts("https://evil.example", path=path)

    verdict = policy.precheck(foreign)

    if exempt:
        assert verdict is Verdict.ACCEPT
    else:
        assert isinstance(verdict, Rejection)


def test_a_rejection_names_the_origin_expected_and_the_one_got() -> None:
    policy = CSRFPolicy.build()
    request = facts("https://evil.example")

    rejection = policy.precheck(request)
    assert isinstance(rejection, Rejection)
    problem = render_problem_json(rejection, request)

    assert b'"reason": "origin_not_allowed"' in problem.body
    assert b'"expected_origin": "https://app.example"' in problem.body
    assert b'"origin": "https://evil.example"' in problem.body
