"""A session store in an SQLite file: the embedded default.

It survives restarts and is safe for several processes on one machine
(WAL journal, a busy timeout instead of "database is locked" errors). For
several machines use the Redis store.

A lookup is one primary-key search of a ``WITHOUT ROWID`` table. Its
interior pages hold whole rows (~280 bytes with the JSON), 15 to a page,
so a million sessions make a B-tree of 5 levels and 17 MB of interior
pages, far beyond SQLite's 2 MiB cache: lookups then grow from about
10 to 16 µs, mostly in ``read()`` calls. A rowid table with a separate
key index measured slower (two searches), 32-byte BLOB keys no faster;
``mmap_size`` removes about half of the growth, at a price in how the
store fails (see :class:`SQLiteSessionStore`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigurationError, StoreUnavailableError
from .base import SessionChanges, SessionRecord, merge_record

__all__ = ["SQLiteSessionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS forgeproof_sessions (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS forgeproof_sessions_expiry
    ON forgeproof_sessions (expires_at);
"""
_SELECT = "SELECT value FROM forgeproof_sessions WHERE key = ? AND expires_at > ?"
_BUSY_TIMEOUT_MS = 5000
_SWEEP_EVERY_SAVES = 1000


class SQLiteSessionStore:
    """Sessions in a table of an SQLite database file.

    Each thread gets its own connection (``sqlite3`` connections must not
    be shared across threads). The asynchronous methods run the same
    queries in a worker thread, so a busy database never stalls the event
    loop.

    :param path: the database file; created with its table if missing. It
        may be the app's own database: the table is ``forgeproof_sessions``.
    :param clock: the time source for expiry, injectable for tests.
    :param mmap_size: how many bytes of the file each connection reads
        through a memory map instead of ``read()`` calls (SQLite's
        ``PRAGMA mmap_size``; 0, the default, turns it off). Set it above
        the file's size (about 370 bytes per stored session) and a lookup
        among a million sessions costs nearly what it costs among a
        thousand. The map shares the operating system's page cache, so it
        costs address space, not memory of its own; SQLite's own cache
        stays at its default (2 MiB per connection, one connection per
        thread). The price is how the store fails: a disk I/O error while
        reading the mapped file kills the process with SIGBUS instead of
        raising :class:`~forgeproof.errors.StoreUnavailableError` (a 503
        and one ERROR log). Only for a local disk on Linux, macOS or
        Windows, whose page caches keep processes with and without a map
        coherent; never on a network file system.
    :raises ConfigurationError: if *mmap_size* is negative.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        mmap_size: int = 0,
    ) -> None:
        if mmap_size < 0:
            raise ConfigurationError(
                "mmap_size is a number of bytes: 0 turns the memory map off"
            )
        self.path = Path(path)
        self._clock = clock
        # SQLite cuts a larger map to its build's ceiling (2 GiB, usually).
        self._mmap_size = mmap_size
        self._local = threading.local()
        self._saves_since_sweep = 0
        # Not in _transaction(): executescript() commits any open
        # transaction first, so the COMMIT there would find none.
        with self._errors_wrapped():
            self._connection().executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"<SQLiteSessionStore path={str(self.path)!r}>"

    def load(self, key: str) -> SessionRecord | None:
        """Return the record under *key* unless it has expired."""
        # Not _errors_wrapped(): a generator context manager costs over a
        # tenth of a lookup (A/B: 23 -> 19 µs on a busy machine), paid by
        # every request that has a session.
        try:
            return self._select(self._connection(), key)
        except sqlite3.Error as exc:
            raise StoreUnavailableError("sqlite") from exc

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """File *record* under *key*, removing *replaces* in the same
        transaction.

        With *changes*, the stored record is read and merged in that same
        transaction (:func:`~forgeproof.sessions.base.merge_record`); the
        write lock taken at its start keeps other processes out meanwhile.
        """
        with self._transaction() as db:
            if changes is not None:
                stored = self._select(db, replaces or key)
                merged = merge_record(
                    record, stored, changes, rotating=replaces is not None
                )
                if merged is None:
                    return
                record = merged
            if replaces is not None:
                db.execute("DELETE FROM forgeproof_sessions WHERE key = ?", (replaces,))
            db.execute(
                "INSERT OR REPLACE INTO forgeproof_sessions (key, value, expires_at) "
                "VALUES (?, ?, ?)",
                (key, record.to_json(), expires_at),
            )
            self._saves_since_sweep += 1
            if self._saves_since_sweep >= _SWEEP_EVERY_SAVES:
                db.execute(
                    "DELETE FROM forgeproof_sessions WHERE expires_at <= ?",
                    (self._clock(),),
                )
                self._saves_since_sweep = 0

    def _select(self, db: sqlite3.Connection, key: str) -> SessionRecord | None:
        row = db.execute(_SELECT, (key, self._clock())).fetchone()
        if row is None or not isinstance(row[0], (str, bytes)):
            return None

        return SessionRecord.from_json(row[0])

    def delete(self, key: str) -> None:
        """Forget *key*."""
        with self._transaction() as db:
            db.execute("DELETE FROM forgeproof_sessions WHERE key = ?", (key,))

    async def aload(self, key: str) -> SessionRecord | None:
        """As :meth:`load`, in a worker thread."""
        return await asyncio.to_thread(self.load, key)

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """As :meth:`save`, in a worker thread."""
        await asyncio.to_thread(
            self.save, key, record, expires_at, replaces=replaces, changes=changes
        )

    async def adelete(self, key: str) -> None:
        """As :meth:`delete`, in a worker thread."""
        await asyncio.to_thread(self.delete, key)

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            with self._errors_wrapped():
                # isolation_level=None: transactions are explicit below, so
                # a read never holds a lock it forgot to release.
                db = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=True
                )
                db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                # Set on every connection: the pragma is not stored in the
                # file, so processes sharing it may each choose.
                db.execute(f"PRAGMA mmap_size = {self._mmap_size}")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._errors_wrapped():
            db = self._connection()
            # IMMEDIATE takes the write lock up front: a rotation's delete
            # and insert can never interleave with another process's write.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _errors_wrapped(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreUnavailableError("sqlite") from exc
