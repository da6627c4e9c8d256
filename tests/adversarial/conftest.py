"""Fixtures for the adversarial suite: one protected app served by uvicorn."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from adversarial.adv_support import Recorder, Target, build_app
from forgeproof.sessions.memory import MemorySessionStore
from support.servers import serve_asgi


@pytest.fixture(scope="session")
def _running() -> Iterator[Target]:
    recorder = Recorder()
    store = MemorySessionStore()
    with serve_asgi(build_app(recorder, store)) as base:
        port = int(base.rsplit(":", 1)[1])
        yield Target(base, port, recorder, store)


@pytest.fixture
def target(_running: Target) -> Iterator[Target]:
    _running.recorder.reset()
    yield _running
    # Give a request the client gave up on a moment to finish, then make
    # sure no test leaves an exception behind for the next one.
    time.sleep(0.01)
