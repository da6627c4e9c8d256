"""Template helpers: fresh, escaped tokens in pages, and rotation at login."""

from __future__ import annotations

from typing import Any

import pytest

from forgeproof import (
    SafeHTML,
    Session,
    SessionConfig,
    csrf_input,
    csrf_meta,
    csrf_token,
    jinja_globals,
    rotate,
    session_of,
    token_matches,
)
from forgeproof.tokens import TOKEN_LENGTH


class FakeStarletteRequest:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope


class FakeFlaskRequest:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ


def fresh_session() -> Session:
    return Session(None, None, now=1000.0)


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda s: {"type": "http", "session": s}, id="ASGI scope"),
        pytest.param(lambda s: FakeStarletteRequest({"session": s}), id="Starlette"),
        pytest.param(lambda s: {"forgeproof.session": s}, id="WSGI environ"),
        pytest.param(lambda s: FakeFlaskRequest({"forgeproof.session": s}), id="Flask"),
    ],
)
def test_the_session_is_found_on_every_kind_of_request(wrap: Any) -> None:
    session = fresh_session()

    assert session_of(wrap(session)) is session


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({}, id="empty scope"),
        pytest.param({"session": {"user": "a"}}, id="a foreign session dict"),
        pytest.param(FakeStarletteRequest({}), id="request without session"),
        pytest.param(object(), id="not a request"),
    ],
)
def test_a_request_without_forgeproofs_session_is_a_clear_error(request_: Any) -> None:
    with pytest.raises(LookupError, match="session middleware"):
        csrf_token(request_)


def test_csrf_token_creates_the_secret_and_the_session_gets_saved() -> None:
    """An anonymous visitor of a login form needs a session (login CSRF)."""
    session = fresh_session()

    token = csrf_token({"session": session})
    write = session.plan_write(SessionConfig(), "http")

    assert write is not None
    assert write.record is not None
    assert write.record.csrf_secret == session.csrf_secret
    assert write.set_cookie is not None
    assert token_matches(token, session.csrf_secret)


def test_every_helper_call_shows_a_different_token_of_the_same_secret() -> None:
    session = fresh_session()
    request = {"session": session}

    tokens = [csrf_token(request) for _ in range(5)]
    field = csrf_input(request)
    meta = csrf_meta(request)

    assert len(set(tokens)) == 5
    assert all(token_matches(t, session.csrf_secret) for t in tokens)
    assert not any(t in field or t in meta for t in tokens)


def test_csrf_input_is_a_hidden_field_marked_safe_for_templates() -> None:
    field = csrf_input({"session": fresh_session()})

    assert isinstance(field, SafeHTML)
    assert field.__html__() == str(field)
    assert field.startswith('<input type="hidden" name="csrf_token" value="')
    assert len(field) == len('<input type="hidden" name="csrf_token" value="">') + 86


def test_csrf_input_escapes_a_custom_field_name() -> None:
    field = csrf_input({"session": fresh_session()}, field_name='x"><script>')

    assert "<script>" not in field
    assert 'name="x&quot;&gt;&lt;script&gt;"' in field


def test_csrf_meta_carries_a_token_for_scripts() -> None:
    session = fresh_session()

    meta = csrf_meta({"session": session})

    prefix = '<meta name="csrf-token" content="'
    assert meta.startswith(prefix)
    token = meta[len(prefix) : len(prefix) + TOKEN_LENGTH]
    assert token_matches(token, session.csrf_secret)


def test_rotate_gives_a_new_secret_so_earlier_tokens_die() -> None:
    session = fresh_session()
    before = csrf_token({"session": session})

    rotate({"session": session})

    assert not token_matches(before, session.csrf_secret)
    assert token_matches(csrf_token({"session": session}), session.csrf_secret)


def test_jinja_globals_install_the_three_helpers() -> None:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(autoescape=True)
    env.globals.update(jinja_globals())
    session = fresh_session()

    html = env.from_string(
        "{{ csrf_input(request) }}|{{ csrf_meta(request) }}|{{ csrf_token(request) }}"
    ).render(request={"session": session})

    field, meta, token = html.split("|")
    assert field.startswith("<input ")
    assert meta.startswith("<meta ")
    assert token_matches(token, session.csrf_secret)
    assert set(jinja_globals()) == {"csrf_token", "csrf_input", "csrf_meta"}


def test_the_session_repr_shows_no_id_and_no_secret() -> None:
    session = fresh_session()
    secret = session.csrf_secret

    text = repr(session)

    assert secret.hex() not in text
    assert repr(secret) not in text
