"""Session stores under attack: crafted cookie values never reach a store
as anything but a digest, and corrupted or foreign rows in SQLite or Redis
read as "no session", never as an error or an immortal session."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from adversarial2.adv2_apps import asgi_app, wsgi_app
from adversarial2.adv2_support import COOKIE, Recorder
from forgeproof import MemorySessionStore, SessionRecord, SQLiteSessionStore
from forgeproof.sessions.base import new_session_id, store_key
from forgeproof.sessions.redis import RedisSessionStore
from sessions.store_harness import RedisProcess
from support.parts import require_binary
from support.servers import serve_asgi, serve_wsgi

_DIGEST = re.compile(r"[0-9a-f]{64}")


class _SpyStore(MemorySessionStore):
    """Remembers every key it was asked to load."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def load(self, key: str) -> SessionRecord | None:
        self.loaded.append(key)
        return super().load(key)

    async def aload(self, key: str) -> SessionRecord | None:
        self.loaded.append(key)
        return await super().aload(key)


_CRAFTED = [
    "*",
    "forgeproof:session:*",
    "../../etc/passwd",
    "a" * 42 + "*",
    "a" * 42 + "\\",
    "%2A" * 15,
    "' OR 1=1 --" + "a" * 32,
    "a" * 43 + " FLUSHALL",
    "x" * 10_000,
    "a" * 42 + "é",
]


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_crafted_session_ids_reach_the_store_only_as_digests(adapter: str) -> None:
    store = _SpyStore()
    recorder = Recorder()
    app: Any = (asgi_app if adapter == "asgi" else wsgi_app)(
        recorder, store, client=False
    )
    serve = serve_asgi if adapter == "asgi" else serve_wsgi
    statuses = []
    with serve(app) as base:
        control = httpx.get(base + "/page").cookies[COOKIE]
        for value in [*_CRAFTED, control]:
            cookie = f"{COOKIE}={value}".encode()
            response = httpx.post(
                base + "/echo",
                headers=[(b"Cookie", cookie), (b"X-CSRF-Token", b"x" * 86)],
            )
            statuses.append(response.status_code)

    assert all(_DIGEST.fullmatch(key) for key in store.loaded)
    assert store_key(control) in store.loaded
    assert set(statuses) == {403}
    assert recorder.ran == []


def _plant_sqlite(path: Path, key: str, value: Any, expires_at: Any) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT OR REPLACE INTO forgeproof_sessions VALUES (?, ?, ?)",
            (key, value, expires_at),
        )
    db.close()


_CORRUPT_ROWS = [
    pytest.param("not json", id="not json"),
    pytest.param("[1, 2]", id="json list"),
    pytest.param('{"d": [], "s": null, "c": 1, "a": 1}', id="data not a dict"),
    pytest.param('{"d": {}, "s": "zz", "c": 1, "a": 1}', id="secret not hex"),
    pytest.param('{"d": {}, "s": "00", "c": 1, "a": 1}', id="secret too short"),
    pytest.param('{"d": {}, "s": null, "c": "x", "a": 1}', id="time not a number"),
    pytest.param(b"\xff\xfe\x00garbage", id="binary blob"),
    pytest.param(12345, id="integer"),
    pytest.param("[" * 100_000, id="deep nesting"),
]


@pytest.mark.parametrize("value", _CORRUPT_ROWS)
def test_corrupted_sqlite_rows_are_no_session_and_no_error(
    tmp_path: Path, value: Any
) -> None:
    path = tmp_path / "s.db"
    store = SQLiteSessionStore(path)
    session_id = new_session_id()
    _plant_sqlite(path, store_key(session_id), value, time.time() + 3600)
    recorder = Recorder()

    with serve_wsgi(wsgi_app(recorder, store, client=False)) as base:
        cookies = {COOKIE: session_id}
        whoami = httpx.get(base + "/whoami", cookies=cookies)
        post = httpx.post(
            base + "/echo",
            cookies=cookies,
            headers={"X-CSRF-Token": "x" * 86, "Accept": "application/json"},
        )

    assert whoami.status_code == 200
    assert whoami.text == "anon"
    assert post.status_code == 403
    assert post.json()["reason"] == "session_missing"
    assert recorder.ran == []


_NON_FINITE = [
    pytest.param(
        '{"d": {"user": "x"}, "s": null, "c": Infinity, "a": 1e999}', id="inf"
    ),
    pytest.param('{"d": {"user": "x"}, "s": null, "c": NaN, "a": NaN}', id="nan"),
    pytest.param('{"d": {"user": "x"}, "s": null, "c": "inf", "a": "nan"}', id="text"),
]


@pytest.mark.parametrize("raw", _NON_FINITE)
def test_rows_with_non_finite_times_are_no_session(tmp_path: Path, raw: str) -> None:
    path = tmp_path / "s.db"
    store = SQLiteSessionStore(path)
    key = store_key(new_session_id())
    _plant_sqlite(path, key, raw, time.time() + 3600)

    assert store.load(key) is None


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("redis-server", "redis-server")
    server = RedisProcess(binary, tmp_path_factory.mktemp("redis-adv2"))
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


def _foreign_values(client: redis.Redis, name: str, kind: str) -> None:
    if kind == "list":
        client.rpush(name, "a", "b")
    elif kind == "hash":
        client.hset(name, mapping={"d": "{}"})
    elif kind == "garbage":
        client.set(name, b"\xff\x00not a session")
    elif kind == "huge":
        client.set(name, b'{"d": {"x": "' + b"a" * 5_000_000 + b'"}}')
    else:
        client.set(name, '{"d": {"user": "x"}, "s": null, "c": NaN, "a": NaN}')


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["list", "hash", "garbage", "huge"])
def test_foreign_redis_values_are_no_session_and_no_error(
    redis_url: str, kind: str
) -> None:
    prefix = f"adv2:{kind}:"
    store = RedisSessionStore(redis_url, key_prefix=prefix)
    session_id = new_session_id()
    with redis.Redis.from_url(redis_url) as client:
        _foreign_values(client, prefix + store_key(session_id), kind)
    recorder = Recorder()

    try:
        with serve_wsgi(wsgi_app(recorder, store, client=False)) as base:
            cookies = {COOKIE: session_id}
            whoami = httpx.get(base + "/whoami", cookies=cookies)
            post = httpx.post(
                base + "/echo",
                cookies=cookies,
                headers={"X-CSRF-Token": "x" * 86, "Accept": "application/json"},
            )
    finally:
        store.close()

    assert whoami.text == "anon"
    assert post.status_code == 403
    assert post.json()["reason"] == "session_missing"
    assert recorder.ran == []


@pytest.mark.redis
def test_redis_key_prefixes_that_extend_each_other_never_share_sessions(
    redis_url: str,
) -> None:
    short = RedisSessionStore(redis_url, key_prefix="app:")
    long = RedisSessionStore(redis_url, key_prefix="app:a")
    record = SessionRecord({"user": "alice"}, None, time.time(), time.time())
    # "app:" + "a..." and "app:a" + "..." could only meet if keys varied in
    # length; the session layer's keys are always 64 hex digits.
    keys = ["a" + store_key(new_session_id())[1:] for _ in range(20)]
    try:
        for key in keys:
            short.save(key, record, time.time() + 60)
        seen_by_long = [long.load(key) for key in keys]
    finally:
        short.close()
        long.close()

    assert seen_by_long == [None] * len(keys)
