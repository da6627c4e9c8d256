"""What the Redis store adds to the contract: URLs, TLS, passwords, values
of other types, and failing closed when Redis dies or freezes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from forgeproof.errors import ConfigurationError, StoreUnavailableError
from forgeproof.sessions import (
    MemorySessionStore,
    SQLiteSessionStore,
    store_from_url,
)
from forgeproof.sessions.redis import RedisSessionStore
from sessions.notes_app import NotesApp, json_headers
from sessions.store_harness import RedisProcess, record
from support.parts import require_binary
from support.servers import serve_asgi

# --- construction, no server needed -----------------------------------------


def test_without_redis_py_the_error_names_the_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "from forgeproof.sessions import RedisSessionStore\n"
        "try:\n"
        "    RedisSessionStore('redis://127.0.0.1:1/0')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert "pip install 'forgeproof[redis]'" in result.stdout


def test_a_rediss_url_connects_over_tls_with_the_url_options() -> None:
    store = RedisSessionStore(
        "rediss://:pw@cache.internal:6380/4?ssl_cert_reqs=required", key_prefix="a:"
    )
    pool = store._client.connection_pool

    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["host"] == "cache.internal"
    assert pool.connection_kwargs["port"] == 6380
    assert pool.connection_kwargs["db"] == 4
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["socket_timeout"] == 1.0
    assert "pw" not in repr(store)
    store.close()


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        pytest.param("http://127.0.0.1:6379/0", "p:", id="not a redis url"),
        pytest.param("redis://127.0.0.1:6379/0", "", id="empty prefix"),
    ],
)
def test_a_bad_setting_is_refused_at_construction(url: str, prefix: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisSessionStore(url, key_prefix=prefix)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        pytest.param("memory://", MemorySessionStore, id="memory"),
        pytest.param("redis://127.0.0.1:6379/2", RedisSessionStore, id="redis"),
        pytest.param("rediss://127.0.0.1:6380/0", RedisSessionStore, id="rediss"),
    ],
)
def test_store_from_url_opens_the_store_its_scheme_names(
    url: str, kind: type[object]
) -> None:
    store = store_from_url(url)

    assert isinstance(store, kind)
    if isinstance(store, RedisSessionStore):
        store.close()


def test_store_from_url_opens_sqlite_files(tmp_path: Path) -> None:
    store = store_from_url(f"sqlite:///{tmp_path / 's.db'}")

    assert isinstance(store, SQLiteSessionStore)
    assert store.path == tmp_path / "s.db"
    store.close()


@pytest.mark.parametrize("url", ["postgres://db/x", "sqlite:///", "redis", ""])
def test_store_from_url_refuses_unknown_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        store_from_url(url)


# --- against a real redis-server -----------------------------------------------


@pytest.fixture
def store(redis_process: RedisProcess) -> Iterator[RedisSessionStore]:
    made = RedisSessionStore(redis_process.url, socket_timeout=0.3, connect_timeout=0.3)
    yield made
    made.close()


@pytest.mark.redis
def test_password_and_db_come_from_the_url(redis_binary: str, tmp_path: Path) -> None:
    server = RedisProcess(redis_binary, tmp_path, extra=("--requirepass", "s3cret"))
    server.start()
    good = RedisSessionStore(f"redis://:s3cret@127.0.0.1:{server.port}/3")
    bad = RedisSessionStore(f"redis://:wrong@127.0.0.1:{server.port}/3")
    admin = redis.Redis(port=server.port, password="s3cret", db=3)
    try:
        good.save("k1", record({"v": 1}, at=time.time()), time.time() + 60)

        assert admin.exists("forgeproof:session:k1") == 1
        with pytest.raises(StoreUnavailableError) as caught:
            bad.load("k1")
        assert isinstance(caught.value.__cause__, redis.AuthenticationError)
        assert "wrong" not in str(caught.value)
    finally:
        admin.close()
        good.close()
        bad.close()
        server.kill()


@pytest.mark.redis
def test_a_rediss_store_works_against_a_tls_redis(
    redis_binary: str, tmp_path: Path
) -> None:
    openssl = require_binary("openssl", "openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = RedisProcess(redis_binary, tmp_path / "redis")
    server.extra = (
        "--port", "0", "--tls-port", str(server.port),
        "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
    )  # fmt: skip
    server.start()
    url = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={cert}"
    store = RedisSessionStore(url)
    plain = RedisSessionStore(f"redis://127.0.0.1:{server.port}/0", socket_timeout=0.5)
    try:
        saved = record({"v": "tls"}, at=time.time())
        store.save("k1", saved, time.time() + 60)

        assert store.load("k1") == saved
        assert asyncio.run(_aload_and_close(store, "k1")) == saved
        with pytest.raises(StoreUnavailableError):
            plain.load("k1")
    finally:
        store.close()
        plain.close()
        server.kill()


async def _aload_and_close(store: RedisSessionStore, key: str) -> object:
    try:
        return await store.aload(key)
    finally:
        await store.aclose()


@pytest.mark.redis
@pytest.mark.parametrize(
    "plant",
    [
        pytest.param(lambda c, k: c.rpush(k, "x"), id="a list"),
        pytest.param(lambda c, k: c.hset(k, "d", "{}"), id="a hash"),
        pytest.param(lambda c, k: c.set(k, b"\xff\xfe\x00"), id="bytes not utf-8"),
    ],
)
def test_a_value_of_another_kind_under_a_session_key_is_no_session(
    store: RedisSessionStore, redis_process: RedisProcess, plant: object
) -> None:
    client = redis_process.client()
    plant(client, "forgeproof:session:k1")  # type: ignore[operator]

    assert store.load("k1") is None
    assert asyncio.run(_aload_and_close(store, "k1")) is None
    saved = record({"v": 1}, at=time.time())
    store.save("k1", saved, time.time() + 60)
    assert store.load("k1") == saved
    client.close()


@pytest.mark.redis
def test_a_dead_redis_is_unavailable_at_once_and_the_same_store_recovers(
    store: RedisSessionStore, redis_process: RedisProcess
) -> None:
    saved = record({"v": 1}, at=time.time())
    store.save("k1", saved, time.time() + 60)
    redis_process.kill()

    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        store.load("k1")
    with pytest.raises(StoreUnavailableError):
        asyncio.run(_aload_and_close(store, "k1"))
    with pytest.raises(StoreUnavailableError):
        store.save("k2", saved, time.time() + 60)
    elapsed = time.monotonic() - started
    redis_process.start()
    store.save("k2", saved, time.time() + 60)

    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert elapsed < 3
    assert store.load("k2") == saved
    assert store.load("k1") is None  # no persistence: the restart lost it


@pytest.mark.redis
def test_a_frozen_redis_times_out_as_unavailable(
    store: RedisSessionStore, redis_process: RedisProcess
) -> None:
    saved = record({"v": 1}, at=time.time())
    store.save("k1", saved, time.time() + 60)
    redis_process.pause()

    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        store.load("k1")
    elapsed = time.monotonic() - started
    redis_process.resume()

    assert isinstance(caught.value.__cause__, redis.TimeoutError)
    assert elapsed < 2
    assert store.load("k1") == saved


# --- a served app while Redis dies, freezes and comes back ----------------------


@pytest.fixture
def served(
    redis_process: RedisProcess,
) -> Iterator[tuple[NotesApp, httpx.Client, RedisSessionStore]]:
    store = RedisSessionStore(
        redis_process.url, socket_timeout=0.3, connect_timeout=0.3
    )
    notes = NotesApp(store)
    with (
        serve_asgi(notes.app) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield notes, client, store
        redis_process.resume()
        store.close()  # the asyncio client, on uvicorn's own loop


def _form_token(client: httpx.Client) -> str:
    response = client.get("/form")
    assert response.status_code == 200
    token: str = response.json()["token"]
    return token


def _post(client: httpx.Client, token: str, text: str) -> httpx.Response:
    return client.post("/notes", json={"text": text}, headers=json_headers(token))


@pytest.mark.redis
def test_killing_redis_mid_run_refuses_writes_and_the_same_client_carries_on(
    served: tuple[NotesApp, httpx.Client, RedisSessionStore],
    redis_process: RedisProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    notes, client, _ = served
    token = _form_token(client)
    assert _post(client, token, "before").status_code == 201

    redis_process.kill()
    refused = [_post(client, token, f"during {i}") for i in range(3)]
    ping = client.get("/ping")
    form = client.get("/form", headers=json_headers())

    assert [r.status_code for r in refused] == [503, 503, 503]
    assert {r.json()["reason"] for r in refused} == {"store_unavailable"}
    assert notes.notes == ["before"]
    assert ping.status_code == 200
    assert form.status_code == 503
    errors = [r for r in caplog.records if r.name == "forgeproof.sessions"]
    assert [r.levelname for r in errors] == ["ERROR"]

    redis_process.start()  # same port, empty: it kept nothing
    stale = _post(client, token, "stale")
    fresh_token = _form_token(client)
    carried_on = _post(client, fresh_token, "after")

    assert stale.status_code == 403
    assert stale.json()["reason"] == "session_missing"
    assert carried_on.status_code == 201
    assert notes.notes == ["before", "after"]
    assert token not in caplog.text


@pytest.mark.redis
def test_a_frozen_redis_refuses_writes_and_the_session_lives_on_after_it(
    served: tuple[NotesApp, httpx.Client, RedisSessionStore],
    redis_process: RedisProcess,
) -> None:
    notes, client, _ = served
    token = _form_token(client)

    redis_process.pause()
    started = time.monotonic()
    refused = _post(client, token, "during")
    elapsed = time.monotonic() - started
    redis_process.resume()
    after = _post(client, token, "after")

    assert refused.status_code == 503
    assert refused.json()["reason"] == "store_unavailable"
    assert elapsed < 3
    assert after.status_code == 201
    assert notes.notes == ["after"]
