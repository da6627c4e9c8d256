"""Server-side session stores and the session an app sees.

Pick a store by URL with :func:`store_from_url`, or import its class:
``memory://``, ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
``redis://host:port/db`` or ``rediss://`` (TLS).
"""

from __future__ import annotations

from ..errors import ConfigurationError
from .base import (
    AsyncSessionStore,
    Session,
    SessionChanges,
    SessionConfig,
    SessionRecord,
    SessionStore,
)
from .memory import MemorySessionStore
from .redis import RedisSessionStore
from .sqlite import SQLiteSessionStore

__all__ = [
    "AsyncSessionStore",
    "MemorySessionStore",
    "RedisSessionStore",
    "SQLiteSessionStore",
    "Session",
    "SessionChanges",
    "SessionConfig",
    "SessionRecord",
    "SessionStore",
    "store_from_url",
]


def store_from_url(
    url: str,
) -> MemorySessionStore | SQLiteSessionStore | RedisSessionStore:
    """Open the store a URL names.

    ``redis://`` and ``rediss://`` URLs go to :class:`RedisSessionStore`
    with its default key prefix and timeouts; construct it yourself to
    change them.

    :raises ConfigurationError: for a scheme forgeproof has no store for.
    :raises ImportError: for a Redis URL when redis-py is not installed.
    """
    if url == "memory://":
        return MemorySessionStore()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SQLiteSessionStore(url[len("sqlite:///") :])
    if url.startswith(("redis://", "rediss://")):
        return RedisSessionStore(url)

    raise ConfigurationError(
        "unknown session store URL; use memory://, sqlite:///path/to/file.db "
        "or redis://host:port/db"
    )
