"""Trusted and public origins: wildcard lookalikes, the http twin,
normalisation of what is configured (IDNA, IPv6, stray ``*``), and the
Referer rule with odd schemes and userinfo, over real HTTP through both
adapters where a request is involved."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from adversarial3.adv3_support import Recorder, Visitor, serve
from forgeproof import ConfigurationError, CSRFPolicy, RequestFacts, Verdict
from forgeproof.origins import TrustedOrigins, normalize_origin

PUBLIC = "https://shop.example"
WILDCARD = "https://*.example.com"
PARTNER = "https://partner.example"


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def trusting(request: pytest.FixtureRequest) -> Iterator[tuple[str, Recorder]]:
    """An app whose own origin is PUBLIC, trusting a wildcard and a partner."""
    recorder = Recorder()
    options = {"public_origins": [PUBLIC], "trusted_origins": [WILDCARD, PARTNER]}
    with serve(str(request.param), recorder, **options) as base:
        yield base, recorder


def _post(
    trusting: tuple[str, Recorder], headers: list[tuple[str, str]]
) -> tuple[int, dict[str, str], list[str]]:
    base, recorder = trusting
    visitor = Visitor(base)
    visitor.open_page()
    recorder.reset()
    response = visitor.post(headers)
    body = response.json if response.status == 403 else {}
    return response.status, body, recorder.paths


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://evil.example.com.attacker.net", id="suffix then more"),
        pytest.param("https://example.com", id="the apex itself"),
        pytest.param("https://aexample.com", id="no dot before the suffix"),
        pytest.param("http://a.example.com", id="the http twin"),
        pytest.param("https://a.example.com:8443", id="another port"),
        pytest.param("https://a.example.com:443", id="explicit default port"),
        pytest.param("https://A.example.com", id="upper case"),
        pytest.param("https://a.example.com.", id="trailing dot"),
        pytest.param("https://a.example.com/", id="a path"),
        pytest.param("https://user@a.example.com", id="userinfo"),
        pytest.param("https://evil.example#.example.com", id="fragment"),
        pytest.param("https://evil.example?.example.com", id="query"),
        pytest.param("https://evil.example/.example.com", id="path as suffix"),
        pytest.param("https://evil.example\\.example.com", id="backslash"),
        pytest.param("https://evil.example:1.example.com", id="port then suffix"),
        pytest.param("https://.example.com", id="empty subdomain"),
        pytest.param("https://a.example.com, https://a.example.com", id="sent twice"),
        pytest.param("https://xn--80ak6aa92e.example.com.evil", id="punycode prefix"),
        pytest.param("http://partner.example", id="http twin of an exact entry"),
        pytest.param("https://partner.example:443", id="exact entry, explicit port"),
        pytest.param("https://partner.example.evil.net", id="exact entry as prefix"),
        pytest.param("null", id="null"),
    ],
)
def test_origins_that_only_look_trusted_are_refused(
    trusting: tuple[str, Recorder], origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "forgeproof.csrf")
    control, _, ran = _post(trusting, [("Origin", "https://a.example.com")])
    assert control == 200
    assert ran == ["/notes"]

    status, body, ran = _post(trusting, [("Origin", origin)])

    assert status == 403
    assert body["reason"] in ("origin_not_allowed", "origin_null")
    assert ran == []
    assert f"reason={body['reason']}" in caplog.text


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://..example.com", id="only a dot"),
        pytest.param("https://a..example.com", id="empty label before the suffix"),
        pytest.param("https://.a.example.com", id="leading empty label"),
    ],
)
def test_a_wildcard_never_matches_a_host_with_empty_labels(
    trusting: tuple[str, Recorder], origin: str
) -> None:
    status, body, ran = _post(trusting, [("Origin", origin)])

    assert status == 403
    assert body["reason"] == "origin_not_allowed"
    assert ran == []


@pytest.mark.parametrize(
    "referer",
    [
        pytest.param("blob:https://shop.example/0b6e", id="blob"),
        pytest.param("data:text/html,<form>", id="data"),
        pytest.param("about:blank", id="about"),
        pytest.param("javascript:void(0)", id="javascript"),
        pytest.param("https://shop.example@evil.example/", id="own origin as userinfo"),
        pytest.param("https://shop.example.evil.example/", id="own origin as prefix"),
        pytest.param("http://shop.example/form", id="the http twin"),
        pytest.param("//evil.example/form", id="scheme-relative"),
        pytest.param("https://shop.example:8443/form", id="another port"),
        pytest.param(
            "https://a..example.com/form",
            id="empty label, wildcard",
        ),
        pytest.param("null", id="null"),
    ],
)
def test_referers_that_only_look_own_are_refused_on_https(
    trusting: tuple[str, Recorder], referer: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "forgeproof.csrf")
    for good in ("https://shop.example/form?q=1", "https://shop.example:443/form"):
        control, _, ran = _post(trusting, [("Referer", good)])
        assert control == 200
        assert ran == ["/notes"]

    status, body, ran = _post(trusting, [("Referer", referer)])

    assert status == 403
    assert body["reason"] == "origin_not_allowed"
    assert ran == []
    assert "reason=origin_not_allowed" in caplog.text


@pytest.mark.parametrize(
    ("configured", "browser_sends"),
    [
        pytest.param("HTTPS://Partner.Example:443/", PARTNER, id="case, port, slash"),
        pytest.param("https://partner.example.", PARTNER, id="trailing dot"),
        pytest.param(
            "https://bücher.example", "https://xn--bcher-kva.example", id="IDNA"
        ),
        pytest.param("https://[::1]:443", "https://[::1]", id="IPv6, default port"),
    ],
)
def test_configured_origins_are_normalised_to_what_browsers_send(
    configured: str, browser_sends: str
) -> None:
    trusted = TrustedOrigins([configured])

    assert browser_sends in trusted
    assert browser_sends.replace("https://", "http://") not in trusted


# Python's "idna" codec is IDNA 2003, which maps the four deviation
# characters (ß, ς, ZWJ, ZWNJ) to other letters. Browsers use UTS 46
# non-transitional processing and keep them, so the configured name and the
# one browsers send are different domains, registered separately.
IDNA_DEVIATIONS = [
    pytest.param(
        "https://straße.example",
        "https://xn--strae-oqa.example",
        "https://strasse.example",
        id="sharp s",
    ),
    pytest.param(
        "https://ς.example",
        "https://xn--3xa.example",
        "https://xn--4xa.example",
        id="final sigma",
    ),
]


@pytest.mark.parametrize(("configured", "browser_sends", "other"), IDNA_DEVIATIONS)
def test_a_trusted_origin_with_a_deviation_character_trusts_that_domain_only(
    configured: str, browser_sends: str, other: str
) -> None:
    trusted = TrustedOrigins([configured])

    assert other not in trusted
    assert browser_sends in trusted


@pytest.mark.parametrize(("configured", "browser_sends", "other"), IDNA_DEVIATIONS)
def test_a_public_origin_with_a_deviation_character_is_not_another_domain(
    configured: str, browser_sends: str, other: str
) -> None:
    policy = CSRFPolicy.build(public_origins=[configured])

    def facts(origin: str) -> RequestFacts:
        return RequestFacts(
            "POST", "http", "app:8000", "/notes", origin=origin, has_live_session=True
        )

    assert policy.precheck(facts(other)) is not Verdict.CHECK_TOKEN
    assert policy.precheck(facts(browser_sends)) is Verdict.CHECK_TOKEN


@pytest.mark.parametrize(
    "configured",
    [
        pytest.param("https://[0:0::1]:8443", id="zeros spelled out"),
        pytest.param("https://[::ffff:127.0.0.1]:8443", id="IPv4-mapped, dotted"),
    ],
)
def test_an_ipv6_origin_is_normalised_to_the_browsers_form(configured: str) -> None:
    browser = {
        "https://[0:0::1]:8443": "https://[::1]:8443",
        "https://[::ffff:127.0.0.1]:8443": "https://[::ffff:7f00:1]:8443",
    }[configured]

    assert browser in TrustedOrigins([configured])


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("https://*", id="bare star"),
        pytest.param("https://*example.com", id="star glued to the name"),
        pytest.param("https://a.*.example.com", id="star in the middle"),
    ],
)
def test_a_star_that_is_not_a_leading_wildcard_label_is_refused(entry: str) -> None:
    with pytest.raises(ConfigurationError):
        TrustedOrigins([entry])


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("https://[::1", id="unclosed IPv6 bracket"),
        pytest.param("https://exa\uff0fmple.com", id="fullwidth solidus"),
    ],
)
def test_a_malformed_origin_is_refused_with_a_configuration_error(entry: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_origin(entry)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("https://shop.example/app", id="a path"),
        pytest.param("https://shop.example?x=1", id="a query"),
        pytest.param("https://user@shop.example", id="userinfo"),
        pytest.param("https://*.shop.example", id="a wildcard"),
        pytest.param("shop.example", id="no scheme"),
        pytest.param("ftp://shop.example", id="another scheme"),
    ],
)
def test_a_public_origin_that_is_not_exactly_an_origin_is_refused(entry: str) -> None:
    assert CSRFPolicy.build(public_origins=["https://shop.example/"]).public_origins
    with pytest.raises(ConfigurationError):
        CSRFPolicy.build(public_origins=[entry])
