"""Method spelling, method override, Origin/Host/Referer and Fetch Metadata.

Origin tricks are sent *with* the right token: the origin layer must refuse
on its own, since it is what stops a page that did manage to read a token.
"""

from __future__ import annotations

import pytest

from adversarial.adv_support import (
    COOKIE,
    SECURE_COOKIE,
    TRUSTED_ORIGIN,
    Target,
    assert_accepted,
    assert_rejected,
    http_request,
    raw_request,
    session_id_from,
)
from forgeproof.origins import TrustedOrigins

# -- methods ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "Post", "pOST", "get", "Get", "head"])
def test_method_in_another_letter_case_is_checked(target: Target, method: str) -> None:
    session_id, _ = target.new_session()
    response = http_request(
        target, method=method, headers=[("Cookie", f"{COOKIE}={session_id}")]
    )

    assert response.status == 403
    assert b"token_missing" in response.body
    assert target.recorder.reached == []


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "PROPFIND", "PURGE"])
def test_other_unsafe_methods_are_checked(target: Target, method: str) -> None:
    session_id, token = target.new_session()
    rejected = target.post(session_id=session_id, method=method)
    assert_rejected(target, rejected, "token_missing")

    accepted = target.post(
        session_id=session_id, method=method, headers={"x-csrf-token": token}
    )
    assert accepted.status_code == 200
    assert target.notes_effects()[0]["method"] == method


@pytest.mark.parametrize(
    "header",
    [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ],
)
def test_method_override_header_does_not_make_post_safe(
    target: Target, header: str
) -> None:
    session_id, _ = target.new_session()
    response = target.post(session_id=session_id, headers={header: "GET"})

    assert_rejected(target, response, "token_missing")


def test_method_override_form_field_does_not_make_post_safe(target: Target) -> None:
    session_id, _ = target.new_session()
    response = target.post(session_id=session_id, data={"_method": "GET"})

    assert_rejected(target, response, "token_missing")


def test_get_with_override_to_post_changes_nothing(target: Target) -> None:
    session_id, _ = target.new_session()
    response = target.post(
        session_id=session_id,
        method="GET",
        headers={"x-http-method-override": "POST"},
    )

    assert response.status_code == 405
    assert target.notes_effects() == []


# -- Origin -------------------------------------------------------------------


def test_own_origin_with_token_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    response = target.post(
        session_id=session_id,
        headers={"origin": target.origin, "x-csrf-token": token},
    )

    assert_accepted(target, response)


@pytest.mark.parametrize(
    "origin",
    [
        "{own}/",
        "{own}/notes",
        "{own_upper}",
        "http://user@127.0.0.1:{port}",
        "http://127.0.0.1:{port}@evil.example",
        "http://127.0.0.1:{port}.evil.example",
        "http://127.0.0.1.evil.example:{port}",
        "https://127.0.0.1:{port}",
        "http://127.0.0.1",
        "http://127.0.0.1:80",
        "http://localhost:{port}",
        "http://127.0.0.1:0{port}",
        "{own}, {own}",
        "http://evil.example",
        "https://trusted.example.evil.example",
        "http://trusted.example",
        "https://trusted.example:8443",
        "https://sub.trusted.example",
        "",
        "*",
    ],
)
def test_foreign_or_malformed_origin_is_rejected_despite_token(
    target: Target, origin: str
) -> None:
    session_id, token = target.new_session()
    value = origin.format(
        own=target.origin, own_upper=target.origin.upper(), port=target.port
    )
    response = http_request(
        target,
        headers=[
            ("Origin", value),
            ("X-CSRF-Token", token),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )

    assert response.status == 403, (value, response.body)
    assert b"origin_not_allowed" in response.body or b"origin_null" in response.body
    assert target.recorder.reached == []


def test_trusted_origin_with_token_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    response = target.post(
        session_id=session_id,
        headers={"origin": TRUSTED_ORIGIN, "x-csrf-token": token},
    )

    assert_accepted(target, response)


def test_trusted_origin_without_token_is_still_rejected(target: Target) -> None:
    session_id, _ = target.new_session()
    response = target.post(session_id=session_id, headers={"origin": TRUSTED_ORIGIN})

    assert_rejected(target, response, "token_missing")


def test_two_origin_headers_are_rejected(target: Target) -> None:
    session_id, token = target.new_session()
    for pair in (
        (target.origin, "http://evil.example"),
        ("http://evil.example", target.origin),
        (target.origin, target.origin),
    ):
        response = http_request(
            target,
            headers=[
                ("Origin", pair[0]),
                ("Origin", pair[1]),
                ("X-CSRF-Token", token),
                ("Cookie", f"{COOKIE}={session_id}"),
            ],
        )
        assert response.status == 403
        assert b"origin_not_allowed" in response.body
    assert target.recorder.reached == []


def test_null_origin_is_rejected_unless_fetch_metadata_vouches(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    rejected = target.post(
        session_id=session_id, headers={"origin": "null", "x-csrf-token": token}
    )
    assert_rejected(target, rejected, "origin_null")

    for site in ("same-site", "cross-site", "none"):
        response = target.post(
            session_id=session_id,
            headers={
                "origin": "null",
                "sec-fetch-site": site,
                "x-csrf-token": token,
            },
        )
        assert response.status_code == 403
    assert target.recorder.reached == []

    vouched = target.post(
        session_id=session_id,
        headers={
            "origin": "null",
            "sec-fetch-site": "same-origin",
            "x-csrf-token": token,
        },
    )
    assert vouched.status_code == 200


def test_null_origin_vouched_by_fetch_metadata_still_needs_the_token(
    target: Target,
) -> None:
    session_id, _ = target.new_session()
    response = target.post(
        session_id=session_id,
        headers={"origin": "null", "sec-fetch-site": "same-origin"},
    )

    assert_rejected(target, response, "token_missing")


def test_missing_origin_lets_the_token_decide(target: Target) -> None:
    session_id, token = target.new_session()
    rejected = target.post(session_id=session_id, headers={"origin": None})
    assert_rejected(target, rejected, "token_missing")

    accepted = target.post(
        session_id=session_id,
        headers={"origin": None, "x-csrf-token": token},
    )
    assert accepted.status_code == 200


# -- Host ---------------------------------------------------------------------


def test_host_with_trailing_dot_matches_its_origin(target: Target) -> None:
    session_id, token = target.new_session()
    response = http_request(
        target,
        host=f"127.0.0.1:{target.port}.",
        headers=[
            ("Origin", target.origin),
            ("X-CSRF-Token", token),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )

    assert response.status == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "127.0.0.1",
        "127.0.0.1:{port}:{port}",
        "127.0.0.1:{port}/x",
        "user@127.0.0.1:{port}",
        "[::1",
        "\u00e9xample.com",
        "127.0.0.1:999999",
        "",
    ],
)
def test_origin_must_match_the_host_it_was_sent_to(target: Target, host: str) -> None:
    session_id, token = target.new_session()
    response = http_request(
        target,
        host=host.format(port=target.port),
        headers=[
            ("Origin", target.origin),
            ("X-CSRF-Token", token),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )

    assert response.status is not None
    assert response.status in (400, 403)
    assert target.recorder.reached == []
    assert target.recorder.errors == []


def test_http10_without_host_rejects_an_origin_but_lets_the_token_decide(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    base = [("X-CSRF-Token", token), ("Cookie", f"{COOKIE}={session_id}")]
    request = (
        "POST /notes HTTP/1.0\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in base)
        + "Content-Length: 0\r\n"
    )
    with_origin = raw_request(
        target.port, (request + f"Origin: {target.origin}\r\n\r\n").encode()
    )
    assert with_origin.status == 403
    assert b"origin_not_allowed" in with_origin.body
    assert target.recorder.reached == []

    without_origin = raw_request(target.port, (request + "\r\n").encode())
    assert without_origin.status == 200


def test_explicit_default_port_in_host_matches_origin_without_port(
    target: Target,
) -> None:
    # Browsers omit :80; a Host that spells it must not break the match, and
    # the match is on the whole origin, so it cannot widen anything.
    session_id, token = target.new_session()
    response = http_request(
        target,
        host="localhost:80",
        headers=[
            ("Origin", "http://localhost"),
            ("X-CSRF-Token", token),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )

    assert response.status == 200


# -- Fetch Metadata -----------------------------------------------------------


@pytest.mark.parametrize(
    "site", ["cross-site", "same-site", "Cross-Site", " cross-site"]
)
def test_fetch_metadata_from_another_site_is_rejected_despite_token(
    target: Target, site: str
) -> None:
    session_id, token = target.new_session()
    response = http_request(
        target,
        headers=[
            ("Origin", target.origin),
            ("Sec-Fetch-Site", site),
            ("X-CSRF-Token", token),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
    )

    assert response.status == 403
    assert b"cross_site_request" in response.body
    assert target.recorder.reached == []


@pytest.mark.parametrize("site", ["same-origin", "none", "bogus"])
def test_fetch_metadata_same_origin_or_none_lets_the_token_decide(
    target: Target, site: str
) -> None:
    session_id, token = target.new_session()
    rejected = target.post(session_id=session_id, headers={"sec-fetch-site": site})
    assert_rejected(target, rejected, "token_missing")

    accepted = target.post(
        session_id=session_id,
        headers={"sec-fetch-site": site, "x-csrf-token": token},
    )
    assert accepted.status_code == 200


def test_cross_site_fetch_from_trusted_origin_still_needs_the_token(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    rejected = target.post(
        session_id=session_id,
        headers={"origin": TRUSTED_ORIGIN, "sec-fetch-site": "cross-site"},
    )
    assert_rejected(target, rejected, "token_missing")

    accepted = target.post(
        session_id=session_id,
        headers={
            "origin": TRUSTED_ORIGIN,
            "sec-fetch-site": "cross-site",
            "x-csrf-token": token,
        },
    )
    assert accepted.status_code == 200


# -- Referer on https (scheme set by uvicorn's trusted proxy headers) ----------


def _https_session(target: Target) -> tuple[str, str]:
    with target.client() as client:
        response = client.get("/form", headers={"x-forwarded-proto": "https"})
    assert SECURE_COOKIE in response.headers["set-cookie"]
    session_id = session_id_from(response)
    assert session_id is not None
    target.recorder.reset()
    return session_id, str(response.json()["token"])


def test_foreign_referer_without_origin_is_rejected_on_https(target: Target) -> None:
    session_id, token = _https_session(target)
    own = f"https://127.0.0.1:{target.port}"
    headers = {
        "x-forwarded-proto": "https",
        "cookie": f"{SECURE_COOKIE}={session_id}",
        "x-csrf-token": token,
        "origin": None,
    }
    for referer in (
        "https://evil.example/page",
        f"http://127.0.0.1:{target.port}/form",
        f"https://127.0.0.1:{target.port}.evil.example/",
        "https://[::1/",
    ):
        response = target.post(headers={**headers, "referer": referer})
        assert response.status_code == 403, referer
    assert target.recorder.reached == []

    for referer in (f"{own}/form", None, TRUSTED_ORIGIN + "/x"):
        response = target.post(headers={**headers, "referer": referer})
        assert response.status_code == 200, referer


# -- Authorization ------------------------------------------------------------


def test_bearer_request_without_session_cookie_passes_by_design(
    target: Target,
) -> None:
    response = target.post(headers={"authorization": "Bearer abc"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Digest username=x",
        "Bearer",
        "Bearerabc",
        "Token abc",
        "Bearer\tabc",
    ],
)
def test_ambient_or_empty_credentials_do_not_exempt(
    target: Target, authorization: str
) -> None:
    response = target.post(headers={"authorization": authorization})

    assert_rejected(target, response, "session_missing")


def test_bearer_does_not_exempt_a_request_that_carries_the_session(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    response = target.post(
        session_id=session_id, headers={"authorization": "Bearer abc"}
    )
    assert_rejected(target, response, "token_missing")

    accepted = target.post(
        session_id=session_id,
        headers={"authorization": "Bearer abc", "x-csrf-token": token},
    )
    assert accepted.status_code == 200


def test_bearer_with_garbage_session_cookie_is_still_checked(target: Target) -> None:
    response = target.post(
        headers={"authorization": "Bearer abc", "cookie": f"{COOKIE}=garbage"}
    )

    assert response.status_code == 403
    assert target.recorder.reached == []


# -- exempt paths -------------------------------------------------------------


def test_exempt_prefix_passes_without_token(target: Target) -> None:
    response = target.post("/hooks/github")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/hooks/%2e%2e/notes",
        "/hooks/../notes",
        "/hooks/./../notes",
        "/hooks/%2E%2E%2Fnotes",
        "/hooksx",
        "/HOOKS/x",
        "//hooks/x",
    ],
)
def test_paths_that_only_look_exempt_are_checked(target: Target, path: str) -> None:
    session_id, _ = target.new_session()
    response = http_request(
        target, path=path, headers=[("Cookie", f"{COOKIE}={session_id}")]
    )

    assert response.status in (403, 404)
    assert target.notes_effects() == []
    if response.status == 403:
        assert target.recorder.reached == []


# -- trusted-origin wildcards (unit level: a browser cannot send most of these)


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com",
        "https://evilexample.com",
        "https://a.example.com.evil.net",
        "http://a.example.com",
        "https://a.example.com:443",
        "https://a.example.com:8443",
        "https://a.example.com/",
        "https://user@a.example.com",
        "https://A.example.com",
        "https://a.example.com\n",
        "https://.example.com",
        "null",
        "",
    ],
)
def test_wildcard_trusted_origin_matches_only_true_subdomains(origin: str) -> None:
    trusted = TrustedOrigins(["https://*.example.com"])

    assert origin not in trusted
    assert "https://a.example.com" in trusted
    assert "https://a.b.example.com" in trusted
