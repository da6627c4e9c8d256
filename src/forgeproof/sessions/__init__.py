"""Server-side session stores and the session an app sees.

Pick a store by URL with :func:`store_from_url`, or import its class:
``memory://``, ``sqlite:///relative.db``, ``sqlite:////absolute.db``.
"""

from __future__ import annotations

from ..errors import ConfigurationError
from .base import AsyncSessionStore, Session, SessionConfig, SessionRecord, SessionStore
from .memory import MemorySessionStore
from .sqlite import SQLiteSessionStore

__all__ = [
    "AsyncSessionStore",
    "MemorySessionStore",
    "SQLiteSessionStore",
    "Session",
    "SessionConfig",
    "SessionRecord",
    "SessionStore",
    "store_from_url",
]


def store_from_url(url: str) -> MemorySessionStore | SQLiteSessionStore:
    """Open the store a URL names.

    :raises ConfigurationError: for a scheme forgeproof has no store for.
    """
    if url == "memory://":
        return MemorySessionStore()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SQLiteSessionStore(url[len("sqlite:///") :])

    raise ConfigurationError(
        "unknown session store URL; use memory:// or sqlite:///path/to/file.db"
    )
