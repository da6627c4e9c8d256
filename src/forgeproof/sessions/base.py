"""Server-side sessions: the record a store keeps, the store contract, and the
mutable mapping an app sees as its session.

The browser holds only an opaque session id. Stores never see that id either:
they are keyed by its SHA-256 digest, so a leaked database or Redis dump gives
no cookie to replay.

Each part lives in a module of its own (``ids``, ``record``, ``merge``,
``stores``, ``config``, ``session``, ``write``, ``cookie``); this module
gathers them under the import path the adapters, the stores and apps use.
"""

from __future__ import annotations

from .config import SessionConfig
from .cookie import find_session_cookie as find_session_cookie
from .cookie import find_session_cookie_in_header as find_session_cookie_in_header
from .ids import is_well_formed_session_id as is_well_formed_session_id
from .ids import new_session_id as new_session_id
from .ids import store_key as store_key
from .merge import SessionChanges, merge_record
from .record import SessionRecord
from .session import Session
from .session import open_session as open_session
from .stores import AsyncSessionStore, SessionStore
from .write import SessionWrite

# The ``X as X`` imports are forgeproof's own plumbing, not the public list;
# that form marks them re-exported for type checkers all the same.
__all__ = [
    "AsyncSessionStore",
    "Session",
    "SessionChanges",
    "SessionConfig",
    "SessionRecord",
    "SessionStore",
    "SessionWrite",
    "merge_record",
]
