"""The SQLite store read through a memory map (``mmap_size``) keeps the
store's behaviour: the same records, rotation, expiry and errors, also
for the part of the file beyond the map and across threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from forgeproof.errors import ConfigurationError, StoreUnavailableError
from forgeproof.sessions import SQLiteSessionStore
from forgeproof.sessions.base import SessionChanges
from forgeproof.tokens import new_secret
from sessions.store_harness import FakeClock, record

MAPPED = 1 << 30


def _mmap_size_of(store: SQLiteSessionStore) -> int:
    row = store._connection().execute("PRAGMA mmap_size").fetchone()
    return int(row[0])


def test_a_mapped_store_saves_rotates_merges_expires_and_deletes(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store = SQLiteSessionStore(tmp_path / "s.db", clock=clock, mmap_size=MAPPED)
    secret, newer = new_secret(), new_secret()
    store.save("old", record({"user": "alice"}, secret, at=clock()), clock() + 60)

    store.save(
        "new",
        record({"user": "alice"}, newer, at=clock()),
        clock() + 60,
        replaces="old",
        changes=SessionChanges(data_changed=False, secret_rotated=True),
    )

    assert _mmap_size_of(store) == MAPPED
    assert store.load("old") is None
    rotated = store.load("new")
    assert rotated is not None
    assert rotated.csrf_secret == newer
    assert rotated.data == {"user": "alice"}
    clock.advance(61)
    assert store.load("new") is None
    store.delete("new")
    store.close()


def test_sessions_beyond_the_mapped_part_of_the_file_still_load(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store = SQLiteSessionStore(tmp_path / "s.db", clock=clock, mmap_size=64 * 1024)
    saved = {f"k{i}": record({"n": i}, at=clock()) for i in range(2000)}
    for key, value in saved.items():
        store.save(key, value, clock() + 60)

    assert (tmp_path / "s.db").stat().st_size + (
        tmp_path / "s.db-wal"
    ).stat().st_size > 64 * 1024
    assert all(store.load(key) == value for key, value in saved.items())
    store.close()


def test_a_mapped_and_an_unmapped_store_on_one_file_see_each_others_writes(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    mapped = SQLiteSessionStore(tmp_path / "s.db", clock=clock, mmap_size=MAPPED)
    plain = SQLiteSessionStore(tmp_path / "s.db", clock=clock)
    for i in range(500):
        mapped.save(f"m{i}", record({"by": "mapped"}, at=clock()), clock() + 60)
        plain.save(f"p{i}", record({"by": "plain"}, at=clock()), clock() + 60)
    plain._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    mapped.save("m0", record({"by": "mapped again"}, at=clock()), clock() + 60)
    plain.delete("p0")

    from_plain = plain.load("m0")
    assert from_plain is not None
    assert from_plain.data == {"by": "mapped again"}
    assert mapped.load("p0") is None
    assert all(mapped.load(f"p{i}") is not None for i in range(1, 500))
    assert all(plain.load(f"m{i}") is not None for i in range(500))
    mapped.close()
    plain.close()


def test_every_thread_s_connection_gets_the_memory_map(tmp_path: Path) -> None:
    store = SQLiteSessionStore(tmp_path / "s.db", mmap_size=MAPPED)
    seen: list[int] = []

    def work() -> None:
        seen.append(_mmap_size_of(store))
        store.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)

    assert seen == [MAPPED]
    assert _mmap_size_of(store) == MAPPED
    store.close()


def test_the_store_reads_without_a_memory_map_unless_asked(tmp_path: Path) -> None:
    store = SQLiteSessionStore(tmp_path / "s.db")

    assert _mmap_size_of(store) == 0
    store.close()


def test_a_negative_mmap_size_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="mmap_size"):
        SQLiteSessionStore(tmp_path / "s.db", mmap_size=-1)

    assert not (tmp_path / "s.db").exists()


def test_a_mapped_store_that_cannot_open_its_file_raises_store_unavailable(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "not-a-file"
    directory.mkdir()

    with pytest.raises(StoreUnavailableError) as info:
        SQLiteSessionStore(directory, mmap_size=MAPPED)

    assert info.value.store == "sqlite"
