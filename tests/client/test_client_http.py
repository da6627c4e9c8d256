"""The client middleware over real HTTP, the same contract for ASGI and WSGI:
the scripts, the token endpoint, and the XSRF-TOKEN cookie convention."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from client.client_support import Seen, Site, build_stack
from forgeproof import ConfigurationError, MemorySessionStore, SessionMiddleware
from forgeproof.client import (
    ASGIClientMiddleware,
    ClientConfig,
    plan_xsrf_cookie,
    script_source,
)
from forgeproof.sessions.base import Session
from forgeproof.types import Receive, Scope, Send
from support.servers import serve_asgi, serve_wsgi

ADAPTERS = ["asgi", "wsgi"]


def _serve(adapter: str, spa: bool) -> Iterator[Site]:
    seen = Seen()
    serve = serve_asgi if adapter == "asgi" else serve_wsgi
    with serve(build_stack(adapter, seen, spa=spa)) as url:
        yield Site(url, seen)


@pytest.fixture(scope="module", params=ADAPTERS)
def plain(request: pytest.FixtureRequest) -> Iterator[Site]:
    """The convention off (the default)."""
    yield from _serve(request.param, spa=False)


@pytest.fixture(scope="module", params=ADAPTERS)
def spa(request: pytest.FixtureRequest) -> Iterator[Site]:
    """The XSRF-TOKEN cookie convention on."""
    yield from _serve(request.param, spa=True)


def client_for(site: Site) -> httpx.Client:
    site.seen.clear()
    return httpx.Client(base_url=site.url)


def fetch_token(client: httpx.Client) -> str:
    response = client.get("/forgeproof/token")
    assert response.status_code == 200
    token: str = response.json()["token"]
    return token


def xsrf_cookies(response: httpx.Response) -> list[str]:
    return [
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("XSRF-TOKEN=")
    ]


@pytest.mark.parametrize("name", ["csrf.js", "csrf.mjs"])
def test_the_scripts_are_served_as_javascript_with_a_validator(
    plain: Site, name: str
) -> None:
    with client_for(plain) as client:
        response = client.get(f"/forgeproof/{name}")
        again = client.get(
            f"/forgeproof/{name}", headers={"if-none-match": response.headers["etag"]}
        )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == script_source(name)
    assert again.status_code == 304
    assert again.content == b""


def test_the_token_endpoint_gives_a_same_origin_token_that_works(plain: Site) -> None:
    with client_for(plain) as client:
        response = client.get("/forgeproof/token")
        token = response.json()["token"]
        accepted = client.post("/echo", headers={"X-CSRF-Token": token})

    assert response.headers["content-type"] == "application/json"
    directives = {d.strip() for d in response.headers["cache-control"].split(",")}
    assert "no-store" in directives
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert not [h for h in response.headers if h.startswith("access-control-")]
    assert len(token) == 86
    assert "forgeproof_session=" in response.headers["set-cookie"]
    assert accepted.status_code == 200
    assert plain.seen.handled == ["POST /echo"]


def test_the_token_endpoint_refuses_a_request_another_site_started(
    plain: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="forgeproof.csrf")
    with client_for(plain) as client:
        response = client.get(
            "/forgeproof/token",
            headers={"sec-fetch-site": "cross-site", "origin": "http://evil.test"},
        )
        control = client.get("/forgeproof/token", headers={"sec-fetch-site": "none"})

    assert response.status_code == 403
    assert response.json()["reason"] == "cross_site_request"
    assert "set-cookie" not in response.headers  # no session started for it
    assert "token" not in response.json()
    assert "reason=cross_site_request" in caplog.text
    assert control.json()["token"] not in caplog.text
    assert control.status_code == 200


def test_the_client_paths_answer_only_get_and_head(plain: Site) -> None:
    with client_for(plain) as client:
        posted = client.post("/forgeproof/token")
        head = client.head("/forgeproof/csrf.js")

    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""
    assert plain.seen.handled == []


def test_the_xsrf_cookie_is_off_by_default(plain: Site) -> None:
    with client_for(plain) as client:
        response = client.get("/forgeproof/token")

    assert xsrf_cookies(response) == []


def test_the_xsrf_cookie_is_script_readable_lax_and_site_wide(spa: Site) -> None:
    with client_for(spa) as client:
        response = client.get("/page")

    [cookie] = xsrf_cookies(response)
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[1:] == ["Path=/", "SameSite=Lax"]  # no HttpOnly, no Secure
    assert len(attributes[0].partition("=")[2]) == 86


def test_the_xsrf_cookie_is_secure_on_https() -> None:
    session = Session(None, None, now=0.0)

    cookie = plan_xsrf_cookie(
        ClientConfig(xsrf_cookie="XSRF-TOKEN"), session, scheme="https", carried=[]
    )

    assert cookie is not None
    assert cookie.endswith("; Secure")


def test_the_xsrf_cookie_and_header_make_an_unsafe_request_pass(spa: Site) -> None:
    with client_for(spa) as client:
        client.get("/page")
        token = client.cookies["XSRF-TOKEN"]
        again = client.get("/page")
        response = client.post("/echo", headers={"X-XSRF-TOKEN": token})

    assert xsrf_cookies(again) == []  # the one it has still fits
    assert response.status_code == 200
    assert spa.seen.handled == ["POST /echo"]


def test_a_login_hands_out_a_new_xsrf_cookie_and_the_old_one_stops_working(
    spa: Site,
) -> None:
    with client_for(spa) as client:
        client.get("/page")
        old = client.cookies["XSRF-TOKEN"]
        login = client.post("/login", headers={"X-XSRF-TOKEN": old})
        new = client.cookies["XSRF-TOKEN"]
        stale = client.post("/echo", headers={"X-XSRF-TOKEN": old})
        fresh = client.post("/echo", headers={"X-XSRF-TOKEN": new})

    assert len(xsrf_cookies(login)) == 1
    assert new != old
    assert stale.status_code == 403
    assert stale.json()["reason"] == "token_invalid"
    assert fresh.status_code == 200
    assert spa.seen.handled == ["POST /login", "POST /echo"]


def test_a_cookie_and_header_pair_minted_by_the_attackers_session_is_rejected(
    spa: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A sibling subdomain can plant XSRF-TOKEN; with a valid token of the
    attacker's own session it still proves nothing about the victim's."""
    caplog.set_level(logging.WARNING, logger="forgeproof.csrf")
    with client_for(spa) as attacker:
        attacker.get("/page")
        planted = attacker.cookies["XSRF-TOKEN"]
    with httpx.Client(base_url=spa.url) as victim:
        victim.get("/page")
        session_id = victim.cookies["forgeproof_session"]
        own = victim.cookies["XSRF-TOKEN"]
        victim.cookies.set("XSRF-TOKEN", planted)
        forged = victim.post("/echo", headers={"X-XSRF-TOKEN": planted})
        victim.cookies.set("XSRF-TOKEN", own)
        control = victim.post("/echo", headers={"X-XSRF-TOKEN": own})

    assert forged.status_code == 403
    assert forged.json()["reason"] == "token_invalid"
    assert "reason=token_invalid" in caplog.text
    for secret in (planted, own, session_id):
        assert secret not in caplog.text
    assert control.status_code == 200
    assert spa.seen.handled == ["POST /echo"]  # the control's, not the forgery's


def test_the_xsrf_header_counts_only_when_the_convention_is_on(
    plain: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="forgeproof.csrf")
    with client_for(plain) as client:
        token = fetch_token(client)
        ignored = client.post("/echo", headers={"X-XSRF-TOKEN": token})
        control = client.post("/echo", headers={"X-CSRF-Token": token})

    assert ignored.status_code == 403
    assert ignored.json()["reason"] == "token_missing"
    assert "reason=token_missing" in caplog.text
    assert token not in caplog.text
    assert control.status_code == 200
    assert plain.seen.handled == ["POST /echo"]


@pytest.mark.parametrize(
    ("csrf_header", "xsrf_header", "status"),
    [
        pytest.param("good", "junk", 200, id="X-CSRF-Token good, X-XSRF-TOKEN junk"),
        pytest.param("junk", "good", 403, id="X-CSRF-Token junk, X-XSRF-TOKEN good"),
    ],
)
def test_the_first_configured_header_a_request_carries_is_the_one_read(
    spa: Site, csrf_header: str, xsrf_header: str, status: int
) -> None:
    with client_for(spa) as client:
        token = fetch_token(client)
        values = {"good": token, "junk": "x" * 86}
        response = client.post(
            "/echo",
            headers={
                "X-CSRF-Token": values[csrf_header],
                "X-XSRF-TOKEN": values[xsrf_header],
            },
        )

    assert response.status_code == status
    assert len(spa.seen.handled) == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"prefix": "forgeproof/"}, "prefix", id="relative prefix"),
        pytest.param({"prefix": "/forgeproof"}, "prefix", id="no trailing slash"),
        pytest.param({"prefix": "/"}, "prefix", id="the root"),
        pytest.param({"xsrf_cookie": "XSRF TOKEN"}, "cookie", id="bad cookie name"),
    ],
)
def test_a_bad_client_configuration_is_refused_at_construction(
    options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ClientConfig(**options)  # type: ignore[arg-type]


def test_a_moved_prefix_moves_every_client_path() -> None:
    config = ClientConfig(prefix="/assets/csrf/")
    app = SessionMiddleware(
        ASGIClientMiddleware(_not_found, config=config), store=MemorySessionStore()
    )
    with serve_asgi(app) as url, httpx.Client(base_url=url) as client:
        moved = client.get("/assets/csrf/token")
        old = client.get("/forgeproof/token")
        script = client.get("/assets/csrf/csrf.js")

    assert config.token_path == "/assets/csrf/token"
    assert len(json.loads(moved.content)["token"]) == 86
    assert old.status_code == 404
    assert script.status_code == 200


def test_the_client_middleware_needs_the_session_middleware() -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}

    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        asyncio.run(ASGIClientMiddleware(_not_found)(scope, _never, _never))


def test_only_the_shipped_scripts_can_be_read() -> None:
    with pytest.raises(ValueError, match="ships"):
        script_source("../__init__.py")


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _never(*args: object) -> Any:
    raise AssertionError("not expected to be called")


def test_the_cookie_is_reissued_only_when_the_carried_one_stops_fitting() -> None:
    session = Session(None, None, now=0.0)
    config = ClientConfig(xsrf_cookie="XSRF-TOKEN")

    cookie = plan_xsrf_cookie(config, session, scheme="http", carried=[])
    assert cookie is not None
    carried = [cookie.split(";")[0].partition("=")[2]]
    unchanged = plan_xsrf_cookie(config, session, scheme="http", carried=carried)
    session.rotate_csrf_secret()
    rotated = plan_xsrf_cookie(config, session, scheme="http", carried=carried)

    assert unchanged is None
    assert rotated is not None
