"""Caching headers on pages that carry a token, over real HTTP through both
adapters: neither the app's own caching headers nor a crafted request may
leave a shared cache (a CDN, a caching proxy) free to store the page and
hand one visitor's token to the next."""

from __future__ import annotations

import pytest

from adversarial3.adv3_support import (
    Headers,
    Recorder,
    Response,
    Visitor,
    request,
    serve,
)

# Headers by which a CDN is told to cache regardless of Cache-Control:
# RFC 9213 targeted fields, and Surrogate-Control (Fastly, Varnish, Akamai).
TARGETED = ("cdn-cache-control", "cloudflare-cdn-cache-control", "surrogate-control")


def _directives(values: list[str]) -> set[str]:
    return {
        part.strip().partition("=")[0].strip().lower()
        for value in values
        for part in value.split(",")
        if part.strip()
    }


def _assert_no_shared_cache_may_store(response: Response) -> None:
    control = _directives(response.header("cache-control"))
    assert {"private", "no-store"} <= control
    assert not control & {"public", "s-maxage"}
    for name in TARGETED:
        for value in response.header(name):
            assert "no-store" in _directives([value]), f"{name}: {value}"
    assert {"cookie", "*"} & _directives(response.header("vary"))


@pytest.mark.parametrize(
    "page_headers",
    [
        pytest.param((), id="none of its own"),
        pytest.param((("Cache-Control", "public, max-age=600"),), id="public"),
        pytest.param(
            (("Cache-Control", "PUBLIC, S-MAXAGE=600, Max-Age=60"),), id="upper case"
        ),
        pytest.param(
            (("Cache-Control", "max-age=600"), ("Cache-Control", "public")),
            id="split over two lines",
        ),
        pytest.param(
            (("Cache-Control", 'private="set-cookie", max-age=600'),),
            id="private for one field only",
        ),
        pytest.param(
            (("Cache-Control", "immutable, max-age=31536000, stale-if-error=86400"),),
            id="immutable, stale-if-error",
        ),
        pytest.param((("Vary", "Accept-Encoding"),), id="Vary without Cookie"),
        pytest.param((("Vary", "Cookie2, Cookies"),), id="Vary with lookalikes"),
        pytest.param(
            (("Expires", "Thu, 01 Jan 2037 00:00:00 GMT"),), id="Expires far ahead"
        ),
        pytest.param(
            (("CDN-Cache-Control", "max-age=600"),),
            id="CDN-Cache-Control (RFC 9213)",
        ),
        pytest.param(
            (("Surrogate-Control", "max-age=600"),),
            id="Surrogate-Control",
        ),
    ],
)
def test_the_apps_own_caching_headers_never_make_a_token_page_storable(
    adapter: str, recorder: Recorder, page_headers: Headers
) -> None:
    with serve(adapter, recorder, page_headers=page_headers) as base:
        visitor = Visitor(base)
        first = visitor.open_page()  # a new session: sets the cookie
        second = visitor.open_page()  # the same session: only a token

    assert first.status == second.status == 200
    assert second.header("set-cookie") == []
    _assert_no_shared_cache_may_store(first)
    _assert_no_shared_cache_may_store(second)


@pytest.mark.parametrize(
    ("method", "request_headers"),
    [
        pytest.param("GET", (("Cache-Control", "public, max-age=600"),), id="asks"),
        pytest.param("GET", (("Pragma", "cache"),), id="Pragma"),
        pytest.param(
            "GET",
            (("Cookie", "forgeproof_session=a; forgeproof_session=b"),),
            id="the session cookie twice",
        ),
        pytest.param(
            "GET", (("Cookie", "forgeproof_session=" + "A" * 43),), id="stale"
        ),
        pytest.param(
            "GET",
            (("Sec-Fetch-Site", "cross-site"), ("Origin", "https://evil.example")),
            id="cross-site",
        ),
        pytest.param("HEAD", (), id="HEAD"),
    ],
)
def test_no_request_makes_a_token_page_storable(
    adapter: str, recorder: Recorder, method: str, request_headers: Headers
) -> None:
    with serve(adapter, recorder) as base:
        visitor = Visitor(base)
        control = visitor.open_page()
        response = request(base, method, "/page", request_headers)

    _assert_no_shared_cache_may_store(control)
    assert response.status == 200
    _assert_no_shared_cache_may_store(response)
