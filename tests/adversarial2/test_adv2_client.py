"""The client side through both adapters: the token endpoint, the helper
script's paths, and the opt-in ``XSRF-TOKEN`` cookie."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from adversarial2.adv2_apps import asgi_app, wsgi_app
from adversarial2.adv2_support import COOKIE, Recorder
from adversarial2.conftest import Served
from forgeproof.client import XSRF_COOKIE_NAME, XSRF_HEADER_NAME
from forgeproof.sessions.memory import MemorySessionStore
from support.servers import serve_asgi, serve_wsgi

TOKEN_PATH = "/forgeproof/token"


def test_same_origin_token_endpoint_gives_a_token_that_works(either: Served) -> None:
    with httpx.Client(base_url=either.base) as client:
        response = client.get(TOKEN_PATH, headers={"Sec-Fetch-Site": "same-origin"})
        token = response.json()["token"]
        posted = client.post("/echo", headers={"X-CSRF-Token": token})

    assert response.status_code == 200
    assert posted.status_code == 200
    assert either.recorder.ran == ["POST /echo"]


@pytest.mark.parametrize("site", ["cross-site", "same-site", "CROSS-SITE"])
def test_token_endpoint_refuses_requests_another_site_started(
    either: Served, site: str
) -> None:
    response = httpx.get(
        either.base + TOKEN_PATH,
        headers={"Sec-Fetch-Site": site, "Origin": "http://evil.example"},
    )

    assert response.status_code == 403
    assert response.json()["reason"] == "cross_site_request"
    assert "token" not in response.json()


def test_token_endpoint_grants_no_cross_origin_read_and_no_caching(
    either: Served,
) -> None:
    response = httpx.get(
        either.base + TOKEN_PATH + "?callback=steal&jsonp=steal",
        headers={"Origin": "http://evil.example"},
    )

    assert response.status_code == 200
    assert response.text.startswith('{"token": ')
    assert not any(name.startswith("access-control-") for name in response.headers)
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_unsafe_methods_on_the_client_paths_do_nothing(
    either: Served, method: str
) -> None:
    for path in (TOKEN_PATH, "/forgeproof/csrf.js"):
        response = httpx.request(method, either.base + path)
        assert response.status_code == 405
    assert either.recorder.ran == []


@pytest.mark.parametrize(
    "path", ["/forgeproof/token/", "/forgeproof//token", "/forgeproof/TOKEN"]
)
def test_lookalike_client_paths_are_the_apps_and_checked(
    either: Served, path: str
) -> None:
    response = httpx.post(either.base + path)

    assert response.status_code == 403
    assert either.recorder.ran == []


@contextmanager
def _spa_client(target: Served) -> Iterator[tuple[httpx.Client, str]]:
    """A browser of a single-page app: a session and its readable cookie."""
    with httpx.Client(base_url=target.base) as client:
        client.get("/page")
        yield client, client.cookies[XSRF_COOKIE_NAME]


def test_own_xsrf_cookie_sent_back_in_the_header_is_accepted(either: Served) -> None:
    with _spa_client(either) as (client, cookie_token):
        response = client.post("/echo", headers={XSRF_HEADER_NAME: cookie_token})

    assert response.status_code == 200
    assert either.recorder.ran == ["POST /echo"]


def test_xsrf_cookie_planted_from_another_session_is_refused(either: Served) -> None:
    with (
        _spa_client(either) as (_, attacker_token),
        _spa_client(either) as (
            victim,
            _,
        ),
    ):
        # A sibling port or subdomain overwrites the readable cookie with the
        # attacker's own valid token; the page's library sends it back.
        victim.cookies.set(XSRF_COOKIE_NAME, attacker_token)
        response = victim.post(
            "/echo",
            headers={XSRF_HEADER_NAME: attacker_token, "Accept": "application/json"},
        )

    assert response.status_code == 403
    assert response.json()["reason"] == "token_invalid"
    assert either.recorder.ran == []


def test_xsrf_cookie_alone_without_the_header_is_no_token(either: Served) -> None:
    with _spa_client(either) as (client, _):
        response = client.post("/echo", headers={"Accept": "application/json"})

    assert response.status_code == 403
    assert response.json()["reason"] == "token_missing"
    assert either.recorder.ran == []


def test_xsrf_header_without_the_cookie_still_needs_a_valid_token(
    either: Served,
) -> None:
    with _spa_client(either) as (client, cookie_token):
        client.cookies.delete(XSRF_COOKIE_NAME)
        good = client.post("/echo", headers={XSRF_HEADER_NAME: cookie_token})
        bad = client.post(
            "/echo",
            headers={XSRF_HEADER_NAME: "x" * 86, "Accept": "application/json"},
        )

    assert good.status_code == 200
    assert bad.status_code == 403
    assert bad.json()["reason"] == "token_invalid"
    assert either.recorder.ran == ["POST /echo"]


def test_page_with_a_token_is_never_stored_by_a_shared_cache(either: Served) -> None:
    response = httpx.get(either.base + "/page")

    assert COOKIE in response.cookies
    assert "no-store" in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]


def test_response_carrying_the_xsrf_cookie_is_never_public(either: Served) -> None:
    response = httpx.get(either.base + "/public.js")

    assert XSRF_COOKIE_NAME in response.cookies
    control = response.headers["cache-control"].lower()
    assert "public" not in control
    assert "private" in control
    assert "no-store" in control


def test_cross_site_token_request_starts_no_session(either: Served) -> None:
    response = httpx.get(
        either.base + TOKEN_PATH, headers={"Sec-Fetch-Site": "cross-site"}
    )

    assert response.status_code == 403
    assert response.headers.get_list("set-cookie") == []


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_response_that_sets_a_session_cookie_is_never_public(adapter: str) -> None:
    store = MemorySessionStore()
    if adapter == "asgi":
        served = serve_asgi(asgi_app(Recorder(), store, client=False))
    else:
        served = serve_wsgi(wsgi_app(Recorder(), store, client=False))
    with served as base:
        response = httpx.get(base + "/public-visit")

    assert COOKIE in response.cookies
    control = response.headers["cache-control"].lower()
    assert "public" not in control
    assert "private" in control or "no-store" in control
