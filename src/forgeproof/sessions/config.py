"""How session cookies are issued and how long sessions live."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigurationError
from .record import SessionRecord

__all__ = ["SessionConfig"]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How session cookies are issued and how long sessions live.

    :param cookie_name: the cookie's base name. On https it gets the
        ``__Host-`` prefix, which browsers only accept from the exact host
        with ``Secure`` and ``Path=/``: a sibling subdomain cannot plant or
        overwrite it (session fixation, cookie tossing).
    :param idle_timeout: seconds without a request after which a session is
        gone.
    :param absolute_timeout: seconds after creation after which a session is
        gone however busy it is, so a stolen cookie does not live forever.
    :param secure: ``None`` (the default) marks the cookie ``Secure`` exactly
        on https requests. ``True`` forces it, for apps behind a TLS proxy
        that talks plain http to them. ``False`` is only for local
        development over http and is never needed on https.
    :param same_site: ``"lax"`` keeps top-level GET navigation from other
        sites logged in; ``"strict"`` drops the cookie on those too.
        ``None`` is refused: a CSRF library should not hand out cookies that
        every site can make the browser send (RFC 6265bis §5.4.7).
    :param clock: the time source, injectable for tests.
    """

    cookie_name: str = "forgeproof_session"
    idle_timeout: float = 12 * 3600
    absolute_timeout: float = 14 * 24 * 3600
    secure: bool | None = None
    same_site: Literal["lax", "strict"] = "lax"
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if not self.cookie_name or not self.cookie_name.replace("_", "").isalnum():
            raise ConfigurationError(
                "cookie_name must be letters, digits and underscores, "
                f"not {self.cookie_name!r}"
            )
        if self.idle_timeout <= 0 or self.absolute_timeout < self.idle_timeout:
            raise ConfigurationError(
                "need 0 < idle_timeout <= absolute_timeout (both in seconds)"
            )
        if self.same_site not in ("lax", "strict"):
            raise ConfigurationError(
                "same_site must be 'lax' or 'strict'; SameSite=None would let "
                "every site send the session cookie"
            )

    def cookie_name_for(self, scheme: str) -> str:
        """The cookie name for a request made over *scheme*."""
        if self._is_secure(scheme):
            return "__Host-" + self.cookie_name
        return self.cookie_name

    def set_cookie_header(self, scheme: str, session_id: str | None) -> str:
        """Build the ``Set-Cookie`` value that stores *session_id*, or that
        removes the cookie when *session_id* is ``None``."""
        name = self.cookie_name_for(scheme)
        parts = [f"{name}={session_id or ''}", "Path=/", "HttpOnly"]
        parts.append(
            "SameSite=Strict" if self.same_site == "strict" else "SameSite=Lax"
        )
        if self._is_secure(scheme):
            parts.append("Secure")
        if session_id is None:
            parts.append("Max-Age=0")

        return "; ".join(parts)

    def expires_at(self, record: SessionRecord) -> float:
        """When *record* stops being valid: the earlier of its two deadlines."""
        return min(
            record.accessed_at + self.idle_timeout,
            record.created_at + self.absolute_timeout,
        )

    def _is_secure(self, scheme: str) -> bool:
        if self.secure is None:
            return scheme in ("https", "wss")
        return self.secure
