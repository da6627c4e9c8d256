"""What the session-store tests share: clocks, a real redis-server, and a
harness that drives any store through its sync or its async API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis

from forgeproof.sessions.base import (
    Session,
    SessionChanges,
    SessionConfig,
    SessionRecord,
    open_session,
    store_key,
)
from support.servers import free_port, wait_for_port

T = TypeVar("T")


class Clock(Protocol):
    def __call__(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RealClock:
    """Wall time, for Redis, which expires keys on its own clock.

    A short advance really waits, so Redis ages its keys too. A long one
    (past every TTL a test sets and waits out) only moves this clock, for
    tests about the session layer's own deadlines.
    """

    LONGEST_WAIT_SECONDS = 5.0

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds <= self.LONGEST_WAIT_SECONDS:
            time.sleep(seconds)
        else:
            self.offset += seconds


class AnyStore(Protocol):
    def load(self, key: str) -> SessionRecord | None: ...

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None: ...

    def delete(self, key: str) -> None: ...

    async def aload(self, key: str) -> SessionRecord | None: ...

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None: ...

    async def adelete(self, key: str) -> None: ...


class Driver:
    """Calls a store through one of its two APIs, with sync signatures.

    The async API runs on this driver's own event loop, so a test can use
    one driver per thread.
    """

    def __init__(self, store: AnyStore, api: str) -> None:
        self.store = store
        self.api = api
        self._loop = asyncio.new_event_loop() if api == "async" else None

    def load(self, key: str) -> SessionRecord | None:
        if self._loop is None:
            return self.store.load(key)
        return self._run(self.store.aload(key))

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        if self._loop is None:
            self.store.save(key, record, expires_at, replaces=replaces, changes=changes)
            return
        self._run(
            self.store.asave(
                key, record, expires_at, replaces=replaces, changes=changes
            )
        )

    def delete(self, key: str) -> None:
        if self._loop is None:
            self.store.delete(key)
            return
        self._run(self.store.adelete(key))

    def close(self) -> None:
        if self._loop is None:
            return
        aclose = getattr(self.store, "aclose", None)
        if aclose is not None:
            self._loop.run_until_complete(aclose())
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return self._loop.run_until_complete(coro)


@dataclass
class StoreHarness:
    """One store under test, with the backend-specific probes the contract
    needs: plant a raw value, read a key's remaining lifetime, open a store
    in another namespace of the same backend."""

    kind: str
    api: str
    backend: AnyStore
    clock: Clock
    plant_raw: Callable[[str, str], None]
    ttl_of: Callable[[str], float | None]
    open_sibling: Callable[[], AnyStore]
    closers: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._drivers: list[Driver] = []
        self.store = self.driver()

    def driver(self, backend: AnyStore | None = None) -> Driver:
        """Another driver of the store (or of *backend*), e.g. for a thread."""
        driver = Driver(backend or self.backend, self.api)
        self._drivers.append(driver)
        return driver

    def sibling(self) -> Driver:
        """A store in another namespace of the same backend."""
        backend = self.open_sibling()
        close = getattr(backend, "close", None)
        if close is not None:
            self.closers.append(close)
        return self.driver(backend)

    def close(self) -> None:
        for driver in self._drivers:
            driver.close()
        for close in reversed(self.closers):
            close()


def record(
    data: dict[str, Any] | None = None,
    secret: bytes | None = None,
    *,
    at: float,
) -> SessionRecord:
    return SessionRecord(dict(data or {}), secret, at, at)


# Requests of a session, as an adapter runs them: load at the start, write
# when the response starts.


def begin(store: Driver, config: SessionConfig, session_id: str | None) -> Session:
    stored = store.load(store_key(session_id)) if session_id else None
    return open_session(config, session_id, stored, 1 if session_id else 0)


def finish(store: Driver, config: SessionConfig, session: Session) -> str | None:
    write = session.plan_write(config, "http")
    if write is not None:
        write.perform(store)
    return session.id


class RedisProcess:
    """A real redis-server on a loopback port: no persistence, its files in
    a temp dir, stopped by PID."""

    def __init__(
        self, binary: str, directory: Path, *, extra: tuple[str, ...] = ()
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)

    def kill(self) -> None:
        """Stop it the hard way, as a crash would."""
        if self.process is None:
            return
        self.resume()
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """Freeze it: connections open, nothing answered (a slow Redis)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
