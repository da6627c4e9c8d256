"""The per-request shortcuts give the same answers as the long way round:
request facts stay frozen, the cookie and cache-header shortcuts match
the full parsers, the WSGI replay stream reads the same bytes whichever
method the app uses, and the memory store keeps its isolation while it
skips JSON and sweeps a few sessions at a time."""

from __future__ import annotations

import dataclasses
import io
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeproof._caching import cache_headers, cache_headers_raw
from forgeproof._cookies import cookie_values, parse_cookie_header
from forgeproof.origins import _own_origin, own_origin
from forgeproof.policy import RequestFacts
from forgeproof.sessions.base import Session, SessionRecord
from forgeproof.sessions.memory import _SWEEP_PER_SAVE, MemorySessionStore
from forgeproof.tokens import new_secret
from forgeproof.wsgi import _ReplayInput


def test_request_facts_stay_frozen_hashable_and_replaceable() -> None:
    facts = RequestFacts("POST", "https", "a.example", "/", origin="https://x")

    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.origin = "https://a.example"  # type: ignore[misc]
    assert hash(facts) == hash(
        RequestFacts("POST", "https", "a.example", "/", "https://x")
    )
    assert dataclasses.replace(facts, authorization="[redacted]").authorization == (
        "[redacted]"
    )
    assert facts.x_forwarded_port is None


@given(
    scheme=st.sampled_from(["http", "https", "HTTPS", "ftp"]),
    host=st.text(alphabet="aZ09.-_:[]é ", max_size=12) | st.just("h" * 400),
)
def test_own_origin_answers_as_the_uncached_parser(scheme: str, host: str) -> None:
    expected = _own_origin(scheme, host) if host else None

    assert own_origin(scheme, host) == expected


def test_own_origin_keeps_no_overlong_host_in_its_cache() -> None:
    from forgeproof.origins import _own_origin_cached

    before = _own_origin_cached.cache_info().currsize
    own_origin("http", "h" * 400)

    assert _own_origin_cached.cache_info().currsize == before


@given(
    header=st.text(alphabet='ab=; ",\t', max_size=30),
    name=st.sampled_from(["a", "ab", "b"]),
)
def test_cookie_values_match_the_full_cookie_parser(header: str, name: str) -> None:
    expected = [value for key, value in parse_cookie_header(header) if key == name]

    assert cookie_values(header, name) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"content-type", b"text/html")],
        [(b"Vary", b"Accept")],
        [(b"cache-control", b"public, max-age=60")],
        [(b"x-a", b"1"), (b"VARY", b"cookie")],
        [(b"Surrogate-Control", b"max-age=600")],
    ],
    ids=["none", "unrelated", "vary", "cache-control", "upper-case vary", "cdn"],
)
def test_raw_cache_headers_match_the_text_ones(
    headers: list[tuple[bytes, bytes]],
) -> None:
    for accessed, issued, sets_cookie in itertools.product([False, True], repeat=3):
        session = Session(None, None, now=0)
        session.accessed, session.token_issued = accessed, issued
        text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        expected = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in cache_headers(session, text, sets_cookie=sets_cookie)
        ]

        got = cache_headers_raw(session, headers, sets_cookie=sets_cookie)

        assert got == expected


class _NoReadinto(io.RawIOBase):
    """A ``wsgi.input`` with only what PEP 3333 promises."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, size: int | None = -1) -> bytes:
        return self._inner.read(size)

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        return self._inner.readline(size)

    readinto = None  # type: ignore[assignment]


reads = st.lists(
    st.tuples(st.sampled_from(["read", "readinto", "readline"]), st.integers(-1, 40)),
    max_size=30,
)


@settings(deadline=None, max_examples=300)
@given(
    body=st.binary(max_size=120).map(lambda b: b.replace(b"\x00", b"\n")),
    head_cuts=st.lists(st.integers(0, 120), max_size=5),
    scanned=st.integers(0, 120),
    ops=reads,
    with_readinto=st.booleans(),
    terminated=st.booleans(),
)
def test_the_replay_stream_reads_like_the_original_whatever_the_calls(
    body: bytes,
    head_cuts: list[int],
    scanned: int,
    ops: list[tuple[str, int]],
    with_readinto: bool,
    terminated: bool,
) -> None:
    scanned = min(scanned, len(body))
    edges = [0, *sorted(c for c in head_cuts if c <= scanned), scanned]
    head = [body[a:b] for a, b in itertools.pairwise(edges)]
    rest = body[scanned:] + b"trailing bytes past CONTENT_LENGTH"
    inner: io.RawIOBase | io.BytesIO = (
        io.BytesIO(rest) if with_readinto else _NoReadinto(rest)
    )
    if terminated:
        inner = (
            io.BytesIO(body[scanned:]) if with_readinto else _NoReadinto(body[scanned:])
        )
    replay = _ReplayInput(head, inner, None if terminated else len(body) - scanned)  # type: ignore[arg-type]
    reference = io.BytesIO(body)

    for op, size in ops:
        if op == "readinto":
            buffer, expected = bytearray(max(size, 0)), bytearray(max(size, 0))
            count = replay.readinto(buffer)
            assert count == reference.readinto(expected)
            assert buffer[:count] == expected[:count]
        else:
            assert getattr(replay, op)(size) == getattr(reference, op)(size)
    assert replay.read() == reference.read()
    assert replay.readable()


def test_a_loaded_session_without_data_is_a_new_record_each_time() -> None:
    store = MemorySessionStore()
    secret = new_secret()
    store.save("k", SessionRecord({}, secret, 1e9, 1e9 + 5), 4e9)

    first = store.load("k")
    assert first is not None
    first.data["user"] = "mallory"  # a request mutating its session in place
    second = store.load("k")

    assert second == SessionRecord({}, secret, 1e9, 1e9 + 5)
    assert second is not None
    assert second.data is not first.data


@pytest.mark.parametrize(
    "record",
    [
        SessionRecord({}, None, 1.5, 2.5),
        SessionRecord({}, new_secret(), 1.0, 2.0),
        SessionRecord({}, None, 1, 2),
        SessionRecord({}, b"short", 1.0, 2.0),
        SessionRecord({}, None, float("inf"), 2.0),
        SessionRecord({"a": [1, {"b": None}]}, None, 1.0, 2.0),
    ],
    ids=["no secret", "secret", "int times", "bad secret", "infinite", "data"],
)
def test_the_memory_store_loads_what_the_json_would_give(
    record: SessionRecord,
) -> None:
    store = MemorySessionStore()
    store.save("k", record, 4e9)

    assert store.load("k") == SessionRecord.from_json(record.to_json())


def test_a_save_sweeps_only_a_few_expired_sessions() -> None:
    now = [1_000.0]
    store = MemorySessionStore(clock=lambda: now[0])
    for i in range(200):
        store.save(f"old-{i}", SessionRecord({}, None, now[0], now[0]), now[0] + 10)
    now[0] += 60

    store.save("new", SessionRecord({}, None, now[0], now[0]), now[0] + 10)

    assert len(store._entries) == 201 - _SWEEP_PER_SAVE
    for i in range(200):
        store.save(f"new-{i}", SessionRecord({}, None, now[0], now[0]), now[0] + 10)
    assert not any(key.startswith("old-") for key in store._entries)


def test_a_session_saved_again_is_swept_only_at_its_new_deadline() -> None:
    now = [1_000.0]
    store = MemorySessionStore(clock=lambda: now[0])
    store.save("busy", SessionRecord({}, None, now[0], now[0]), now[0] + 10)
    now[0] += 9
    store.save("busy", SessionRecord({}, None, now[0], now[0]), now[0] + 10)
    now[0] += 5

    store.save("other", SessionRecord({}, None, now[0], now[0]), now[0] + 10)

    assert "busy" in store._entries
    now[0] += 6
    store.save("other", SessionRecord({}, None, now[0], now[0]), now[0] + 10)
    assert "busy" not in store._entries


def test_the_asgi_adapters_facts_from_raw_headers_equal_the_shared_translation() -> (
    None
):
    """CSRFMiddleware keeps the headers undecoded and builds RequestFacts
    only when something reads them; every field must come out as the
    shared request_facts makes it from decoded headers."""
    from forgeproof._adapter import request_facts
    from forgeproof.asgi import CSRFMiddleware, _raw_headers
    from forgeproof.sessions.base import Session

    names = [
        "host", "origin", "referer", "sec-fetch-site", "authorization",
        "accept", "forwarded", "x-forwarded-proto", "x-forwarded-host",
        "x-forwarded-port",
    ]  # fmt: skip
    pairs = [
        (name.encode(), f"value of {name} \xe9".encode("latin-1")) for name in names
    ]
    pairs.append((b"origin", b"https://second.example"))
    headers = {name: f"value of {name} \xe9" for name in names}
    headers["origin"] += ", https://second.example"
    session = Session(None, None, now=0.0, cookie_count=1)
    scope = {"type": "http", "method": "PATCH", "scheme": "https", "path": "/p"}
    scope["headers"] = pairs

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    middleware = CSRFMiddleware(app)
    built = middleware._facts(scope, _raw_headers(scope), session, exempt=True)
    shared = request_facts(
        method="PATCH",
        scheme="https",
        path="/p",
        header=headers.get,
        session=session,
        exempt=True,
    )

    assert built == shared


@pytest.mark.parametrize(
    ("headers", "expected_tail"),
    [
        ([("content-type", "text/html")], [("vary", "Cookie")]),
        (
            [("content-type", "text/html"), ("Vary", "Accept")],
            [("Vary", "Accept"), ("vary", "Cookie")],
        ),
    ],
    ids=["appended", "merged"],
)
def test_a_page_that_only_read_the_session_varies_by_cookie_and_stays_cacheable(
    headers: list[tuple[str, str]], expected_tail: list[tuple[str, str]]
) -> None:
    session = Session(None, None, now=0)
    session.accessed = True

    got = cache_headers(session, headers)

    assert got == [("content-type", "text/html"), *expected_tail]


@pytest.mark.parametrize(
    ("app_headers", "expected_control"),
    [
        ([("content-type", "text/html")], "private, no-store"),
        (
            [("content-type", "text/html"), ("Cache-Control", "max-age=60")],
            "max-age=60, private, no-store",
        ),
    ],
    ids=["appended", "merged"],
)
def test_a_page_with_a_token_is_never_stored_whether_or_not_the_app_said_anything(
    app_headers: list[tuple[str, str]], expected_control: str
) -> None:
    session = Session(None, None, now=0)
    session.token_issued = True

    got = cache_headers(session, app_headers)

    control = [v for k, v in got if k.lower() == "cache-control"]
    assert control == [expected_control]
    assert ("vary", "Cookie") in got
    assert ("content-type", "text/html") in got
