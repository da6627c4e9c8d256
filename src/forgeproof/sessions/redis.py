"""A session store in Redis (or Valkey): one set of sessions for every
instance of an app behind a load balancer.

Each session is one string key, ``<key_prefix><sha256 of the id>``, holding
the record's JSON with a TTL that ends at the session's idle or absolute
deadline, whichever comes first. Every operation names only that key, so
the store works on Redis Cluster, with one exception: rotating a session to
a new id (at login) removes the old key and writes the new one in a single
``MULTI``/``EXEC`` transaction, and a cluster only runs a transaction whose
keys hash to one slot. On Cluster, give the prefix a hash tag, such as
``"{forgeproof}:session:"``: rotation stays atomic, at the price of keeping
all sessions on one shard. Without a hash tag the cluster refuses the
rotation (``CROSSSLOT``), which fails closed as an unavailable store.

Needs redis-py: ``pip install 'forgeproof[redis]'``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, StoreUnavailableError
from .base import SessionChanges, SessionRecord, merge_record

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    import redis.asyncio.client
    import redis.client

__all__ = ["DEFAULT_KEY_PREFIX", "RedisSessionStore"]

DEFAULT_KEY_PREFIX = "forgeproof:session:"
DEFAULT_SOCKET_TIMEOUT_SECONDS = 1.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 1.0
DEFAULT_MAX_CONNECTIONS = 100

# A merged save watches the session's key and retries when another request
# wrote it in between. Only requests of one browser session contend, so a
# few dozen attempts are plenty; past that, refusing beats spinning. A
# short random pause between attempts keeps contending writers from
# colliding in lockstep.
_MERGE_ATTEMPTS = 32
_MERGE_PAUSE_SECONDS = 0.002


def _merge_pause(attempt: int) -> float:
    return random.uniform(0, _MERGE_PAUSE_SECONDS * min(attempt, 8))  # noqa: S311


def _require_redis() -> None:
    try:
        import redis
        import redis.asyncio  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "RedisSessionStore needs redis-py; install it with "
            "pip install 'forgeproof[redis]'"
        ) from exc


class RedisSessionStore:
    """Sessions in Redis, for several processes or machines.

    The synchronous methods use redis-py's blocking client (for WSGI), the
    ``a``-prefixed ones its asyncio client (for ASGI, so a slow Redis never
    blocks the event loop); each keeps a connection pool. A Redis that is
    down, answers with an error, or is slower than *socket_timeout* raises
    :class:`~forgeproof.errors.StoreUnavailableError` at once (no backoff:
    the middleware then refuses unsafe requests with 503). One immediate
    retry on a dropped connection lets a pool outlive a Redis restart.

    A value under a session key that this store did not write (corrupted,
    of another type, from another program) reads as "no session".

    :param url: ``redis://[[user]:password@]host[:port][/db]``, or
        ``rediss://`` for TLS; redis-py's query options (``ssl_ca_certs``,
        ``ssl_cert_reqs``...) work too. The password never appears in the
        store's ``repr``.
    :param key_prefix: put before every key. Give each app its own, so two
        apps sharing a Redis never read each other's sessions; see the
        module docs for a hash tag on Redis Cluster.
    :param socket_timeout: seconds a command may take before Redis counts
        as unavailable.
    :param connect_timeout: seconds a new connection may take.
    :param max_connections: size of each connection pool.
    :param clock: the time source that ``expires_at`` values are read
        against to compute the TTL; Redis then expires keys on its own clock.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_SECONDS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _require_redis()
        import redis
        from redis.asyncio.retry import Retry as AsyncRetry
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if not url.startswith(("redis://", "rediss://")):
            raise ConfigurationError(
                "the Redis session store needs a redis:// or rediss:// URL"
            )
        if not key_prefix:
            raise ConfigurationError(
                "key_prefix must not be empty: it keeps sessions apart from "
                "other data in the same Redis"
            )
        if socket_timeout <= 0 or connect_timeout <= 0:
            raise ConfigurationError("timeouts must be positive numbers of seconds")

        self.key_prefix = key_prefix
        self._url = url
        self._clock = clock
        self._options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "max_connections": max_connections,
        }
        self._async_retry = AsyncRetry(
            NoBackoff(), 1, supported_errors=(redis.ConnectionError,)
        )
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            **self._options,
        )
        # asyncio connections belong to the event loop that opened them, so
        # each loop gets its own client.
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        where = f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
        return f"<RedisSessionStore {where} key_prefix={self.key_prefix!r}>"

    def load(self, key: str) -> SessionRecord | None:
        """Return the record under *key*, or ``None``."""
        import redis

        with _unavailable_on_error():
            try:
                raw = self._client.get(self._name(key))
            except redis.ResponseError as exc:
                if _is_wrong_type(exc):
                    return None
                raise

        return _parse(raw)

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """File *record* under *key*, removing *replaces* in one transaction.

        With *changes*, the stored record is read under ``WATCH`` and the
        merged record written with ``MULTI``/``EXEC``; if another request
        wrote the key in between, it starts over with the new value.
        """
        name, old = self._name(key), self._name(replaces) if replaces else None
        ttl_ms = self._ttl_ms(expires_at)
        with _unavailable_on_error(), self._client.pipeline() as pipe:
            for attempt in range(_MERGE_ATTEMPTS):
                if self._save_once(pipe, name, old, record, ttl_ms, changes):
                    return
                time.sleep(_merge_pause(attempt))

        raise StoreUnavailableError("redis")

    def _save_once(
        self,
        pipe: redis.client.Pipeline,
        name: str,
        old: str | None,
        record: SessionRecord,
        ttl_ms: int,
        changes: SessionChanges | None,
    ) -> bool:
        import redis

        if changes is not None:
            watched = old or name
            pipe.watch(watched)  # type: ignore[no-untyped-call]
            stored = _parse(_watched_value(pipe, watched))
            merged = merge_record(record, stored, changes, rotating=bool(old))
            if merged is None:
                pipe.reset()
                return True
            record = merged
        pipe.multi()
        pipe.set(name, record.to_json(), px=ttl_ms)
        if old is not None:
            pipe.delete(old)
        try:
            pipe.execute()
        except redis.WatchError:
            return False

        return True

    def delete(self, key: str) -> None:
        """Forget *key*."""
        with _unavailable_on_error():
            self._client.delete(self._name(key))

    async def aload(self, key: str) -> SessionRecord | None:
        """As :meth:`load`, on the asyncio client."""
        import redis

        with _unavailable_on_error():
            try:
                raw = await self._async_client().get(self._name(key))
            except redis.ResponseError as exc:
                if _is_wrong_type(exc):
                    return None
                raise

        return _parse(raw)

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """As :meth:`save`, on the asyncio client."""
        name, old = self._name(key), self._name(replaces) if replaces else None
        ttl_ms = self._ttl_ms(expires_at)
        with _unavailable_on_error():
            async with self._async_client().pipeline() as pipe:
                for attempt in range(_MERGE_ATTEMPTS):
                    if await self._asave_once(pipe, name, old, record, ttl_ms, changes):
                        return
                    await asyncio.sleep(_merge_pause(attempt))

        raise StoreUnavailableError("redis")

    async def _asave_once(
        self,
        pipe: redis.asyncio.client.Pipeline,
        name: str,
        old: str | None,
        record: SessionRecord,
        ttl_ms: int,
        changes: SessionChanges | None,
    ) -> bool:
        import redis

        if changes is not None:
            watched = old or name
            await pipe.watch(watched)
            stored = _parse(await _awatched_value(pipe, watched))
            merged = merge_record(record, stored, changes, rotating=bool(old))
            if merged is None:
                await pipe.reset()  # type: ignore[no-untyped-call]
                return True
            record = merged
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.set(name, record.to_json(), px=ttl_ms)
        if old is not None:
            pipe.delete(old)
        try:
            await pipe.execute()
        except redis.WatchError:
            return False

        return True

    async def adelete(self, key: str) -> None:
        """As :meth:`delete`, on the asyncio client."""
        with _unavailable_on_error():
            await self._async_client().delete(self._name(key))

    def close(self) -> None:
        """Close the blocking client's pool, and the asyncio clients of event
        loops that are still open (from any thread)."""
        self._client.close()
        for loop, client in list(self._async_clients.items()):
            if loop.is_closed():
                continue
            if loop.is_running():
                future = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
                future.result(timeout=5)
            else:
                loop.run_until_complete(client.aclose())
            self._async_clients.pop(loop, None)

    async def aclose(self) -> None:
        """Close the asyncio client of the running event loop."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def _async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(
                self._url, retry=self._async_retry, **self._options
            )
            self._async_clients[loop] = client
        return client

    def _name(self, key: str) -> str:
        return self.key_prefix + key

    def _ttl_ms(self, expires_at: float) -> int:
        # A relative TTL, so Redis expires the key on its own clock; at
        # least 1 ms, since SET refuses a zero or negative one.
        return max(1, math.ceil((expires_at - self._clock()) * 1000))


def _parse(raw: object) -> SessionRecord | None:
    if not isinstance(raw, (bytes, str)):
        return None

    return SessionRecord.from_json(raw)


def _is_wrong_type(exc: Exception) -> bool:
    # A list or hash under a session key: someone else's data, not an outage.
    return str(exc).startswith("WRONGTYPE")


def _watched_value(pipe: redis.client.Pipeline, name: str) -> object:
    import redis

    try:
        return pipe.get(name)
    except redis.ResponseError as exc:
        if _is_wrong_type(exc):
            return None
        raise


async def _awatched_value(pipe: redis.asyncio.client.Pipeline, name: str) -> object:
    import redis

    try:
        return await pipe.get(name)
    except redis.ResponseError as exc:
        if _is_wrong_type(exc):
            return None
        raise


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    import redis

    try:
        yield
    except (redis.RedisError, OSError) as exc:
        raise StoreUnavailableError("redis") from exc
