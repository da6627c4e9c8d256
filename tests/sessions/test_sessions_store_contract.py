"""The session-store contract, run unchanged against memory, SQLite and
Redis, each through its sync and its async API (the ``harness`` fixture)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from forgeproof.sessions.base import (
    SessionChanges,
    SessionConfig,
    new_session_id,
    store_key,
)
from forgeproof.tokens import new_secret
from sessions.store_harness import Driver, StoreHarness, begin, finish, record

# --- load, save, delete -------------------------------------------------------


def test_a_saved_record_loads_back_unchanged(harness: StoreHarness) -> None:
    now = harness.clock()
    secret = new_secret()
    saved = record({"user": "alice", "n": [1, 2.5, None], "e": {}}, secret, at=now)

    harness.store.save("k1", saved, now + 60)

    assert harness.store.load("k1") == saved


def test_an_unknown_key_loads_as_no_session(harness: StoreHarness) -> None:
    assert harness.store.load("never-saved") is None


def test_saving_again_replaces_the_record(harness: StoreHarness) -> None:
    now = harness.clock()
    harness.store.save("k1", record({"v": 1}, at=now), now + 60)

    harness.store.save("k1", record({"v": 2}, at=now), now + 60)

    loaded = harness.store.load("k1")
    assert loaded is not None
    assert loaded.data == {"v": 2}


def test_delete_forgets_the_record_and_deleting_twice_is_no_error(
    harness: StoreHarness,
) -> None:
    now = harness.clock()
    harness.store.save("k1", record({"v": 1}, at=now), now + 60)
    harness.store.save("k2", record({"v": 2}, at=now), now + 60)

    harness.store.delete("k1")
    harness.store.delete("k1")

    assert harness.store.load("k1") is None
    assert harness.store.load("k2") is not None


# --- rotation -----------------------------------------------------------------


def test_rotation_moves_the_record_to_the_new_key(harness: StoreHarness) -> None:
    now = harness.clock()
    secret = new_secret()
    harness.store.save("old", record({"v": 1}, secret, at=now), now + 60)

    harness.store.save(
        "new", record({"v": 1}, secret, at=now), now + 60, replaces="old"
    )

    assert harness.store.load("old") is None
    loaded = harness.store.load("new")
    assert loaded is not None
    assert loaded.csrf_secret == secret


def test_rotation_never_shows_both_ids_or_neither(harness: StoreHarness) -> None:
    """Readers race a chain of rotations. Seeing the new key means the old
    one must be gone; seeing the old one gone, while no later rotation has
    begun, means the new one must be there."""
    now = harness.clock()
    rounds = 30
    keys = [f"rot-{i}" for i in range(rounds + 2)]
    harness.store.save(keys[0], record({"v": 0}, at=now), now + 600)
    started = [0]  # index of the rotation that may be under way
    violations: list[str] = []
    stop = threading.Event()

    def read(driver: Driver) -> None:
        while not stop.is_set():
            i = started[0]
            old, new = keys[i], keys[i + 1]
            if driver.load(new) is not None and driver.load(old) is not None:
                violations.append(f"both {old} and {new}")
            old_gone = driver.load(old) is None
            new_there = driver.load(new) is not None
            if old_gone and not new_there and started[0] == i:
                violations.append(f"neither {old} nor {new}")

    readers = [
        threading.Thread(target=read, args=(harness.driver(),)) for _ in range(3)
    ]
    for reader in readers:
        reader.start()
    try:
        for i in range(rounds):
            started[0] = i
            harness.store.save(
                keys[i + 1], record({"v": i + 1}, at=now), now + 600, replaces=keys[i]
            )
        started[0] = rounds
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)

    assert violations == []
    assert harness.store.load(keys[rounds]) is not None
    assert harness.store.load(keys[rounds - 1]) is None


# --- expiry -------------------------------------------------------------------


def test_a_record_is_gone_once_its_expiry_has_passed(harness: StoreHarness) -> None:
    now = harness.clock()
    harness.store.save("k1", record({"v": 1}, at=now), now + 1.0)

    harness.clock.advance(0.5)
    assert harness.store.load("k1") is not None

    harness.clock.advance(0.7)
    assert harness.store.load("k1") is None


def test_an_update_after_expiry_does_not_bring_the_session_back(
    harness: StoreHarness,
) -> None:
    now = harness.clock()
    harness.store.save("k1", record({"v": 1}, at=now), now + 1.0)
    harness.clock.advance(1.2)

    later = harness.clock()
    harness.store.save(
        "k1",
        record({"v": 2}, at=later),
        later + 60,
        changes=SessionChanges(data_changed=True, secret_rotated=False),
    )

    assert harness.store.load("k1") is None


def test_a_session_past_its_idle_timeout_opens_as_new(harness: StoreHarness) -> None:
    config = SessionConfig(idle_timeout=1.0, absolute_timeout=60, clock=harness.clock)
    first = begin(harness.store, config, None)
    first["user"] = "alice"
    session_id = finish(harness.store, config, first)

    harness.clock.advance(0.5)
    assert begin(harness.store, config, session_id).get("user") == "alice"

    harness.clock.advance(0.7)
    again = begin(harness.store, config, session_id)
    assert again.is_new
    assert dict(again) == {}


def test_a_session_past_its_absolute_timeout_opens_as_new_however_busy(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(idle_timeout=1.0, absolute_timeout=1.5, clock=harness.clock)
    first = begin(harness.store, config, None)
    first["clicks"] = 0
    session_id = finish(harness.store, config, first)

    for clicks in (1, 2):
        harness.clock.advance(0.6)
        busy = begin(harness.store, config, session_id)
        assert busy.get("clicks") == clicks - 1
        busy["clicks"] = clicks  # a write moves the idle deadline only
        finish(harness.store, config, busy)
    harness.clock.advance(0.6)

    assert begin(harness.store, config, session_id).is_new


# --- values this code did not write --------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("not json at all", id="not json"),
        pytest.param("[1, 2, 3]", id="a json list"),
        pytest.param('{"d": {}, "s": null, "c": 1}', id="a field missing"),
        pytest.param('{"d": [], "s": null, "c": 1, "a": 1}', id="data not a mapping"),
        pytest.param('{"d": {}, "s": "zz", "c": 1, "a": 1}', id="secret not hex"),
        pytest.param('{"d": {}, "s": "abcd", "c": 1, "a": 1}', id="secret too short"),
        pytest.param('{"d": {}, "s": null, "c": "x", "a": 1}', id="time not a number"),
        pytest.param('{"d": {"a": ' * 5000 + "}" * 5000, id="nested too deep"),
        pytest.param("\xed\xa0\x80\xff{", id="binary junk"),
        pytest.param('{"session": "from another program"}', id="foreign json"),
    ],
)
def test_a_corrupted_or_foreign_value_loads_as_no_session(
    harness: StoreHarness, raw: str
) -> None:
    harness.plant_raw("bad", raw)

    assert harness.store.load("bad") is None


def test_a_session_whose_value_was_corrupted_opens_as_new(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session = begin(harness.store, config, None)
    session["user"] = "alice"
    session_id = finish(harness.store, config, session)
    assert session_id is not None

    harness.plant_raw(store_key(session_id), '{"d": {"user": "mallory"}')
    reopened = begin(harness.store, config, session_id)
    reopened["clicks"] = 1
    finish(harness.store, config, reopened)

    assert reopened.is_new
    assert reopened.id != session_id


# --- namespaces and lifetimes ---------------------------------------------------


def test_a_store_in_another_namespace_never_sees_these_sessions(
    harness: StoreHarness,
) -> None:
    now = harness.clock()
    other = harness.sibling()
    harness.store.save("k1", record({"app": "one"}, at=now), now + 60)
    other.save("k2", record({"app": "two"}, at=now), now + 60)

    other.delete("k1")

    assert other.load("k1") is None
    assert harness.store.load("k2") is None
    loaded = harness.store.load("k1")
    assert loaded is not None
    assert loaded.data == {"app": "one"}


def test_the_stored_lifetime_follows_expires_at(harness: StoreHarness) -> None:
    now = harness.clock()
    harness.store.save("k1", record(at=now), now + 100)
    first = harness.ttl_of("k1")

    harness.store.save(
        "k1",
        record({"v": 1}, at=now),
        now + 500,
        changes=SessionChanges(data_changed=True, secret_rotated=False),
    )
    updated = harness.ttl_of("k1")
    harness.store.save("k2", record(at=now), now + 300, replaces="k1")
    rotated = harness.ttl_of("k2")

    assert first == pytest.approx(100, abs=2)
    assert updated == pytest.approx(500, abs=2)
    assert rotated == pytest.approx(300, abs=2)
    assert harness.ttl_of("k1") is None


# --- concurrent requests of one session -----------------------------------------
#
# Each test runs the requests of one browser session as adapters do: load
# when the request starts, write back when its response starts. "A" and
# "B" both load before either writes, as two tabs or fetch() calls do.


def _stored_session(harness: StoreHarness, config: SessionConfig) -> str:
    first = begin(harness.store, config, None)
    first["user"] = "alice"
    session_id = finish(harness.store, config, first)
    assert session_id is not None
    return session_id


def test_a_secret_created_by_one_request_survives_a_data_write_by_another(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    a = begin(harness.store, config, session_id)
    b = begin(harness.store, config, session_id)

    secret = a.csrf_secret  # A renders a form
    finish(harness.store, config, a)
    b["cart"] = ["book"]  # B, loaded before, saves data afterwards
    finish(harness.store, config, b)

    stored = harness.store.load(store_key(session_id))
    assert stored is not None
    assert stored.csrf_secret == secret
    assert stored.data == {"user": "alice", "cart": ["book"]}


def test_a_rotated_secret_survives_a_write_by_a_request_that_loaded_before(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    seed = begin(harness.store, config, session_id)
    old_secret = seed.csrf_secret
    finish(harness.store, config, seed)
    a = begin(harness.store, config, session_id)
    b = begin(harness.store, config, session_id)

    a.rotate_csrf_secret()
    finish(harness.store, config, a)
    b["cart"] = ["book"]
    finish(harness.store, config, b)

    stored = harness.store.load(store_key(session_id))
    assert stored is not None
    assert stored.csrf_secret == a.csrf_secret
    assert stored.csrf_secret != old_secret
    assert stored.data["cart"] == ["book"]


def test_a_write_after_a_concurrent_login_rotation_does_not_revive_the_old_id(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    a = begin(harness.store, config, session_id)
    b = begin(harness.store, config, session_id)

    a.rotate_id()  # login
    a.rotate_csrf_secret()
    new_id = finish(harness.store, config, a)
    b["cart"] = ["book"]
    finish(harness.store, config, b)

    assert new_id is not None
    assert harness.store.load(store_key(session_id)) is None
    stored = harness.store.load(store_key(new_id))
    assert stored is not None
    assert stored.csrf_secret == a.csrf_secret


def test_a_write_after_a_concurrent_logout_does_not_revive_the_session(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    a = begin(harness.store, config, session_id)
    b = begin(harness.store, config, session_id)

    a.clear()  # logout
    finish(harness.store, config, a)
    b["cart"] = ["book"]
    _ = b.csrf_secret
    finish(harness.store, config, b)

    assert harness.store.load(store_key(session_id)) is None


def test_the_first_of_two_concurrently_created_secrets_is_kept(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    a = begin(harness.store, config, session_id)
    b = begin(harness.store, config, session_id)

    first = a.csrf_secret
    _ = b.csrf_secret
    finish(harness.store, config, a)
    finish(harness.store, config, b)

    stored = harness.store.load(store_key(session_id))
    assert stored is not None
    assert stored.csrf_secret == first


def test_a_request_that_only_read_never_writes_back_stale_data(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    harness.clock.advance(61)  # the idle deadline is due for a refresh
    reader = begin(harness.store, config, session_id)
    writer = begin(harness.store, config, session_id)

    writer["user"] = "bob"
    finish(harness.store, config, writer)
    assert reader["user"] == "alice"
    finish(harness.store, config, reader)  # refreshes the deadline only

    stored = harness.store.load(store_key(session_id))
    assert stored is not None
    assert stored.data == {"user": "bob"}


def test_rotating_the_id_keeps_a_secret_created_meanwhile_on_the_old_id(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    a = begin(harness.store, config, session_id)
    b = begin(harness.store, config, session_id)

    secret = b.csrf_secret
    finish(harness.store, config, b)
    a.rotate_id()  # a new id but, unusually, the same secret
    new_id = finish(harness.store, config, a)

    assert new_id is not None
    stored = harness.store.load(store_key(new_id))
    assert stored is not None
    assert stored.csrf_secret == secret


def test_concurrent_writers_never_lose_the_secret_a_rotator_sets(
    harness: StoreHarness,
) -> None:
    """Threads write data to one session while another keeps rotating its
    secret: every load sees a secret, and the last rotation is what stays."""
    config = SessionConfig(clock=harness.clock)
    session_id = _stored_session(harness, config)
    seed = begin(harness.store, config, session_id)
    _ = seed.csrf_secret
    finish(harness.store, config, seed)
    errors: list[BaseException] = []
    lost: list[int] = []
    last_secret: list[bytes] = []

    def guarded(body: Callable[[Driver], None]) -> Callable[[Driver], None]:
        def run(driver: Driver) -> None:
            try:
                body(driver)
            except BaseException as exc:
                errors.append(exc)

        return run

    @guarded
    def rotate(driver: Driver) -> None:
        for _ in range(25):
            session = begin(driver, config, session_id)
            session.rotate_csrf_secret()
            last_secret[:] = [session.csrf_secret]
            finish(driver, config, session)

    @guarded
    def write(driver: Driver) -> None:
        for i in range(25):
            session = begin(driver, config, session_id)
            if not session.has_csrf_secret:
                lost.append(i)
            session[f"w{threading.get_ident()}"] = i
            finish(driver, config, session)

    threads = [threading.Thread(target=rotate, args=(harness.driver(),))]
    threads += [
        threading.Thread(target=write, args=(harness.driver(),)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert lost == []
    stored = harness.store.load(store_key(session_id))
    assert stored is not None
    assert stored.csrf_secret == last_secret[0]


def test_session_ids_are_fresh_and_never_reach_the_store(
    harness: StoreHarness,
) -> None:
    config = SessionConfig(clock=harness.clock)
    session = begin(harness.store, config, None)
    session["user"] = "alice"
    session_id = finish(harness.store, config, session)

    assert session_id is not None
    assert harness.store.load(session_id) is None
    assert harness.store.load(store_key(session_id)) is not None
    assert session_id != new_session_id()
