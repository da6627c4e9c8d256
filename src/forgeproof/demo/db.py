"""The demo's users, notes and API access tokens, in one SQLite file.

Sessions are not here: forgeproof's session store keeps them, by default in
a table of this same file. Passwords are stored as scrypt hashes and access
tokens as SHA-256 digests, so the file holds nothing that logs anyone in.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ACCESS_TOKEN_TTL_SECONDS",
    "DEMO_ACCOUNTS",
    "MAX_NOTE_CHARS",
    "DemoDB",
    "Note",
    "User",
    "hash_password",
    "password_matches",
]

#: Public fixtures, printed at start: never use such passwords for real.
DEMO_ACCOUNTS = (("alice", "alice-password"), ("bob", "bob-password"))

ACCESS_TOKEN_TTL_SECONDS = 24 * 3600
MAX_NOTE_CHARS = 10_000

# scrypt with n=2**14, r=8 (RFC 7914 §2's interactive-login figures): about
# 16 MiB and 50 ms per hash, which makes guessing offline expensive.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS demo_users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS demo_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES demo_users (id),
    text TEXT NOT NULL,
    attachment_name TEXT,
    attachment_size INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS demo_notes_by_user ON demo_notes (user_id, id);
CREATE TABLE IF NOT EXISTS demo_access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES demo_users (id),
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class User:
    """A demo account."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Note:
    """One note; of an attachment only its name and size are kept."""

    id: int
    text: str
    attachment_name: str | None = None
    attachment_size: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The note as the JSON API shows it."""
        return {"id": self.id, "text": self.text}


def hash_password(password: str) -> str:
    """A salted scrypt hash of *password*, with its parameters."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether *password* hashes to *stored*, compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        candidate = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False

    return scheme == "scrypt" and hmac.compare_digest(candidate, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM
    )


@functools.cache
def _decoy_hash() -> str:
    # Checked against when the user name is unknown, so a login for a
    # missing account takes as long as one with a wrong password.
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class _Result:
    rows: list[Any]
    lastrowid: int | None
    rowcount: int


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class DemoDB:
    """The demo's data. Every query runs in a worker thread, each of which
    has its own connection, so the event loop never waits on the disk.

    :param path: the SQLite file; created, with the demo accounts, if new.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        db = self._connection()
        db.executescript(_SCHEMA)
        known = {row[0] for row in db.execute("SELECT username FROM demo_users")}
        for username, password in DEMO_ACCOUNTS:
            if username not in known:
                db.execute(
                    "INSERT OR IGNORE INTO demo_users (username, password_hash) "
                    "VALUES (?, ?)",
                    (username, hash_password(password)),
                )

    # Users and access tokens.

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user with these credentials, or ``None``."""
        row = await self._fetch_one(
            "SELECT id, username, password_hash FROM demo_users WHERE username = ?",
            (username,),
        )
        stored = row[2] if row is not None else _decoy_hash()
        matches = await asyncio.to_thread(password_matches, password, stored)
        if row is None or not matches:
            return None

        return User(row[0], row[1])

    async def issue_access_token(self, user: User) -> str:
        """A new bearer token for *user*; only its digest is stored."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        await self._execute(
            "DELETE FROM demo_access_tokens WHERE expires_at <= ?", (now,)
        )
        await self._execute(
            "INSERT INTO demo_access_tokens (token_hash, user_id, expires_at) "
            "VALUES (?, ?, ?)",
            (_token_digest(token), user.id, now + ACCESS_TOKEN_TTL_SECONDS),
        )
        return token

    async def user_of_access_token(self, token: str) -> User | None:
        """The user a live bearer token belongs to, or ``None``."""
        row = await self._fetch_one(
            "SELECT u.id, u.username FROM demo_access_tokens AS t "
            "JOIN demo_users AS u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.expires_at > ?",
            (_token_digest(token), time.time()),
        )
        return User(row[0], row[1]) if row is not None else None

    # Notes.

    async def notes_of(self, user_id: int) -> list[Note]:
        """The user's notes, oldest first."""
        rows = await self._fetch_all(
            "SELECT id, text, attachment_name, attachment_size FROM demo_notes "
            "WHERE user_id = ? ORDER BY id",
            (user_id,),
        )
        return [Note(*row) for row in rows]

    async def add_note(
        self,
        user_id: int,
        text: str,
        attachment_name: str | None = None,
        attachment_size: int | None = None,
    ) -> Note:
        """Store a new note and return it."""
        result = await self._execute(
            "INSERT INTO demo_notes "
            "(user_id, text, attachment_name, attachment_size, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (user_id, text, attachment_name, attachment_size, time.time()),
        )
        if result.lastrowid is None:
            raise sqlite3.OperationalError("INSERT gave no row id")

        return Note(result.lastrowid, text, attachment_name, attachment_size)

    async def update_note(self, user_id: int, note_id: int, text: str) -> Note | None:
        """Change the text of one of the user's notes; ``None`` if not theirs."""
        result = await self._execute(
            "UPDATE demo_notes SET text = ? WHERE id = ? AND user_id = ?",
            (text, note_id, user_id),
        )
        if result.rowcount == 0:
            return None

        row = await self._fetch_one(
            "SELECT id, text, attachment_name, attachment_size FROM demo_notes "
            "WHERE id = ?",
            (note_id,),
        )
        return Note(*row) if row is not None else None

    async def delete_note(self, user_id: int, note_id: int) -> bool:
        """Delete one of the user's notes; ``False`` if there was none."""
        result = await self._execute(
            "DELETE FROM demo_notes WHERE id = ? AND user_id = ?", (note_id, user_id)
        )
        return result.rowcount > 0

    # Plumbing.

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> _Result:
        return await asyncio.to_thread(self._run, sql, params)

    async def _fetch_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        result = await self._execute(sql, params)
        return result.rows[0] if result.rows else None

    async def _fetch_all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return (await self._execute(sql, params)).rows

    def _run(self, sql: str, params: tuple[Any, ...]) -> _Result:
        # Executed and read in one go: a cursor must stay in its thread.
        cursor = self._connection().execute(sql, params)
        return _Result(cursor.fetchall(), cursor.lastrowid, cursor.rowcount)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit: every query here is a single statement, atomic on
            # its own. WAL and a busy timeout let the session store and a
            # second demo process share the file.
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
        return db
