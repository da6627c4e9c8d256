"""The ASGI adapters' header shortcuts read a request as the plain way
does: raw headers joined per name, the Cookie header found in one pass,
and a session record serialised by a reused encoder."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from forgeproof._cookies import parse_cookie_header
from forgeproof.asgi import _cookie_header, _raw_headers
from forgeproof.sessions.base import (
    SessionConfig,
    SessionRecord,
    find_session_cookie,
    find_session_cookie_in_header,
)

NAMES = [b"host", b"origin", b"cookie", b"sec-fetch-site", b"x-csrf-token"]
SESSION_ID = "A" * 43

header_pairs = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.binary(max_size=8) | st.sampled_from([b"a", b"\xe9", b" x , y "]),
    ),
    max_size=8,
)


@given(pairs=header_pairs, as_tuple=st.booleans())
def test_raw_headers_join_repeats_as_the_decoded_headers_always_were(
    pairs: list[tuple[bytes, bytes]], as_tuple: bool
) -> None:
    expected: dict[str, str] = {}
    for raw_key, raw_value in pairs:
        key, value = raw_key.decode("latin-1"), raw_value.decode("latin-1")
        expected[key] = f"{expected[key]}, {value}" if key in expected else value

    got = _raw_headers({"headers": tuple(pairs) if as_tuple else pairs})

    assert {k.decode("latin-1"): v.decode("latin-1") for k, v in got.items()} == (
        expected
    )


def test_raw_headers_read_headers_given_as_any_iterable() -> None:
    pairs = [(b"origin", b"http://a"), (b"origin", b"http://b")]

    assert _raw_headers({"headers": iter(pairs)}) == {b"origin": b"http://a, http://b"}


cookie_pairs = st.sampled_from(
    [
        f"forgeproof_session={SESSION_ID}",
        "forgeproof_session=" + "B" * 43,
        "forgeproof_session=short",
        'forgeproof_session="' + SESSION_ID + '"',
        "theme=dark",
        " forgeproof_session = " + SESSION_ID,
        "xforgeproof_session=" + SESSION_ID,
        "",
    ]
)


@given(headers=st.lists(st.lists(cookie_pairs, max_size=3), max_size=3))
def test_the_session_cookie_is_found_across_cookie_headers_as_the_full_parser_finds_it(
    headers: list[list[str]],
) -> None:
    """A cookie planted in a second Cookie header still counts: two ids
    stay ambiguous however the browser or a proxy split the headers."""
    config = SessionConfig()
    values = ["; ".join(pairs) for pairs in headers]
    scope_headers: list[tuple[bytes, bytes]] = [(b"host", b"testserver")]
    scope_headers += [(b"cookie", value.encode()) for value in values]
    expected = find_session_cookie(
        config, "http", parse_cookie_header("; ".join(values))
    )

    got = find_session_cookie_in_header(config, "http", _cookie_header(scope_headers))

    assert got == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    data=st.dictionaries(st.text(max_size=4), json_values, max_size=4),
    secret=st.none() | st.binary(min_size=32, max_size=32),
    times=st.tuples(st.floats(allow_nan=False), st.floats(allow_nan=False)),
)
def test_a_record_serialises_as_json_dumps_with_compact_separators(
    data: dict[str, Any], secret: bytes | None, times: tuple[float, float]
) -> None:
    record = SessionRecord(data, secret, *times)
    expected = json.dumps(
        {
            "d": data,
            "s": None if secret is None else secret.hex(),
            "c": times[0],
            "a": times[1],
        },
        separators=(",", ":"),
    )

    assert record.to_json() == expected
