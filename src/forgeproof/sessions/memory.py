"""A session store in this process's memory, for tests and single-process
development. Sessions are lost on restart and not shared between workers."""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable

from ..tokens import SECRET_BYTES
from .base import SessionChanges, SessionRecord, merge_record

__all__ = ["MemorySessionStore"]

# How many due deadlines one save looks at, at most: expired sessions are
# swept a few at a time, so no save ever holds the lock for a full scan.
_SWEEP_PER_SAVE = 8

# A session with no data, as its JSON would read back: the CSRF secret and
# the creation and access times. Immutable, so it can be handed out as is.
_Bare = tuple["bytes | None", float, float]


class MemorySessionStore:
    """Keeps each session's JSON in a dict, behind a lock.

    Storing the JSON text rather than the record means a request that
    mutates its session in place cannot change what another request loads,
    and that an app which works here works on the persistent stores too.
    A session with no data (a visitor who only holds a CSRF secret) is kept
    as the immutable values its JSON would give back, which skips the JSON
    both ways; every load still builds a new record and a new dict.

    :param clock: the time source for expiry, injectable for tests.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._entries: dict[str, tuple[str | _Bare, float]] = {}
        # A heap of (deadline, key): every key saved here has one entry at or
        # before its own deadline, found again when that deadline comes.
        self._deadlines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._clock = clock

    def __repr__(self) -> str:
        return f"<MemorySessionStore sessions={len(self._entries)}>"

    def load(self, key: str) -> SessionRecord | None:
        """Return the record under *key* unless it has expired."""
        with self._lock:
            return self._live_record(key)

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """File *record* under *key*, removing *replaces* in the same step.

        With *changes*, the stored record is read and merged under the same
        lock (:func:`~forgeproof.sessions.base.merge_record`).
        """
        with self._lock:
            if changes is not None:
                stored = self._live_record(replaces or key)
                merged = merge_record(
                    record, stored, changes, rotating=replaces is not None
                )
                if merged is None:
                    return
                record = merged
            if replaces is not None:
                self._entries.pop(replaces, None)
            if key not in self._entries:
                heapq.heappush(self._deadlines, (expires_at, key))
            self._entries[key] = (_bare(record) or record.to_json(), expires_at)
            self._sweep()

    def _live_record(self, key: str) -> SessionRecord | None:
        # Call with the lock held.
        entry = self._entries.get(key)
        if entry is None:
            return None

        stored, expires_at = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None

        if isinstance(stored, str):
            return SessionRecord.from_json(stored)
        secret, created_at, accessed_at = stored
        return SessionRecord({}, secret, created_at, accessed_at)

    def _sweep(self) -> None:
        # Call with the lock held. Sessions that are never loaded again
        # would otherwise stay forever. A deadline that comes due for a
        # session saved again since is put back with the new one.
        now = self._clock()
        deadlines = self._deadlines
        for _ in range(_SWEEP_PER_SAVE):
            if not deadlines or deadlines[0][0] > now:
                return
            _, key = heapq.heappop(deadlines)
            entry = self._entries.get(key)
            if entry is None:
                continue  # deleted or rotated away
            if entry[1] <= now:
                del self._entries[key]
            else:
                heapq.heappush(deadlines, (entry[1], key))

    def delete(self, key: str) -> None:
        """Forget *key*."""
        with self._lock:
            self._entries.pop(key, None)

    async def aload(self, key: str) -> SessionRecord | None:
        """As :meth:`load`; memory never blocks the event loop."""
        return self.load(key)

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """As :meth:`save`."""
        self.save(key, record, expires_at, replaces=replaces, changes=changes)

    async def adelete(self, key: str) -> None:
        """As :meth:`delete`."""
        self.delete(key)


def _bare(record: SessionRecord) -> _Bare | None:
    """A record with no data as :meth:`SessionRecord.from_json` would give
    it back from its JSON, or ``None`` if only the JSON says that exactly."""
    secret = record.csrf_secret
    created_at, accessed_at = record.created_at, record.accessed_at
    if record.data or not isinstance(record.data, dict):
        return None
    if type(created_at) is not float or type(accessed_at) is not float:
        return None  # JSON would give back an int, or refuse the type
    if not (math.isfinite(created_at) and math.isfinite(accessed_at)):
        return None  # from_json refuses these: the JSON path says so
    if secret is not None and (
        type(secret) is not bytes or len(secret) != SECRET_BYTES
    ):
        return None
    return secret, created_at, accessed_at
