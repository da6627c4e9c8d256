"""Finding the session id among a request's cookies."""

from __future__ import annotations

from .._cookies import cookie_values
from .config import SessionConfig
from .ids import is_well_formed_session_id

__all__ = ["find_session_cookie", "find_session_cookie_in_header"]


def find_session_cookie(
    config: SessionConfig, scheme: str, cookies: list[tuple[str, str]]
) -> tuple[str | None, int]:
    """Pick the session id out of a request's cookies.

    Returns the first well-formed id (or ``None``) and how many times the
    cookie appeared at all. Malformed values are never looked up: a store
    only ever sees digests of ids that could be ours.
    """
    name = config.cookie_name_for(scheme)
    values = [value for key, value in cookies if key == name]
    session_id = next((v for v in values if is_well_formed_session_id(v)), None)
    return session_id, len(values)


def find_session_cookie_in_header(
    config: SessionConfig, scheme: str, header: str
) -> tuple[str | None, int]:
    """:func:`find_session_cookie` for a whole ``Cookie`` header; only the
    pairs that name the session cookie are parsed."""
    values = cookie_values(header, config.cookie_name_for(scheme))
    for value in values:
        if is_well_formed_session_id(value):
            return value, len(values)
    return None, len(values)
