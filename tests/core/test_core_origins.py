"""Origins: normalising configured ones, deriving our own, matching trusted
ones exactly (never by prefix or substring)."""

from __future__ import annotations

import pytest

from forgeproof import ConfigurationError, TrustedOrigins
from forgeproof.origins import normalize_origin, origin_of_referer, own_origin


@pytest.mark.parametrize(
    ("configured", "normal"),
    [
        ("https://app.example", "https://app.example"),
        ("HTTPS://App.Example", "https://app.example"),
        ("https://app.example/", "https://app.example"),
        ("https://app.example:443", "https://app.example"),
        ("http://app.example:80", "http://app.example"),
        ("https://app.example:8443", "https://app.example:8443"),
        ("https://app.example.", "https://app.example"),
        ("  https://app.example  ", "https://app.example"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        # UTS 46 non-transitional, as browsers do: ß stays ß (not "ss").
        ("https://straße.example", "https://xn--strae-oqa.example"),
        ("http://[0:0::1]:8000", "http://[::1]:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://my_app:8000", "http://my_app:8000"),
    ],
)
def test_configured_origins_take_the_form_browsers_send(
    configured: str, normal: str
) -> None:
    assert normalize_origin(configured) == normal


@pytest.mark.parametrize(
    ("scheme", "host", "origin"),
    [
        ("https", "app.example", "https://app.example"),
        ("https", "APP.example:443", "https://app.example"),
        ("http", "app.example:80", "http://app.example"),
        ("http", "app.example:8000", "http://app.example:8000"),
        ("http", "127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http", "[::1]:8000", "http://[::1]:8000"),
        ("http", "my_app:8000", "http://my_app:8000"),
        ("http", None, None),
        ("http", "", None),
        ("http", "app.example/evil", None),
        ("http", "app.example@evil.example", None),
        ("http", "app.example:80:80", None),
        ("http", "app example", None),
        ("ftp", "app.example", None),
    ],
)
def test_our_own_origin_comes_from_scheme_and_host_or_is_none(
    scheme: str, host: str | None, origin: str | None
) -> None:
    assert own_origin(scheme, host) == origin


@pytest.mark.parametrize(
    ("referer", "origin"),
    [
        ("https://app.example/a/b?c#d", "https://app.example"),
        ("https://app.example:8443/", "https://app.example:8443"),
        ("https://app.example:443/", "https://app.example"),
        ("https://user:pw@app.example/", "https://app.example"),
        ("android-app://com.example/", None),
        ("/relative/path", None),
        ("https://app.example:99999999/", None),
        ("https://[::1/", None),
        ("", None),
    ],
)
def test_the_origin_of_a_referer_is_its_scheme_host_and_port(
    referer: str, origin: str | None
) -> None:
    assert origin_of_referer(referer) == origin


TRUSTED = TrustedOrigins(["https://partner.example", "https://*.corp.example"])


@pytest.mark.parametrize(
    ("origin", "trusted"),
    [
        pytest.param("https://partner.example", True, id="exact entry"),
        pytest.param("https://a.corp.example", True, id="wildcard subdomain"),
        pytest.param("https://a.b.corp.example", True, id="deeper wildcard subdomain"),
        pytest.param("https://corp.example", False, id="wildcard's bare domain"),
        pytest.param("https://.corp.example", False, id="empty label"),
        pytest.param("http://a.corp.example", False, id="wildcard on http"),
        pytest.param("https://a.corp.example:444", False, id="wildcard other port"),
        pytest.param("https://evil.example/.corp.example", False, id="suffix in path"),
        pytest.param("https://evilcorp.example", False, id="suffix without dot"),
        pytest.param("https://partner.example.evil", False, id="prefix of an entry"),
        pytest.param("https://partner.example:443", False, id="explicit port"),
        pytest.param("http://partner.example", False, id="entry on http"),
        pytest.param("null", False, id="null"),
        pytest.param(None, False, id="no origin"),
        pytest.param("", False, id="empty"),
    ],
)
def test_trusted_origins_match_exactly_or_by_whole_labels(
    origin: str | None, trusted: bool
) -> None:
    assert (origin in TRUSTED) is trusted


def test_an_empty_trusted_set_is_falsy_and_trusts_nothing() -> None:
    assert not TrustedOrigins()
    assert "https://app.example" not in TrustedOrigins()
    assert TRUSTED


def test_trusted_origins_show_their_entries_in_repr() -> None:
    assert repr(TRUSTED) == (
        "TrustedOrigins(['https://partner.example', 'https://*.corp.example'])"
    )


@pytest.mark.parametrize(
    "configured",
    ["app.example", "//app.example", "https://", "https://app.example/x",
     "https://app.example?x=1", "https://app.example#x", "https://u@app.example",
     "https://app.example:port", "javascript:alert(1)", "https://*.", "*",
     "https://a\u200dpp.example", "https://a\u200cpp.example",
     "https://*.[::1]", "https://*.com", "http://[fe80::1%25eth0]:8000",
     "https://[::1", "https://app*.example"],
)  # fmt: skip
def test_anything_but_an_origin_is_refused_at_configuration(configured: str) -> None:
    with pytest.raises(ConfigurationError):
        TrustedOrigins([configured])
