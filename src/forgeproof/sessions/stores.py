"""The contract every session store keeps, synchronous and asynchronous."""

from __future__ import annotations

from typing import Protocol

from .merge import SessionChanges
from .record import SessionRecord

__all__ = ["AsyncSessionStore", "SessionStore"]


class SessionStore(Protocol):
    """Where server-side sessions live, for synchronous (WSGI) callers.

    Keys are digests from the session layer. ``expires_at`` is a Unix time
    after which the store may forget the record; the session layer checks
    the timeouts itself on every load, so lazy expiry is enough.

    A store must make each :meth:`save` atomic, including the read of the
    stored record that :func:`merge_record` needs when *changes* is given.
    """

    def load(self, key: str) -> SessionRecord | None:
        """Return the record filed under *key*, or ``None``."""

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """File *record* under *key*; with *replaces*, remove that key in the
        same step, so a rotated session never exists under both ids or
        neither.

        With *changes*, *record* updates a stored session (the one under
        *replaces*, else under *key*) as :func:`merge_record` says.
        """

    def delete(self, key: str) -> None:
        """Forget *key*; forgetting an unknown key is not an error."""


class AsyncSessionStore(Protocol):
    """The asynchronous twin of :class:`SessionStore`, for ASGI callers."""

    async def aload(self, key: str) -> SessionRecord | None:
        """As :meth:`SessionStore.load`."""

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """As :meth:`SessionStore.save`."""

    async def adelete(self, key: str) -> None:
        """As :meth:`SessionStore.delete`."""
