"""forgeproof.proxies: what the trusted proxies say the browser used, and
nothing that a client wrote itself."""

from __future__ import annotations

import pytest

from forgeproof import ConfigurationError, CSRFPolicy, Rejection, RequestFacts, Verdict
from forgeproof.proxies import TrustedProxies, parse_forwarded

APP = ("http", "app:8000")  # what uvicorn behind the proxy sees


@pytest.mark.parametrize(
    ("count", "headers", "expected"),
    [
        pytest.param(
            1,
            {"x_forwarded_proto": "https", "x_forwarded_host": "shop.example"},
            ("https", "shop.example"),
            id="one proxy: its values",
        ),
        pytest.param(
            1,
            {
                "x_forwarded_proto": "https",
                "x_forwarded_host": "shop.example",
                "x_forwarded_port": "8443",
            },
            ("https", "shop.example:8443"),
            id="the port joins the host",
        ),
        pytest.param(
            1,
            {"x_forwarded_host": "shop.example:9000", "x_forwarded_port": "8443"},
            ("http", "shop.example:8443"),
            id="the port replaces one in the host",
        ),
        pytest.param(
            1,
            {"x_forwarded_host": "[::1]:9000", "x_forwarded_port": "8443"},
            ("http", "[::1]:8443"),
            id="an IPv6 literal keeps its brackets",
        ),
        pytest.param(
            1,
            {"x_forwarded_host": "evil.example, shop.example"},
            ("http", "shop.example"),
            id="spoofed: a client's X-Forwarded-Host before the proxy's is ignored",
        ),
        pytest.param(
            1,
            {"x_forwarded_proto": "http, https"},
            ("https", "app:8000"),
            id="spoofed: a client's X-Forwarded-Proto before the proxy's is ignored",
        ),
        pytest.param(
            2,
            {"x_forwarded_host": "evil.example, cdn.example, lb.internal"},
            ("http", "cdn.example"),
            id="two proxies: the outer one's entry, not the client's",
        ),
        pytest.param(
            2,
            {"x_forwarded_host": "shop.example"},
            APP,
            id="too few entries: a proxy was bypassed, nothing is believed",
        ),
        pytest.param(
            1,
            {"x_forwarded_proto": "javascript"},
            APP,
            id="a scheme other than http(s) is ignored",
        ),
        pytest.param(
            1,
            {"x_forwarded_port": "99999"},
            APP,
            id="a port out of range is ignored",
        ),
        pytest.param(
            1,
            {"forwarded": "proto=https;host=shop.example"},
            APP,
            id="Forwarded is not read when the proxies write X-Forwarded",
        ),
    ],
)
def test_x_forwarded_values_come_from_the_outermost_trusted_proxy(
    count: int, headers: dict[str, str], expected: tuple[str, str]
) -> None:
    assert TrustedProxies(count).resolve(*APP, **headers) == expected


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        pytest.param(
            1,
            'for=192.0.2.60;proto=https;host="shop.example:8443"',
            ("https", "shop.example:8443"),
            id="one proxy, quoted host with port",
        ),
        pytest.param(
            1,
            "proto=https;host=evil.example, proto=https;host=shop.example",
            ("https", "shop.example"),
            id="spoofed: a client's element before the proxy's is ignored",
        ),
        pytest.param(
            2,
            "host=evil.example, host=cdn.example;proto=https, for=10.0.0.1",
            ("https", "cdn.example"),
            id="two proxies: the outer one's element",
        ),
        pytest.param(
            1,
            'Proto=HTTPS;HOST="shop.example"',
            ("https", "shop.example"),
            id="parameter names and the scheme are case-insensitive",
        ),
        pytest.param(
            1,
            'host="a,b";proto=https, host="shop.example"',
            ("http", "shop.example"),
            id="a comma inside quotes does not split elements",
        ),
        pytest.param(1, 'host="shop.example', APP, id="unclosed quote: ignored"),
        pytest.param(
            1, "host=a.example;host=b.example", APP, id="a parameter twice: ignored"
        ),
        pytest.param(1, "host", APP, id="a parameter without a value: ignored"),
        pytest.param(2, "host=shop.example", APP, id="too few elements: ignored"),
    ],
)
def test_forwarded_values_come_from_the_outermost_trusted_proxy(
    count: int, forwarded: str, expected: tuple[str, str]
) -> None:
    proxies = TrustedProxies(count, "forwarded")

    assert proxies.resolve(*APP, forwarded=forwarded) == expected


def test_x_forwarded_headers_are_not_read_when_the_proxies_write_forwarded() -> None:
    proxies = TrustedProxies(1, "forwarded")

    assert proxies.resolve(*APP, x_forwarded_host="evil.example") == APP


def test_a_forwarded_header_parses_into_one_dict_per_hop() -> None:
    parsed = parse_forwarded('for="[2001:db8::1]:4711";proto=http, for=10.0.0.2')

    assert parsed == [
        {"for": "[2001:db8::1]:4711", "proto": "http"},
        {"for": "10.0.0.2"},
    ]


@pytest.mark.parametrize(
    ("count", "headers"),
    [
        pytest.param(0, "x-forwarded", id="zero proxies (leave it unset instead)"),
        pytest.param(-1, "x-forwarded", id="negative"),
        pytest.param(17, "x-forwarded", id="implausibly many"),
        pytest.param(True, "x-forwarded", id="a bool"),
        pytest.param(1, "x-real-ip", id="unknown header family"),
    ],
)
def test_a_nonsensical_proxy_setting_is_refused_at_configuration(
    count: int, headers: str
) -> None:
    with pytest.raises(ConfigurationError):
        TrustedProxies(count, headers)  # type: ignore[arg-type]


# The same request, as the app server behind a TLS proxy sees it: the
# browser was on https://shop.example, uvicorn got http and Host app:8000.
def _facts(origin: str, **forwarding: str) -> RequestFacts:
    return RequestFacts(
        method="POST",
        scheme="http",
        host="app:8000",
        path="/notes",
        origin=origin,
        has_live_session=True,
        **forwarding,  # type: ignore[arg-type]
    )


PROXIED = {"x_forwarded_proto": "https", "x_forwarded_host": "shop.example"}


def test_without_trusted_proxies_forwarding_headers_are_never_read() -> None:
    policy = CSRFPolicy.build()

    verdict = policy.precheck(_facts("https://shop.example", **PROXIED))

    assert isinstance(verdict, Rejection)
    assert verdict.reason.value == "origin_not_allowed"
    assert verdict.expected_origin == "http://app:8000"
    assert verdict.got_origin == "https://shop.example"


def test_with_one_trusted_proxy_the_public_origin_is_accepted() -> None:
    policy = CSRFPolicy.build(trusted_proxies=1)

    verdict = policy.precheck(_facts("https://shop.example", **PROXIED))

    assert verdict is Verdict.CHECK_TOKEN


def test_a_client_cannot_spoof_its_way_past_the_trusted_proxy() -> None:
    policy = CSRFPolicy.build(trusted_proxies=1)
    spoofed = {
        "x_forwarded_proto": "https",
        "x_forwarded_host": "evil.example, shop.example",
    }

    control = policy.precheck(_facts("https://shop.example", **spoofed))
    verdict = policy.precheck(_facts("https://evil.example", **spoofed))

    assert control is Verdict.CHECK_TOKEN
    assert isinstance(verdict, Rejection)
    assert verdict.reason.value == "origin_not_allowed"
    assert verdict.expected_origin == "https://shop.example"
