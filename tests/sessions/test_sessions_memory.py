"""What the memory store adds to the contract: sessions nobody loads again
are swept out, so a long-running process does not grow without bound."""

from __future__ import annotations

from forgeproof.sessions import MemorySessionStore
from sessions.store_harness import FakeClock, record


def test_expired_sessions_that_are_never_loaded_again_are_swept() -> None:
    clock = FakeClock()
    store = MemorySessionStore(clock=clock)
    for i in range(1000):
        store.save(f"old-{i}", record(at=clock()), clock() + 10)
    clock.advance(60)

    for i in range(1000):
        store.save(f"new-{i}", record(at=clock()), clock() + 10)

    assert not any(key.startswith("old-") for key in store._entries)
    assert len(store._entries) == 1000
