"""Fixtures of the session-store tests: a real redis-server, and the store
factory that runs one contract against memory, SQLite and Redis."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeproof.sessions import MemorySessionStore, SQLiteSessionStore
from forgeproof.sessions.redis import RedisSessionStore
from sessions.store_harness import FakeClock, RealClock, RedisProcess, StoreHarness
from support.parts import require_binary


@pytest.fixture(scope="session")
def redis_binary() -> str:
    return require_binary("redis-server", "redis-server")


@pytest.fixture(scope="session")
def shared_redis(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisProcess]:
    """One redis-server for the contract tests; each test has its own prefix."""
    server = RedisProcess(redis_binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_process(redis_binary: str, tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own, which it may kill and restart."""
    server = RedisProcess(redis_binary, tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def _memory_harness(api: str) -> StoreHarness:
    clock = FakeClock()
    store = MemorySessionStore(clock=clock)

    def plant_raw(key: str, raw: str) -> None:
        store._entries[key] = (raw, clock() + 3600)

    def ttl_of(key: str) -> float | None:
        entry = store._entries.get(key)
        return None if entry is None else entry[1] - clock()

    def open_sibling() -> MemorySessionStore:
        return MemorySessionStore(clock=clock)

    return StoreHarness("memory", api, store, clock, plant_raw, ttl_of, open_sibling)


def _sqlite_harness(api: str, directory: Path) -> StoreHarness:
    clock = FakeClock()
    path = directory / "sessions.db"
    store = SQLiteSessionStore(path, clock=clock)

    def plant_raw(key: str, raw: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT OR REPLACE INTO forgeproof_sessions VALUES (?, ?, ?)",
                (key, raw, clock() + 3600),
            )
        db.close()

    def ttl_of(key: str) -> float | None:
        with sqlite3.connect(path) as db:
            row = db.execute(
                "SELECT expires_at FROM forgeproof_sessions WHERE key = ?", (key,)
            ).fetchone()
        db.close()
        return None if row is None else float(row[0]) - clock()

    def open_sibling() -> SQLiteSessionStore:
        return SQLiteSessionStore(directory / "other.db", clock=clock)

    return StoreHarness(
        "sqlite", api, store, clock, plant_raw, ttl_of, open_sibling, [store.close]
    )


def _redis_harness(api: str, server: RedisProcess) -> StoreHarness:
    clock = RealClock()
    prefix = f"test:{uuid.uuid4().hex}:"
    store = RedisSessionStore(server.url, key_prefix=prefix, clock=clock)
    client = server.client()

    def plant_raw(key: str, raw: str) -> None:
        client.set(prefix + key, raw, ex=3600)

    def ttl_of(key: str) -> float | None:
        milliseconds = int(client.pttl(prefix + key))
        # -2: no such key; -1: a key without a TTL, which must never happen.
        return None if milliseconds == -2 else milliseconds / 1000

    def open_sibling() -> RedisSessionStore:
        return RedisSessionStore(server.url, key_prefix=f"test:{uuid.uuid4().hex}:")

    return StoreHarness(
        "redis",
        api,
        store,
        clock,
        plant_raw,
        ttl_of,
        open_sibling,
        [client.close, store.close],
    )


@pytest.fixture(
    params=[
        pytest.param(("memory", "sync"), id="memory-sync"),
        pytest.param(("memory", "async"), id="memory-async"),
        pytest.param(("sqlite", "sync"), id="sqlite-sync"),
        pytest.param(("sqlite", "async"), id="sqlite-async"),
        pytest.param(("redis", "sync"), id="redis-sync", marks=pytest.mark.redis),
        pytest.param(("redis", "async"), id="redis-async", marks=pytest.mark.redis),
    ]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreHarness]:
    """The store under test, driven through its sync or its async API."""
    kind, api = request.param
    if kind == "memory":
        made = _memory_harness(api)
    elif kind == "sqlite":
        made = _sqlite_harness(api, tmp_path)
    else:
        made = _redis_harness(api, request.getfixturevalue("shared_redis"))
    yield made
    made.close()
