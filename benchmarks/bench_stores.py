"""What one request pays to look its session up, per store, and whether
that changes between 1,000 and 1,000,000 stored sessions (it should not:
the target is a median within 20 % of the 1,000-session figure).

Run by hand, from the repository root (about 6 minutes at the defaults,
most of it filling one million sessions; needs ~1 GB of RAM and disk)::

    .venv/bin/python benchmarks/bench_stores.py
    .venv/bin/python benchmarks/bench_stores.py --sizes 1000 100000 --rounds 3

A lookup is what SessionMiddleware does per request: hash the cookie's
session id, load the record (``load`` or ``aload``), and open the session
(JSON parse, timeout check). Every store is measured the same way, with
the same session ids and records of the shape the middleware writes:

- Filled in bulk (a dict for memory, ``executemany`` in one transaction
  for SQLite, pipelines for Redis). ``sqlite`` is the store as shipped,
  ``sqlite-mmap`` the same with ``mmap_size=1 GiB`` (read its docstring
  for what that trades). Redis is a redis-server started here on a free
  loopback port, without persistence, one database per size, stopped at
  the end (skipped if the binary is missing).
- Sizes are interleaved: each round times every (store, size) pair in
  turn, so a burst of load on this shared machine hits all of them alike.
  Medians and p95 are over all rounds' lookups.
- ``uniform``: every lookup draws its session id at random from the whole
  population. This is the measure of the target, and the worst case for
  any cache: at 1,000,000 sessions almost every lookup is for a session
  no recent lookup touched.
- ``hot``: lookups draw from a fixed set of ``--hot`` sessions (the ones
  active right now) spread over the whole population, which is closer to
  a real site, where most stored sessions sit idle until they expire.

What "cold" and "warm" mean here: the database files were just written,
so the operating system's page cache holds them (warm). A store whose
file is not in the OS cache, e.g. right after a reboot, pays a disk read
per page touched (0.1 ms on an SSD, more on a disk); that is not
measured. SQLite's own page cache is per connection and bounded
(``cache_size``); each pair gets ``--warmup`` untimed lookups first, so
the figures are its steady state, not the first lookups of a connection.
Even the memory store's median grows at a million sessions, because its
entries no longer fit the CPU caches: that part of any growth is the
machine's, not the store's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from dataclasses import dataclass, field
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
# "sqlite-mmap": a map larger than the million-session file (~370 MB).
MMAP_BYTES = 1 << 30

Row = tuple[str, str, float]


@dataclass
class Population:
    """The session ids of one size, their store rows, and its hot set."""

    ids: list[str]
    rows: list[Row]
    hot: list[str]


@dataclass
class Cell:
    """One (store, API, size, access pattern) pair and its timings."""

    store: str
    api: str
    size: int
    pattern: str
    load: Any
    pool: list[str]
    timings: list[float] = field(default_factory=list)


def make_population(count: int, hot: int) -> Population:
    """*count* session ids, their (key, json, expires_at) rows, and *hot*
    of them picked at random as the active set."""
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
    return Population(ids, rows, random.sample(ids, min(hot, count)))


def fill_memory(rows: list[Row]) -> MemorySessionStore:
    store = MemorySessionStore()
    store._entries = {key: (raw, expires) for key, raw, expires in rows}
    return store


def fill_sqlite(rows: list[Row], path: Path, mmap_size: int) -> SQLiteSessionStore:
    store = SQLiteSessionStore(path, mmap_size=mmap_size)
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO forgeproof_sessions (key, value, expires_at) VALUES (?, ?, ?)",
            rows,
        )
    db.close()
    # Written back to disk now, so that writeback does not compete with
    # the lookups; the pages stay in the OS cache (see "warm" above).
    os.sync()
    return store


def fill_redis(rows: list[Row], url: str) -> Any:
    import redis

    from forgeproof.sessions.redis import DEFAULT_KEY_PREFIX, RedisSessionStore

    client = redis.Redis.from_url(url)
    client.flushdb()
    for start in range(0, len(rows), 10_000):
        pipe = client.pipeline(transaction=False)
        for key, raw, _ in rows[start : start + 10_000]:
            pipe.set(DEFAULT_KEY_PREFIX + key, raw, ex=TTL_SECONDS)
        pipe.execute()
    if client.dbsize() != len(rows):
        raise RuntimeError("redis did not take every session")
    client.close()
    return RedisSessionStore(url)


def time_sync(load: Callable[[str], Any], ids: list[str]) -> list[float]:
    timings = []
    for session_id in ids:
        started = time.perf_counter()
        session = open_session(CONFIG, session_id, load(store_key(session_id)), 1)
        timings.append(time.perf_counter() - started)
        if session.is_new:
            raise RuntimeError("a stored session did not load")
    return timings


def time_async(
    loop: asyncio.AbstractEventLoop, aload: Callable[[str], Any], ids: list[str]
) -> list[float]:
    async def run() -> list[float]:
        timings = []
        for session_id in ids:
            started = time.perf_counter()
            record = await aload(store_key(session_id))
            session = open_session(CONFIG, session_id, record, 1)
            timings.append(time.perf_counter() - started)
            if session.is_new:
                raise RuntimeError("a stored session did not load")
        return timings

    return loop.run_until_complete(run())


def measure(
    cells: list[Cell], loop: asyncio.AbstractEventLoop, lookups: int, warm: bool
) -> None:
    """One round: *lookups* random lookups per cell, cells in a new order."""
    for cell in random.sample(cells, len(cells)):
        ids = random.choices(cell.pool, k=lookups)
        if cell.api == "aload":
            timings = time_async(loop, cell.load, ids)
        else:
            timings = time_sync(cell.load, ids)
        if not warm:
            cell.timings.extend(timings)


def report(cells: list[Cell], sizes: list[int]) -> None:
    smallest = sizes[0]
    print(
        f"{'store':<11} {'api':<6} {'pattern':<8} {'sessions':>10} "
        f"{'p50 µs':>8} {'p95 µs':>8} {'p50 vs ' + f'{smallest:,}':>14}"
    )
    base: dict[tuple[str, str, str], float] = {}
    for cell in cells:
        micros = sorted(t * 1e6 for t in cell.timings)
        median = statistics.median(micros)
        p95 = micros[int(len(micros) * 0.95)]
        group = (cell.store, cell.api, cell.pattern)
        if cell.size == smallest:
            base[group] = median
        ratio = f"{(median / base[group] - 1) * 100:+.0f} %" if group in base else ""
        print(
            f"{cell.store:<11} {cell.api:<6} {cell.pattern:<8} {cell.size:>10,} "
            f"{median:>8.1f} {p95:>8.1f} {ratio:>14}",
            flush=True,
        )


@contextmanager
def redis_server(directory: Path, databases: int) -> Iterator[int | None]:
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
         "--appendonly", "no", "--dir", str(directory),
         "--databases", str(max(16, databases))],
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


def build_cells(
    stores: list[str],
    sizes: list[int],
    hot: int,
    apis: list[str],
    tmp: Path,
    port: int | None,
) -> tuple[list[Cell], list[Callable[[], Any]]]:
    """Fill every store at every size; return the cells and closers."""
    cells: list[Cell] = []
    closers: list[Callable[[], Any]] = []
    for index, size in enumerate(sizes):
        started = time.perf_counter()
        population = make_population(size, hot)
        print(f"# {size:,} sessions made in {time.perf_counter() - started:.1f}s")
        for name in stores:
            started = time.perf_counter()
            store: Any
            if name == "memory":
                store = fill_memory(population.rows)
            elif name.startswith("sqlite"):
                mapped = MMAP_BYTES if name == "sqlite-mmap" else 0
                store = fill_sqlite(population.rows, tmp / f"{name}{size}.db", mapped)
                closers.append(store.close)
            elif port is not None:
                store = fill_redis(population.rows, f"redis://127.0.0.1:{port}/{index}")
                closers.append(store.close)
                closers.append(store.aclose)
            else:
                continue
            print(f"# {name} filled in {time.perf_counter() - started:.1f}s")
            patterns = {"uniform": population.ids, "hot": population.hot}
            for pattern, pool in patterns.items():
                if pattern == "hot" and not hot:
                    continue
                for api in apis:
                    load = store.aload if api == "aload" else store.load
                    cells.append(Cell(name, api, size, pattern, load, pool))
    return cells, closers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument(
        "--stores", nargs="+", default=["memory", "sqlite", "sqlite-mmap", "redis"]
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--lookups", type=int, default=2000, help="per cell, round")
    parser.add_argument("--warmup", type=int, default=2000, help="per cell")
    parser.add_argument("--hot", type=int, default=1000, help="0: uniform only")
    parser.add_argument("--no-async", action="store_true", help="skip aload")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    apis = ["load"] if args.no_async else ["load", "aload"]

    loop = asyncio.new_event_loop()
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp), len(sizes)) as port,
    ):
        cells, closers = build_cells(
            args.stores, sizes, args.hot, apis, Path(tmp), port
        )
        # The populations' millions of objects are the benchmark's, not a
        # store's: keep the collector from walking them during a lookup.
        gc.collect()
        gc.freeze()
        measure(cells, loop, args.warmup, warm=True)
        for _ in range(args.rounds):
            measure(cells, loop, args.lookups, warm=False)
        cells.sort(key=lambda c: (c.store, c.api, c.pattern, c.size))
        report(cells, sizes)
        for close in closers:
            if asyncio.iscoroutine(done := close()):
                loop.run_until_complete(done)
    loop.close()


if __name__ == "__main__":
    main()
