"""What one request pays to look its session up, per store, and whether
that changes between 1,000 and 1,000,000 stored sessions (it should not).

Run by hand, from the repository root::

    .venv/bin/python benchmarks/bench_stores.py
    .venv/bin/python benchmarks/bench_stores.py --sizes 1000 100000 --lookups 2000

A lookup is what SessionMiddleware does per request: hash the cookie's
session id, load the record (``load`` or ``aload``), and open the session
(JSON parse, timeout check). The stores are filled in bulk (a dict for
memory, ``executemany`` for SQLite, pipelines for Redis) with records of
the same shape the middleware writes. Redis is a redis-server started here
on a free loopback port, without persistence, stopped at the end; it is
skipped if the binary is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forgeproof.sessions import MemorySessionStore, SQLiteSessionStore
from forgeproof.sessions.base import (
    SessionConfig,
    SessionRecord,
    new_session_id,
    open_session,
    store_key,
)
from forgeproof.tokens import new_secret

CONFIG = SessionConfig()
TTL_SECONDS = 3600


def make_sessions(count: int) -> tuple[list[str], list[tuple[str, str, float]]]:
    """*count* session ids and their (key, json, expires_at) rows."""
    now = time.time()
    ids = [new_session_id() for _ in range(count)]
    rows = []
    for session_id in ids:
        record = SessionRecord(
            {"user": f"user-{random.randrange(10**6)}", "flash": []},
            new_secret(),
            now,
            now,
        )
        rows.append((store_key(session_id), record.to_json(), now + TTL_SECONDS))
    return ids, rows


def fill_memory(rows: list[tuple[str, str, float]]) -> MemorySessionStore:
    store = MemorySessionStore()
    store._entries = {key: (raw, expires) for key, raw, expires in rows}
    return store


def fill_sqlite(rows: list[tuple[str, str, float]], path: Path) -> SQLiteSessionStore:
    store = SQLiteSessionStore(path)
    db = sqlite3.connect(path)
    with db:
        db.executemany("INSERT INTO forgeproof_sessions VALUES (?, ?, ?)", rows)
    db.close()
    return store


def fill_redis(rows: list[tuple[str, str, float]], port: int) -> Any:
    import redis

    from forgeproof.sessions.redis import DEFAULT_KEY_PREFIX, RedisSessionStore

    client = redis.Redis(port=port)
    client.flushdb()
    for start in range(0, len(rows), 10_000):
        pipe = client.pipeline(transaction=False)
        for key, raw, _ in rows[start : start + 10_000]:
            pipe.set(DEFAULT_KEY_PREFIX + key, raw, ex=TTL_SECONDS)
        pipe.execute()
    assert client.dbsize() == len(rows)
    client.close()
    return RedisSessionStore(f"redis://127.0.0.1:{port}/0")


def time_sync(load: Callable[[str], Any], ids: list[str]) -> list[float]:
    timings = []
    for session_id in ids:
        started = time.perf_counter()
        session = open_session(CONFIG, session_id, load(store_key(session_id)), 1)
        timings.append(time.perf_counter() - started)
        assert not session.is_new
    return timings


def time_async(store: Any, ids: list[str]) -> list[float]:
    async def run() -> list[float]:
        timings = []
        for session_id in ids:
            started = time.perf_counter()
            record = await store.aload(store_key(session_id))
            session = open_session(CONFIG, session_id, record, 1)
            timings.append(time.perf_counter() - started)
            assert not session.is_new
        if hasattr(store, "aclose"):
            await store.aclose()
        return timings

    return asyncio.run(run())


def report(name: str, size: int, timings: list[float]) -> None:
    micros = sorted(t * 1e6 for t in timings)
    p99 = micros[int(len(micros) * 0.99)]
    print(
        f"{name:<16} {size:>10,} {statistics.fmean(micros):>10.1f} "
        f"{statistics.median(micros):>10.1f} {p99:>10.1f}",
        flush=True,
    )


@contextmanager
def redis_server(directory: Path) -> Iterator[int | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server not found: Redis skipped", file=sys.stderr)
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    # Our own redis-server, found on PATH, with fixed arguments.
    process = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=5000)
    args = parser.parse_args()

    print(
        f"{'store':<16} {'sessions':>10} {'mean µs':>10} {'p50 µs':>10} {'p99 µs':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as port:
        for size in args.sizes:
            started = time.perf_counter()
            ids, rows = make_sessions(size)
            sample = random.choices(ids, k=args.lookups)
            print(f"# {size:,} sessions made in {time.perf_counter() - started:.1f}s")

            memory = fill_memory(rows)
            report("memory", size, time_sync(memory.load, sample))
            report("memory aload", size, time_async(memory, sample))
            del memory

            started = time.perf_counter()
            sqlite = fill_sqlite(rows, Path(tmp) / f"s{size}.db")
            print(f"# sqlite filled in {time.perf_counter() - started:.1f}s")
            report("sqlite", size, time_sync(sqlite.load, sample))
            report("sqlite aload", size, time_async(sqlite, sample))
            sqlite.close()

            if port is not None:
                started = time.perf_counter()
                redis_store = fill_redis(rows, port)
                print(f"# redis filled in {time.perf_counter() - started:.1f}s")
                report("redis", size, time_sync(redis_store.load, sample))
                report("redis aload", size, time_async(redis_store, sample))
                redis_store.close()
            del ids, rows


if __name__ == "__main__":
    main()
