"""What the SQLite store adds to the contract: several processes on one
file (with and without a memory map), and sessions that outlive the
process that wrote them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from forgeproof.errors import StoreUnavailableError
from forgeproof.sessions import SQLiteSessionStore
from forgeproof.sessions.base import SessionConfig, store_key
from forgeproof.tokens import new_secret
from sessions.store_harness import Driver, begin, finish, record

# Each worker process opens the file itself, loads the shared session as a
# request would and writes its own key into it, while the first worker
# also rotates the secret; every worker also files sessions of its own.
_WORKER = textwrap.dedent(
    """
    import sys
    from forgeproof.sessions import SQLiteSessionStore
    from forgeproof.sessions.base import SessionConfig, open_session, store_key

    path, worker, session_id, rounds = sys.argv[1], sys.argv[2], sys.argv[3], 40
    store = SQLiteSessionStore(path, mmap_size=int(sys.argv[4]))
    config = SessionConfig()
    missing = 0
    for i in range(rounds):
        stored = store.load(store_key(session_id))
        session = open_session(config, session_id, stored, 1)
        if session.is_new or not session.has_csrf_secret:
            missing += 1
        if worker == "0":
            session.rotate_csrf_secret()
        else:
            session["w" + worker] = i
        session.plan_write(config, "http").perform(store)

        own = open_session(config, None, None, 0)
        own["worker"] = worker
        own.plan_write(config, "http").perform(store)
        print("own", own.id, flush=True)
    if worker == "0":
        stored = store.load(store_key(session_id))
        print("secret", stored.csrf_secret.hex(), flush=True)
    print("missing", missing, flush=True)
    """
)


@pytest.mark.parametrize(
    "mapped",
    [
        pytest.param(set[int](), id="no process mapped"),
        pytest.param({0, 2}, id="half the processes mapped"),
    ],
)
def test_processes_sharing_one_file_lose_no_session_and_no_secret(
    tmp_path: Path, mapped: set[int]
) -> None:
    path = tmp_path / "shared.db"
    store = SQLiteSessionStore(path)
    config = SessionConfig()
    session = begin(Driver(store, "sync"), config, None)
    _ = session.csrf_secret
    session_id = finish(Driver(store, "sync"), config, session)
    assert session_id is not None

    sizes = [str(1 << 30 if n in mapped else 0) for n in range(4)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(n), session_id, size],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n, size in enumerate(sizes)
    ]
    outputs = [worker.communicate(timeout=90)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0, 0, 0]
    lines = [line.split() for output in outputs for line in output.splitlines()]
    assert [int(n) for kind, n in lines if kind == "missing"] == [0, 0, 0, 0]
    own_ids = [value for kind, value in lines if kind == "own"]
    assert len(set(own_ids)) == 160
    assert all(store.load(store_key(own)) is not None for own in own_ids)
    shared = store.load(store_key(session_id))
    assert shared is not None
    assert shared.csrf_secret is not None
    assert [shared.csrf_secret.hex()] == [v for kind, v in lines if kind == "secret"]
    # Other data is last-writer-wins as a whole, so only its shape is sure.
    assert set(shared.data) <= {"w1", "w2", "w3"}
    store.close()


def test_sessions_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    first = SQLiteSessionStore(path)
    secret = new_secret()
    saved = record({"user": "alice"}, secret, at=first._clock())
    first.save("k1", saved, first._clock() + 60)
    first.close()

    reopened = SQLiteSessionStore(path)

    assert reopened.load("k1") == saved
    reopened.close()


def test_threads_each_get_their_own_connection_and_see_each_others_writes(
    tmp_path: Path,
) -> None:
    store = SQLiteSessionStore(tmp_path / "sessions.db")
    now = store._clock()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                store.save(f"t{n}-{i}", record({"n": n}, at=now), now + 60)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert all(store.load(f"t{n}-49") is not None for n in range(6))
    store.close()


def test_expired_sessions_are_swept_from_the_file(tmp_path: Path) -> None:
    clock = [1_700_000_000.0]
    store = SQLiteSessionStore(tmp_path / "sessions.db", clock=lambda: clock[0])
    for i in range(1000):
        store.save(f"old-{i}", record(at=clock[0]), clock[0] + 10)
    clock[0] += 60

    for i in range(1000):
        store.save(f"new-{i}", record(at=clock[0]), clock[0] + 10)

    rows = store._connection().execute(
        "SELECT count(*) FROM forgeproof_sessions WHERE key LIKE 'old-%'"
    )
    assert rows.fetchone() == (0,)
    store.close()


def test_a_lookup_sqlite_refuses_raises_store_unavailable_with_the_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteSessionStore(path)
    store.save("k1", record(at=store._clock()), store._clock() + 60)
    other = sqlite3.connect(path)
    other.execute("DROP TABLE forgeproof_sessions")
    other.close()

    with pytest.raises(StoreUnavailableError) as info:
        store.load("k1")

    assert info.value.store == "sqlite"
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert "k1" not in str(info.value)
    store.close()
