"""A session store in this process's memory, for tests and single-process
development. Sessions are lost on restart and not shared between workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .base import SessionChanges, SessionRecord, merge_record

__all__ = ["MemorySessionStore"]

_SWEEP_EVERY_SAVES = 1000


class MemorySessionStore:
    """Keeps each session's JSON in a dict, behind a lock.

    Storing the JSON text rather than the record means a request that
    mutates its session in place cannot change what another request loads,
    and that an app which works here works on the persistent stores too.

    :param clock: the time source for expiry, injectable for tests.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._saves_since_sweep = 0

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
            self._entries[key] = (record.to_json(), expires_at)
            self._saves_since_sweep += 1
            # Sweeping scans every entry, so sweep less often as the store
            # grows: a save then costs O(1) on average at any size.
            due = max(_SWEEP_EVERY_SAVES, len(self._entries) // 2)
            if self._saves_since_sweep >= due:
                self._sweep()

    def _live_record(self, key: str) -> SessionRecord | None:
        # Call with the lock held.
        entry = self._entries.get(key)
        if entry is None:
            return None

        raw, expires_at = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None

        return SessionRecord.from_json(raw)

    def _sweep(self) -> None:
        # Sessions that are never loaded again would otherwise stay forever.
        now = self._clock()
        expired = [k for k, (_, deadline) in self._entries.items() if deadline <= now]
        for key in expired:
            del self._entries[key]
        self._saves_since_sweep = 0

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
