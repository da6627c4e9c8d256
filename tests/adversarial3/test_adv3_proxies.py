"""Forwarding headers over real HTTP, through both adapters: what a client
writes before the trusted proxy's entry, in repeated header lines, odd
letter case, quoted strings that try to swallow the proxy's element, and
ports, never becomes the app's own origin.

The app server reads no forwarding header itself (uvicorn's own proxy
support is off), and ``Host`` is what the proxy rewrote it to
(``app.internal:8000``), so only forgeproof decides.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adversarial3.adv3_support import (
    Headers,
    Recorder,
    Visitor,
    asgi_stack,
    serve,
    serve_asgi_direct,
)
from deploy.deploy_support import ProxyStyle, client_tls, make_certificate, run_nginx
from support.parts import require_binary
from support.servers import free_port

INTERNAL_HOST = ("Host", "app.internal:8000")  # what the proxy sends upstream
PUBLIC = "https://shop.example"
EVIL = "https://evil.example"


@dataclass(frozen=True)
class Spoof:
    """Forwarding header lines as they reach the app: the client's first,
    then what the trusted proxy appended, and the Origin the browser (or
    attacker) sent. The control is the proxy's lines alone with the
    public origin."""

    lines: Headers
    origin: str = EVIL
    expected: str = PUBLIC  # what the rejection says it expected
    proxy_lines: Headers = field(
        default=(("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "shop.example"))
    )


X_FORWARDED_SPOOFS = [
    pytest.param(
        Spoof(
            (
                ("X-Forwarded-Host", "evil.example"),
                ("X-Forwarded-Host", "shop.example"),
                ("X-Forwarded-Proto", "https"),
            )
        ),
        id="client's X-Forwarded-Host line before the proxy's",
    ),
    pytest.param(
        Spoof(
            (
                ("x-FORWARDED-host", "evil.example"),
                ("X-Forwarded-Host", "shop.example"),
                ("X-Forwarded-Proto", "https"),
            )
        ),
        id="client's line in another letter case",
    ),
    pytest.param(
        Spoof(
            (
                ("X-Forwarded-Host", "evil.example,"),
                ("X-Forwarded-Host", "shop.example"),
                ("X-Forwarded-Proto", "https"),
            )
        ),
        id="client's entry with a trailing comma",
    ),
    pytest.param(
        Spoof(
            (
                ("X-Forwarded-Host", "evil.example:443, shop.example"),
                ("X-Forwarded-Proto", "https"),
            )
        ),
        id="client's entry joined by the proxy with a comma",
    ),
    pytest.param(
        Spoof(
            (
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "shop.example"),
            ),
            origin=PUBLIC,
            expected="http://shop.example",
        ),
        id="client claims https, the proxy says http",
    ),
    pytest.param(
        Spoof(
            (
                ("X-Forwarded-Port", "8443"),
                ("X-Forwarded-Port", "443"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "shop.example"),
            ),
            origin=PUBLIC + ":8443",
        ),
        id="client's port before the proxy's",
    ),
]


def _assert_refused(
    response_status: int,
    body: dict[str, str],
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    visitor: Visitor,
    expected: str,
) -> None:
    assert response_status == 403
    assert body["reason"] == "origin_not_allowed"
    assert body["expected_origin"] == expected
    assert recorder.paths == []
    assert "reason=origin_not_allowed" in caplog.text
    assert visitor.token not in caplog.text
    assert visitor.session_id not in caplog.text


@pytest.mark.parametrize("spoof", X_FORWARDED_SPOOFS)
def test_x_forwarded_entries_a_client_wrote_never_become_the_own_origin(
    adapter: str,
    recorder: Recorder,
    spoof: Spoof,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "forgeproof.csrf")
    with serve(adapter, recorder, trusted_proxies=1) as base:
        visitor = Visitor(base)
        visitor.open_page()

        control = visitor.post([INTERNAL_HOST, *spoof.proxy_lines, ("Origin", PUBLIC)])
        assert control.status == 200
        assert recorder.paths == ["/notes"]
        recorder.reset()

        attack = visitor.post([INTERNAL_HOST, *spoof.lines, ("Origin", spoof.origin)])

    _assert_refused(
        attack.status, attack.json, recorder, caplog, visitor, spoof.expected
    )


FORWARDED_PROXY = ("Forwarded", 'for=192.0.2.1;proto=https;host="shop.example"')
# When the joined header cannot be parsed it is ignored as a whole, and the
# app's own view (http, the rewritten Host) is the origin: never the client's.
FALLBACK = "http://app.internal:8000"

FORWARDED_SPOOFS = [
    pytest.param(
        Spoof(
            (("Forwarded", 'for=evil;proto=https;host="evil.example"'), FORWARDED_PROXY)
        ),
        id="client's element on its own line before the proxy's",
    ),
    pytest.param(
        Spoof(
            (
                ("Forwarded", 'host="evil.example, proto=https;host=evil.example"'),
                FORWARDED_PROXY,
            )
        ),
        id="client's quoted comma pretends to close its element",
    ),
    pytest.param(
        Spoof(
            (("Forwarded", 'host="evil.example'), FORWARDED_PROXY), expected=FALLBACK
        ),
        id="client's unclosed quote swallows the proxy's element",
    ),
    pytest.param(
        Spoof(
            (("Forwarded", 'host="evil.example\\'), FORWARDED_PROXY), expected=FALLBACK
        ),
        id="client's trailing backslash escapes the proxy's comma",
    ),
    pytest.param(
        Spoof(
            (("Forwarded", "HOST=evil.example;host=evil.example"), FORWARDED_PROXY),
            expected=FALLBACK,
        ),
        id="client names a parameter twice in other letter case",
    ),
    pytest.param(
        Spoof(
            (
                ("Forwarded", "proto=https;host=evil.example"),
                ("Forwarded", "for=192.0.2.1;proto=https"),
            ),
            expected="https://app.internal:8000",
        ),
        id="the proxy's element names no host: the client's is not borrowed",
    ),
    pytest.param(
        Spoof(
            (
                ("X-Forwarded-Host", "evil.example"),
                ("X-Forwarded-Proto", "https"),
                FORWARDED_PROXY,
            )
        ),
        id="X-Forwarded-* beside Forwarded is not read",
    ),
]


@pytest.mark.parametrize("spoof", FORWARDED_SPOOFS)
def test_forwarded_elements_a_client_wrote_never_become_the_own_origin(
    adapter: str,
    recorder: Recorder,
    spoof: Spoof,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "forgeproof.csrf")
    with serve(adapter, recorder, trusted_proxies=1, proxy_headers="forwarded") as base:
        visitor = Visitor(base)
        visitor.open_page()

        control = visitor.post([INTERNAL_HOST, FORWARDED_PROXY, ("Origin", PUBLIC)])
        assert control.status == 200
        recorder.reset()

        attack = visitor.post([INTERNAL_HOST, *spoof.lines, ("Origin", spoof.origin)])

    _assert_refused(
        attack.status, attack.json, recorder, caplog, visitor, spoof.expected
    )


@pytest.mark.parametrize(
    ("lines", "origin"),
    [
        pytest.param(
            (("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "[::1]:8443")),
            "https://[::1]:8443",
            id="IPv6 literal with its port",
        ),
        pytest.param(
            (
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "[::1]"),
                ("X-Forwarded-Port", "8443"),
            ),
            "https://[::1]:8443",
            id="IPv6 literal, port from X-Forwarded-Port",
        ),
        pytest.param(
            (("X-Forwarded-Proto", "HTTPS"), ("X-Forwarded-Host", "SHOP.example:443")),
            PUBLIC,
            id="upper case and an explicit default port",
        ),
    ],
)
def test_odd_but_honest_proxy_values_accept_the_own_origin_and_nothing_near_it(
    adapter: str, recorder: Recorder, lines: Headers, origin: str
) -> None:
    with serve(adapter, recorder, trusted_proxies=1) as base:
        visitor = Visitor(base)
        visitor.open_page()

        control = visitor.post([INTERNAL_HOST, *lines, ("Origin", origin)])
        assert control.status == 200

        near = origin.replace("https://", "http://")
        attacks = [
            visitor.post([INTERNAL_HOST, *lines, ("Origin", other)])
            for other in (near, origin + ".evil.example", origin.rsplit(":", 1)[0])
            if other != origin
        ]

    assert [attack.status for attack in attacks] == [403] * len(attacks)
    assert recorder.paths == ["/notes"]


def test_public_origins_ignore_whatever_the_forwarding_headers_say(
    adapter: str, recorder: Recorder
) -> None:
    options = {"public_origins": [PUBLIC], "trusted_proxies": 1}
    with serve(adapter, recorder, **options) as base:
        visitor = Visitor(base)
        visitor.open_page()
        forged = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.example")]

        control = visitor.post([INTERNAL_HOST, *forged, ("Origin", PUBLIC)])
        attack = visitor.post([INTERNAL_HOST, *forged, ("Origin", EVIL)])

    assert control.status == 200
    assert attack.status == 403
    assert attack.json["expected_origin"] == PUBLIC
    assert recorder.paths == ["/notes"]


# Through a real nginx (TLS on loopback): what a client puts into the
# headers nginx appends to cannot make the app trust the attacker's origin.
NGINX_SPOOFS = [
    # A header the client made unreadable is ignored as a whole: the app's
    # own view (http, nginx's Host) is all that is left, so even the public
    # origin is refused for this client, which only harms itself.
    pytest.param(
        "forwarded",
        ("Forwarded", 'host="evil.example'),
        403,
        id="Forwarded: unclosed quote",
    ),
    pytest.param(
        "forwarded",
        ("Forwarded", 'proto=https;host="evil.example";host="evil.example"'),
        403,
        id="Forwarded: a parameter twice",
    ),
    pytest.param(
        "x-forwarded",
        ("X-Forwarded-Host", "evil.example, evil.example"),
        200,
        id="X-Forwarded-Host: two client entries",
    ),
    pytest.param(
        "x-forwarded",
        ("X-Forwarded-Port", "1"),
        200,
        id="X-Forwarded-Port: the client's, which nginx overwrites",
    ),
]


@pytest.fixture(scope="module")
def nginx_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    nginx = require_binary(shutil.which("nginx") or "/usr/sbin/nginx", "nginx")
    directory = tmp_path_factory.mktemp("adv3-nginx")
    make_certificate(directory, require_binary("openssl", "openssl"))
    return nginx, directory


@pytest.mark.parametrize(("style", "line", "control_status"), NGINX_SPOOFS)
def test_behind_nginx_a_clients_forwarding_header_cannot_vouch_for_the_attacker(
    nginx_dir: tuple[str, Path],
    recorder: Recorder,
    style: ProxyStyle,
    line: tuple[str, str],
    control_status: int,
) -> None:
    nginx, directory = nginx_dir
    port = free_port()
    public = f"https://127.0.0.1:{port}"
    app = asgi_stack(recorder, trusted_proxies=1, proxy_headers=style)
    with serve_asgi_direct(app) as base:
        upstream = int(base.rsplit(":", 1)[1])
        with run_nginx(nginx, directory, port=port, upstream=upstream, style=style):
            visitor = Visitor(public, tls=client_tls(directory / "cert.pem"))
            visitor.open_page()
            control = visitor.post([("Origin", public), line])
            attack = visitor.post([("Origin", EVIL), line])
            forged_host = visitor.post(
                [("Origin", "https://evil.example"), ("Host", "evil.example"), line]
            )

    assert control.status == control_status
    assert attack.status == 403
    assert attack.json["reason"] == "origin_not_allowed"
    assert forged_host.status == 403
    assert recorder.paths == (["/notes"] if control_status == 200 else [])
