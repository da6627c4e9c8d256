"""How the scanned bytes are handed back: once they are out, the WSGI
replay stream gets out of the way (the app reads the server's stream
itself) only where that reads exactly the same bytes, and the ASGI replay
hands over the server's own awaitables; the multipart scan keeps its
verdicts on odd part shapes."""

from __future__ import annotations

import io
import itertools
from collections import deque
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_multipart.multipart import parse_options_header

from core.core_kit import assert_rejected, call, make_stack, multipart, run
from forgeproof import Reason
from forgeproof._bodyscan import (
    BodyScanner,
    _disposition,
    _form_decode,
    _remembered_disposition,
)
from forgeproof.asgi import _replay
from forgeproof.types import Message
from forgeproof.wsgi import _ReplayInput


class _Unseekable(io.RawIOBase):
    """A server's socket-like stream: readable, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._inner.readinto(buffer)


def test_the_wsgi_replay_hands_reads_to_a_stream_that_ends_within_the_length() -> None:
    stream = io.BytesIO(b"rest of the body")
    replay = _ReplayInput([b"head "], stream, remaining=len(b"rest of the body"))

    assert replay.read(5) == b"head "
    assert replay.read == stream.read
    assert replay.readinto == stream.readinto
    assert replay.readline == stream.readline
    assert replay.read() == b"rest of the body"


def test_the_wsgi_replay_hands_reads_to_a_stream_the_server_terminates() -> None:
    stream = _Unseekable(b"rest")
    replay = _ReplayInput([b"head"], stream, remaining=None)  # type: ignore[arg-type]

    assert replay.read(4) == b"head"
    assert replay.readinto == stream.readinto
    assert replay.read() == b"rest"


def test_the_wsgi_replay_with_nothing_scanned_is_the_stream_from_the_start() -> None:
    stream = io.BytesIO(b"body")
    replay = _ReplayInput([], stream, remaining=4)

    assert replay.read == stream.read
    assert replay.read() == b"body"


def test_the_wsgi_replay_keeps_capping_a_stream_that_runs_past_the_length() -> None:
    stream = io.BytesIO(b"rest" + b"the next request")
    replay = _ReplayInput([b"head"], stream, remaining=4)

    assert replay.read(4) == b"head"

    assert replay.read != stream.read
    assert replay.read() == b"rest"
    assert replay.read() == b""
    assert stream.read() == b"the next request"


def test_the_wsgi_replay_keeps_capping_a_stream_it_cannot_measure() -> None:
    stream = _Unseekable(b"rest" + b"the next request")
    replay = _ReplayInput([b"head"], stream, remaining=4)  # type: ignore[arg-type]

    assert replay.read(4) == b"head"

    assert replay.readinto != stream.readinto
    assert replay.read() == b"rest"


reads = st.lists(
    st.tuples(st.sampled_from(["read", "readinto", "readline"]), st.integers(-1, 40)),
    max_size=30,
)


@settings(deadline=None, max_examples=300)
@given(
    body=st.binary(max_size=120).map(lambda b: b.replace(b"\x00", b"\n")),
    head_cuts=st.lists(st.integers(0, 120), max_size=5),
    scanned=st.integers(0, 120),
    missing=st.integers(0, 10),
    ops=reads,
)
def test_a_replay_that_steps_aside_reads_like_the_original_body(
    body: bytes,
    head_cuts: list[int],
    scanned: int,
    missing: int,
    ops: list[tuple[str, int]],
) -> None:
    """The stream holds the rest of the body, or less when the client sent
    less than CONTENT_LENGTH: either way every read answers as a plain
    stream of what the client sent would."""
    scanned = min(scanned, len(body))
    edges = [0, *sorted(c for c in head_cuts if c <= scanned), scanned]
    head = [body[a:b] for a, b in itertools.pairwise(edges)]
    sent = body[: max(scanned, len(body) - missing)]
    replay = _ReplayInput(head, io.BytesIO(sent[scanned:]), len(body) - scanned)
    reference = io.BytesIO(sent)

    for op, size in ops:
        if op == "readinto":
            buffer, expected = bytearray(max(size, 0)), bytearray(max(size, 0))
            count = replay.readinto(buffer)
            assert count == reference.readinto(expected)
            assert buffer[:count] == expected[:count]
        else:
            assert getattr(replay, op)(size) == getattr(reference, op)(size)
    assert replay.read() == reference.read()


def test_the_asgi_replay_gives_the_scanned_messages_then_the_servers_awaitables() -> (
    None
):
    scanned: list[Message] = [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b", "more_body": True},
    ]
    last: Message = {"type": "http.request", "body": b"c", "more_body": False}
    handed: list[object] = []

    async def server_receive() -> Message:
        return last

    def receive() -> object:
        awaitable = server_receive()
        handed.append(awaitable)
        return awaitable

    replay = _replay(deque(scanned), receive)  # type: ignore[arg-type]

    async def drain() -> list[Message]:
        got = [await replay(), await replay()]
        rest = replay()
        assert rest is handed[0]
        got.append(await rest)
        return got

    assert run(drain()) == [*scanned, last]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param(
            [("csrf_token", b"T", None), ("other", b"X", None)], ["T"], id="field after"
        ),
        pytest.param(
            [("other", b"X", None), ("csrf_token", b"T", None)],
            ["T"],
            id="field before",
        ),
        pytest.param(
            [("csrf_token", b"T", "t.txt"), ("csrf_token", b"U", None)],
            ["U"],
            id="file of that name",
        ),
        pytest.param(
            [("csrf_token", b"T", None), ("csrf_token", b"U", None)],
            ["T", "U"],
            id="twice",
        ),
        pytest.param(
            [("csrf_token", b"", None), ("x", b"y", None)], [""], id="empty value"
        ),
    ],
)
def test_the_multipart_scan_takes_only_the_token_fields_values(
    parts: list[tuple[str, bytes, str | None]], expected: list[str]
) -> None:
    body, content_type = multipart(parts)
    whole = BodyScanner(content_type, "multipart", "csrf_token", 1 << 20)
    whole.feed_last(body)
    bytewise = BodyScanner(content_type, "multipart", "csrf_token", 1 << 20)
    if not any(bytewise.feed(body[i : i + 1]) for i in range(len(body))):
        bytewise.finish()

    assert whole.tokens == expected
    assert bytewise.tokens == expected


def _part(headers: bytes, value: bytes, boundary: str = "b0") -> bytes:
    return f"--{boundary}\r\n".encode() + headers + b"\r\n\r\n" + value + b"\r\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            _part(b'Content-Disposition: form-data; name="csrf_token"', b"T")
            + _part(b"Content-Type: text/plain", b"U")
            + b"--b0--\r\n",
            ["T"],
            id="next part without a disposition",
        ),
        pytest.param(
            _part(
                b'Content-Disposition: form-data; name="csrf_token"\r\n'
                b'Content-Disposition: form-data; name="other"',
                b"T",
            )
            + b"--b0--\r\n",
            [],
            id="second disposition names another field",
        ),
        pytest.param(
            _part(
                b'Content-Disposition: form-data; name="other"\r\n'
                b'content-disposition: form-data; name="csrf_token"',
                b"T",
            )
            + b"--b0--\r\n",
            ["T"],
            id="second disposition names the token",
        ),
    ],
)
def test_the_last_disposition_of_a_part_decides_whether_it_is_the_token(
    body: bytes, expected: list[str]
) -> None:
    scanner = BodyScanner(
        "multipart/form-data; boundary=b0", "multipart", "csrf_token", 1 << 20
    )

    scanner.feed_last(body)

    assert scanner.tokens == expected
    assert scanner.rejection is None


def test_a_token_field_then_a_file_stops_the_scan_and_a_late_field_is_not_read() -> (
    None
):
    stack = make_stack()
    token = stack.session.token()
    body, content_type = multipart(
        [
            ("csrf_token", token.encode(), None),
            ("upload", b"x" * 10_000, "a.bin"),
            ("csrf_token", b"a conflicting value", None),
        ]
    )
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert sent.status == 200
    assert bytes(stack.app.body) == body


def test_two_token_fields_before_the_file_are_a_conflict_and_the_app_not_called(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body, content_type = multipart(
        [
            ("csrf_token", token.encode(), None),
            ("csrf_token", b"a conflicting value", None),
            ("upload", b"x" * 10_000, "a.bin"),
        ]
    )
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert_rejected(sent, stack, Reason.TOKEN_CONFLICT, caplog, token)


@given(raw=st.binary(max_size=60) | st.sampled_from([b"T" * 86, b"a%2Bb", b"a+b"]))
def test_form_decoding_skips_no_work_that_would_change_the_bytes(raw: bytes) -> None:
    """The shortcut for names and values without "%" or "+" is the decoder's
    own answer."""
    assert _form_decode(raw) == unquote_to_bytes(raw.replace(b"+", b" "))
    assert _form_decode(bytearray(raw)) == _form_decode(raw)


dispositions = st.one_of(
    st.builds(
        lambda name, filename: (
            f'form-data; name="{name}"'
            + ("" if filename is None else f'; filename="{filename}"')
        ),
        st.text(alphabet='abc_"\\; =', max_size=12),
        st.none() | st.text(alphabet='ab.;"', max_size=8),
    ),
    st.text(alphabet='form-dat;name=filecsrf_tok"\\ *', max_size=60),
).map(lambda text: text.encode("latin-1"))


@settings(max_examples=300)
@given(values=st.lists(dispositions, min_size=1, max_size=20))
def test_a_remembered_disposition_says_what_parsing_it_again_would(
    values: list[bytes],
) -> None:
    """Remembering is only skipping work: whatever came before, each value
    reads as python-multipart reads it."""
    for value in values + values[::-1]:
        _, params = parse_options_header(value)
        expected = (params.get(b"name"), b"filename" in params)

        assert _remembered_disposition(value) == expected
        assert _disposition(value) == expected


def test_a_flood_of_made_up_dispositions_keeps_the_memory_bounded() -> None:
    for i in range(1000):
        _remembered_disposition(f'form-data; name="field{i}"'.encode())

    assert _remembered_disposition.cache_info().currsize <= 64


def test_a_long_disposition_is_parsed_each_time_and_not_remembered() -> None:
    filename = "x" * 300
    body, content_type = multipart(
        [("csrf_token", b"T" * 86, None), ("upload", b"data", filename)]
    )
    scanner = BodyScanner(content_type, "multipart", "csrf_token", 1 << 20)
    before = _remembered_disposition.cache_info()

    scanner.feed_last(body)

    after = _remembered_disposition.cache_info()
    assert scanner.tokens == ["T" * 86]
    assert after.hits + after.misses == before.hits + before.misses + 1
