"""Session cookies, fixation, login CSRF, rotation and logout."""

from __future__ import annotations

import secrets

import pytest

from adversarial.adv_support import (
    COOKIE,
    SECURE_COOKIE,
    Target,
    assert_accepted,
    assert_rejected,
    http_request,
    raw_request,
    session_id_from,
)
from forgeproof.sessions.base import store_key


def _login(target: Target, session_id: str, token: str, user: str) -> tuple[str, str]:
    response = target.post(
        "/login",
        session_id=session_id,
        data={"user": user, "csrf_token": token},
    )
    assert response.status_code == 200, response.text
    new_id = session_id_from(response)
    assert new_id is not None
    return new_id, str(response.json()["token"])


def _whoami(target: Target, session_id: str) -> object:
    with target.client() as client:
        response = client.get("/whoami", headers={"cookie": f"{COOKIE}={session_id}"})
    return response.json()["user"]


# -- cookie tricks ------------------------------------------------------------


def test_session_cookie_named_twice_is_ambiguous(target: Target) -> None:
    session_id, token = target.new_session()
    other_id, _ = target.new_session()
    for cookie in (
        f"{COOKIE}={session_id}; {COOKIE}={session_id}",
        f"{COOKIE}={session_id}; {COOKIE}={other_id}",
        f"{COOKIE}={other_id}; {COOKIE}={session_id}",
        f"{COOKIE}={session_id}; {COOKIE}=planted",
        f"{COOKIE}=; {COOKIE}={session_id}",
    ):
        response = target.post(headers={"cookie": cookie, "x-csrf-token": token})
        assert_rejected(target, response, "session_cookie_ambiguous")

    control = target.post(session_id=session_id, headers={"x-csrf-token": token})
    assert_accepted(target, control)


def test_session_cookie_split_over_two_cookie_headers_is_ambiguous(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    response = http_request(
        target,
        headers=[
            ("Cookie", f"{COOKIE}={session_id}"),
            ("Cookie", f"{COOKIE}={session_id}"),
            ("X-CSRF-Token", token),
        ],
    )

    assert response.status == 403
    assert b"session_cookie_ambiguous" in response.body
    assert target.recorder.reached == []


@pytest.mark.parametrize(
    "cookie",
    ['{name}="{sid}"', "x=1;  {name}= {sid}", "{name}={sid};", "a=b;{name}={sid}"],
)
def test_harmless_cookie_spellings_name_the_same_session(
    target: Target, cookie: str
) -> None:
    session_id, token = target.new_session()
    response = target.post(
        headers={
            "cookie": cookie.format(name=COOKIE, sid=session_id),
            "x-csrf-token": token,
        }
    )

    assert_accepted(target, response)


@pytest.mark.parametrize(
    "cookie",
    [
        "FORGEPROOF_SESSION={sid}",
        "forgeproof_session2={sid}",
        "a=1; forgeproof_session ={sid}x",
        "{secure}={sid}",
        "__host-forgeproof_session={sid}",
    ],
)
def test_cookie_names_that_only_look_like_ours_are_no_session(
    target: Target, cookie: str
) -> None:
    session_id, token = target.new_session()
    response = target.post(
        headers={
            "cookie": cookie.format(sid=session_id, secure=SECURE_COOKIE),
            "x-csrf-token": token,
        }
    )

    assert_rejected(target, response, "session_missing")


def test_http_cookie_is_not_adopted_on_https(target: Target) -> None:
    # A cookie without the __Host- prefix can be set by a sibling subdomain
    # or a plain-http response; on https it must not name a session.
    session_id, token = target.new_session()
    response = target.post(
        headers={
            "x-forwarded-proto": "https",
            "origin": f"https://127.0.0.1:{target.port}",
            "cookie": f"{COOKIE}={session_id}",
            "x-csrf-token": token,
        }
    )

    assert_rejected(target, response, "session_missing")


@pytest.mark.parametrize(
    "value",
    [
        "A" * 4000,
        "A" * 42,
        "A" * 44,
        "A" * 42 + "=",
        "A" * 42 + ".",
        "A" * 42 + "\u00e9",
        "../../../../etc/passwd",
        "' OR '1'='1",
        "%00" * 20,
        "",
    ],
    ids=[
        "long",
        "short",
        "long-by-one",
        "padding",
        "dot",
        "non-ascii",
        "traversal",
        "sql",
        "nul",
        "empty",
    ],
)
def test_malformed_session_ids_are_no_session_and_no_error(
    target: Target, value: str
) -> None:
    _, token = target.new_session()
    response = http_request(
        target,
        headers=[("Cookie", f"{COOKIE}={value}"), ("X-CSRF-Token", token)],
    )

    assert response.status == 403
    assert b"session_missing" in response.body
    assert target.recorder.reached == []
    assert target.recorder.errors == []


def test_raw_non_ascii_cookie_bytes_never_crash(target: Target) -> None:
    body = (
        f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n"
    ).encode()
    response = raw_request(
        target.port, body + b"Cookie: " + COOKIE.encode() + b"=\xff\xfe\x80\r\n\r\n"
    )

    assert response.status == 403
    assert target.recorder.errors == []


# -- fixation -----------------------------------------------------------------


def test_attacker_chosen_session_id_is_never_adopted(target: Target) -> None:
    chosen = secrets.token_urlsafe(32)
    with target.client() as client:
        response = client.get("/form", headers={"cookie": f"{COOKIE}={chosen}"})
    issued = session_id_from(response)

    assert issued is not None
    assert issued != chosen
    assert target.store.load(store_key(chosen)) is None
    assert target.store.load(store_key(issued)) is not None


def test_login_moves_a_planted_anonymous_session_to_a_new_id(target: Target) -> None:
    # The attacker got the victim to use an anonymous session whose id and
    # token the attacker knows, then the victim logs in.
    planted_id, planted_token = target.new_session()
    new_id, new_token = _login(target, planted_id, planted_token, "victim")

    assert new_id != planted_id
    assert _whoami(target, new_id) == "victim"
    assert _whoami(target, planted_id) is None

    target.recorder.reset()
    old_id_response = target.post(
        session_id=planted_id, headers={"x-csrf-token": planted_token}
    )
    assert_rejected(target, old_id_response, "session_missing")

    old_token_response = target.post(
        session_id=new_id, headers={"x-csrf-token": planted_token}
    )
    assert_rejected(target, old_token_response, "token_invalid")

    control = target.post(session_id=new_id, headers={"x-csrf-token": new_token})
    assert_accepted(target, control)


# -- login CSRF ---------------------------------------------------------------


def test_login_without_a_session_is_refused(target: Target) -> None:
    # Login CSRF: a foreign page posts the attacker's credentials so the
    # victim ends up in the attacker's account.
    for headers in (
        {},
        {"origin": "http://evil.example"},
        {"origin": None},
        {"origin": None, "sec-fetch-site": "none"},
    ):
        response = target.post(
            "/login",
            headers=headers,
            data={"user": "attacker", "csrf_token": "A" * 86},
        )
        assert response.status_code == 403
        assert target.recorder.reached == []
    assert target.recorder.effects == []


def test_login_with_a_session_but_an_attacker_token_is_refused(
    target: Target,
) -> None:
    victim_id, victim_token = target.new_session()
    _, attacker_token = target.new_session()
    response = target.post(
        "/login",
        session_id=victim_id,
        data={"user": "attacker", "csrf_token": attacker_token},
    )

    assert_rejected(target, response, "token_invalid")
    assert target.recorder.effects == []

    control = target.post(
        "/login",
        session_id=victim_id,
        data={"user": "victim", "csrf_token": victim_token},
    )
    assert control.status_code == 200


def test_login_with_own_session_and_token_works(target: Target) -> None:
    session_id, token = target.new_session()
    new_id, _ = _login(target, session_id, token, "alice")

    assert _whoami(target, new_id) == "alice"


# -- logout -------------------------------------------------------------------


def test_tokens_and_id_from_before_logout_are_dead(target: Target) -> None:
    session_id, token = target.new_session()
    user_id, user_token = _login(target, session_id, token, "alice")

    target.recorder.reset()
    logout = target.post(
        "/logout", session_id=user_id, headers={"x-csrf-token": user_token}
    )
    assert logout.status_code == 200
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert target.store.load(store_key(user_id)) is None

    target.recorder.reset()
    replay = target.post(session_id=user_id, headers={"x-csrf-token": user_token})
    assert_rejected(target, replay, "session_missing")


def test_logout_itself_needs_the_token(target: Target) -> None:
    session_id, token = target.new_session()
    user_id, _ = _login(target, session_id, token, "alice")

    target.recorder.reset()
    response = target.post("/logout", session_id=user_id)
    assert_rejected(target, response, "token_missing")
    assert _whoami(target, user_id) == "alice"
