"""The attack table: every row is a forged request that must be refused
before the handler runs, and its control, the same request done right,
that must succeed. It runs unchanged against a Starlette app under uvicorn,
a Flask app under waitress, and the three example apps."""

from __future__ import annotations

import logging
import secrets
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from e2e.e2e_support import (
    COOKIE,
    Req,
    Scene,
    Target,
    form_body,
    multipart_body,
    notes,
    reason_of,
)
from forgeproof import Reason

EVIL = "http://evil.example"
BASIC = "Basic " + b64encode(b"alice:alice-password").decode()
TWO_MIB = 2 * 1024 * 1024

OWN = object()  # "the victim's own session / token / origin"


def note(
    s: Scene,
    *,
    tokens: list[str] | None = None,
    origin: str | object | None = OWN,
    headers: list[tuple[str, str]] | None = None,
    cookie: list[tuple[str, str]] | None = None,
    method: str = "POST",
    path: str = "/notes",
) -> Req:
    """A form post of a new note; by default the victim's, done right."""
    text = s.fresh_text()
    tokens = [s.victim.token] if tokens is None else tokens
    content_type, body = form_body(
        [("csrf_token", t) for t in tokens] + [("text", text)]
    )
    all_headers = [("Content-Type", content_type)]
    if origin is OWN:
        all_headers.append(("Origin", s.origin))
    elif isinstance(origin, str):
        all_headers.append(("Origin", origin))
    all_headers += s.victim.cookie() if cookie is None else cookie
    all_headers += headers or []
    return Req(method, path, all_headers, body, text)


def json_note(
    s: Scene,
    *,
    body_token: str | None = None,
    header_token: str | None = None,
    content_type: str = "application/json",
    nest_token: bool = False,
    padding: int = 0,
) -> Req:
    """A JSON post of a new note, with the token where the row says."""
    text = s.fresh_text()
    fields = [f'"text": "{text}"']
    if body_token is not None:
        token = f'"csrf_token": "{body_token}"'
        fields.append(f'"data": {{{token}}}' if nest_token else token)
    if padding:
        fields.append(f'"padding": "{"a" * padding}"')
    body = ("{" + ", ".join(fields) + "}").encode()
    headers = [("Content-Type", content_type), ("Origin", s.origin)]
    headers += s.victim.cookie()
    if header_token is not None:
        headers.append(("X-CSRF-Token", header_token))
    return Req("POST", "/api/notes", headers, body, text, ok=201)


def multipart_note(
    s: Scene, *, token_after_file: bool = False, boundary: bool = True
) -> Req:
    """A multipart note with a 2 MiB attachment, the token before or after it."""
    text = s.fresh_text()
    token = ("csrf_token", s.victim.token.encode(), None)
    parts = [("text", text.encode(), None), ("attachment", b"x" * TWO_MIB, "a.bin")]
    parts = [*parts, token] if token_after_file else [token, *parts]
    content_type, body = multipart_body(parts)
    if not boundary:
        content_type = "multipart/form-data"
    headers = [("Content-Type", content_type), ("Origin", s.origin)]
    return Req("POST", "/notes", headers + s.victim.cookie(), body, text)


def logged_out(s: Scene) -> Req:
    """The victim logs out; the forgery replays the old cookie and token."""
    logout = note(s, path="/logout")
    assert logout.send(s.client).status_code == 303
    return note(s)


def logged_in_then_old_token(s: Scene) -> Req:
    """The victim logs in; the forgery uses a token from before login."""
    old_token = s.victim.token
    content_type, body = form_body([("csrf_token", old_token), ("username", "alice")])
    headers = [("Content-Type", content_type), ("Origin", s.origin)]
    login = Req("POST", "/login", headers + s.victim.cookie(), body)
    response = login.send(s.client)
    assert response.status_code == 303
    s.victim.note_cookie(response)
    return note(s, tokens=[old_token])


def logged_in_then_old_cookie(s: Scene) -> Req:
    """The victim logs in; the forgery uses the session id from before."""
    old_cookie = s.victim.cookie()
    logged_in_then_old_token(s)
    return note(s, cookie=old_cookie)


def fresh_page(s: Scene) -> Req:
    """The control after a login or logout: reload the page, then post."""
    s.victim.load_page()
    return note(s)


def two_tokens(s: Scene) -> Req:
    first = s.victim.token
    return note(s, tokens=[first, s.victim.load_page()])


@dataclass(frozen=True)
class Row:
    attack: Callable[[Scene], Req]
    reason: Reason
    control: Callable[[Scene], Req] = note
    status: int = 403

    def expected(self, target: Target, attack: Req) -> tuple[int, str | None]:
        if attack.method.islower() and target.server_refuses_lowercase_methods:
            # waitress answers 400 before any app runs; the WSGI adapter's
            # own handling is in tests/integrations (lower-case method test).
            return 400, None
        return self.status, self.reason.value


def own_origin_vouched(s: Scene) -> Req:
    return note(s, origin="null", headers=[("Sec-Fetch-Site", "same-origin")])


def same_origin_metadata(s: Scene) -> Req:
    return note(s, headers=[("Sec-Fetch-Site", "same-origin")])


def cookie_header(*pairs: tuple[str, str]) -> tuple[str, str]:
    """One ``Cookie`` header with the pairs in order, repeats included."""
    return ("Cookie", "; ".join(f"{name}={value}" for name, value in pairs))


def random_session_cookie() -> list[tuple[str, str]]:
    return [cookie_header((COOKIE, secrets.token_urlsafe(32)))]


TABLE = [
    pytest.param(
        Row(lambda s: note(s, origin=EVIL), Reason.ORIGIN_NOT_ALLOWED),
        id="foreign origin with valid token",
    ),
    pytest.param(
        Row(lambda s: note(s, origin=s.sibling_origin), Reason.ORIGIN_NOT_ALLOWED),
        id="sibling port origin with valid token",
    ),
    pytest.param(
        Row(
            lambda s: note(s, origin=s.origin.replace("http:", "https:")),
            Reason.ORIGIN_NOT_ALLOWED,
        ),
        id="https origin posting to the http app",
    ),
    pytest.param(
        Row(
            lambda s: note(
                s, origin=None, headers=[("Origin", s.origin), ("Origin", EVIL)]
            ),
            Reason.ORIGIN_NOT_ALLOWED,
        ),
        id="two origin headers, own one first",
    ),
    pytest.param(
        Row(lambda s: note(s, origin="null"), Reason.ORIGIN_NULL, own_origin_vouched),
        id="null origin",
    ),
    pytest.param(
        Row(
            lambda s: note(s, origin=None, headers=[("Sec-Fetch-Site", "cross-site")]),
            Reason.CROSS_SITE_REQUEST,
            same_origin_metadata,
        ),
        id="cross-site fetch metadata",
    ),
    pytest.param(
        Row(
            lambda s: note(
                s, origin=s.sibling_origin, headers=[("Sec-Fetch-Site", "same-site")]
            ),
            Reason.CROSS_SITE_REQUEST,
            same_origin_metadata,
        ),
        id="same-site from sibling port untrusted",
    ),
    pytest.param(
        Row(lambda s: note(s, tokens=[]), Reason.TOKEN_MISSING), id="missing token"
    ),
    pytest.param(
        Row(lambda s: note(s, tokens=[""]), Reason.TOKEN_INVALID), id="empty token"
    ),
    pytest.param(
        Row(lambda s: note(s, tokens=["A" * 86]), Reason.TOKEN_INVALID),
        id="forged token of the right length",
    ),
    pytest.param(
        Row(lambda s: note(s, tokens=[s.other.token]), Reason.TOKEN_INVALID),
        id="token of another session",
    ),
    pytest.param(
        Row(two_tokens, Reason.TOKEN_CONFLICT), id="two different tokens in one form"
    ),
    pytest.param(
        Row(
            lambda s: note(s, tokens=[], path=f"/notes?csrf_token={s.victim.token}"),
            Reason.TOKEN_MISSING,
        ),
        id="token in query string only",
    ),
    pytest.param(
        Row(
            lambda s: note(
                s,
                tokens=[],
                cookie=[
                    (
                        "Cookie",
                        f"{COOKIE}={s.victim.session_id}; csrf_token={s.victim.token}",
                    )
                ],
            ),
            Reason.TOKEN_MISSING,
        ),
        id="token in a cookie only (double submit)",
    ),
    pytest.param(
        Row(
            lambda s: json_note(s, content_type="text/plain"),
            Reason.TOKEN_MISSING,
            lambda s: json_note(s, body_token=s.victim.token),
        ),
        id="text/plain body",
    ),
    pytest.param(
        Row(
            json_note,
            Reason.TOKEN_MISSING,
            lambda s: json_note(s, body_token=s.victim.token),
        ),
        id="JSON without token",
    ),
    pytest.param(
        Row(
            lambda s: json_note(s, body_token=s.victim.token, nest_token=True),
            Reason.TOKEN_MISSING,
            lambda s: json_note(s, body_token=s.victim.token),
        ),
        id="JSON token nested below the top level",
    ),
    pytest.param(
        Row(
            lambda s: json_note(s, body_token=s.victim.token, padding=1024 * 1024 + 1),
            Reason.BODY_TOO_LARGE,
            lambda s: json_note(
                s, header_token=s.victim.token, padding=1024 * 1024 + 1
            ),
        ),
        id="JSON body beyond the scan limit",
    ),
    pytest.param(
        Row(
            lambda s: json_note(
                s, header_token=s.other.token, body_token=s.victim.token
            ),
            Reason.TOKEN_INVALID,
            lambda s: json_note(s, header_token=s.victim.token),
        ),
        id="header token of another session beside own body token",
    ),
    pytest.param(
        Row(lambda s: note(s, tokens=[], method="post"), Reason.TOKEN_MISSING),
        id="lower-case method",
    ),
    pytest.param(
        Row(
            lambda s: note(
                s,
                tokens=[],
                headers=[
                    ("X-HTTP-Method-Override", "GET"),
                    ("X-HTTP-Method", "GET"),
                    ("X-Method-Override", "GET"),
                ],
            ),
            Reason.TOKEN_MISSING,
        ),
        id="method override header",
    ),
    pytest.param(
        Row(
            lambda s: note(s, tokens=[], path="/notes?_method=GET"),
            Reason.TOKEN_MISSING,
        ),
        id="method override query parameter",
    ),
    pytest.param(
        Row(
            lambda s: note(
                s,
                cookie=[
                    cookie_header(
                        (COOKIE, s.victim.session_id), (COOKIE, s.other.session_id)
                    )
                ],
            ),
            Reason.SESSION_COOKIE_AMBIGUOUS,
        ),
        id="duplicated session cookie",
    ),
    pytest.param(
        Row(
            lambda s: note(s, tokens=[], headers=[("Authorization", BASIC)]),
            Reason.TOKEN_MISSING,
            lambda s: note(s, headers=[("Authorization", BASIC)]),
        ),
        id="Basic auth without token",
    ),
    pytest.param(
        Row(
            lambda s: note(s, cookie=[], headers=[("Authorization", BASIC)]),
            Reason.SESSION_MISSING,
            lambda s: note(s, headers=[("Authorization", BASIC)]),
        ),
        id="Basic auth without a session",
    ),
    pytest.param(
        Row(
            lambda s: note(s, tokens=[], headers=[("Authorization", "Bearer abc.def")]),
            Reason.TOKEN_MISSING,
            lambda s: note(
                s, tokens=[], cookie=[], headers=[("Authorization", "Bearer abc.def")]
            ),
        ),
        id="bearer + session cookie without token",
    ),
    pytest.param(
        Row(
            lambda s: note(s, cookie=[], tokens=[s.other.token]), Reason.SESSION_MISSING
        ),
        id="no session cookie at all (login CSRF)",
    ),
    pytest.param(
        Row(lambda s: note(s, cookie=random_session_cookie()), Reason.SESSION_MISSING),
        id="unknown session id",
    ),
    pytest.param(
        Row(logged_out, Reason.SESSION_MISSING, fresh_page),
        id="logged-out session token",
    ),
    pytest.param(
        Row(logged_in_then_old_token, Reason.TOKEN_INVALID, fresh_page),
        id="token issued before login",
    ),
    pytest.param(
        Row(logged_in_then_old_cookie, Reason.SESSION_MISSING, fresh_page),
        id="session id from before login (fixation)",
    ),
    pytest.param(
        Row(
            lambda s: multipart_note(s, token_after_file=True),
            Reason.TOKEN_MISSING,
            multipart_note,
        ),
        id="token after 2 MiB of file data",
    ),
    pytest.param(
        Row(
            lambda s: multipart_note(s, boundary=False),
            Reason.MALFORMED_BODY,
            multipart_note,
        ),
        id="multipart without boundary",
    ),
]


@pytest.mark.parametrize("row", TABLE)
def test_attack_is_refused_before_the_handler_and_its_control_passes(
    target: Target, client: httpx.Client, row: Row, caplog: pytest.LogCaptureFixture
) -> None:
    scene = Scene.start(target, client)
    attack = row.attack(scene)
    status, reason = row.expected(target, attack)

    caplog.set_level(logging.WARNING)
    caplog.clear()
    response = attack.send(client)
    logged = [r.getMessage() for r in caplog.records if r.name == "forgeproof.csrf"]

    assert response.status_code == status
    assert reason_of(response) == reason
    assert attack.text not in notes(client)
    assert [f"reason={reason}" in message for message in logged] == [True] * bool(
        reason
    )
    for secret in scene.secrets():
        assert secret not in caplog.text
        assert secret not in response.text

    control = row.control(scene)
    response = control.send(client)
    assert response.status_code == control.ok
    assert control.text in notes(client)


def test_route_marked_exempt_runs_without_a_token(
    target: Target, client: httpx.Client
) -> None:
    scene = Scene.start(target, client)
    headers = [("Content-Type", "application/octet-stream"), *scene.victim.cookie()]

    exempt = client.post("/webhook", headers=headers, content=b"signed payload")
    checked = client.post("/notes", headers=headers, content=b"signed payload")

    assert exempt.status_code == 200
    assert exempt.json() == {"received": 14}
    assert checked.status_code == 403
    assert reason_of(checked) == "token_missing"
