"""Body scan attacks: where the token field hides, how the body is cut
into messages, and what the app gets afterwards.

The scan has fast paths now (a whole small form is split by hand, a
multipart scan stops at the first file after the token, the body is
replayed from a deque): each test pins a verdict that must not depend on
the path taken, nor on how the network cut the bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from urllib.parse import quote

import pytest

from adversarial4.adv4_support import (
    ORIGIN,
    STACKS,
    Headers,
    Login,
    Outcome,
    Stack,
    assert_accepted,
    assert_refused,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BOUNDARY = "adv4-b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
LIMIT = 1024 * 1024  # the default scan limit


def _field(name: str, value: bytes, extra: str = "") -> tuple[str, bytes]:
    return (f'Content-Disposition: form-data; name="{name}"{extra}', value)


def _file(name: str, data: bytes) -> tuple[str, bytes]:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="f.bin"\r\n'
        "Content-Type: application/octet-stream",
        data,
    )


def multipart(*parts: tuple[str, bytes], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for head, data in parts:
        out += f"--{boundary}\r\n{head}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _send(
    stack: Stack,
    login: Login,
    content_type: str | None,
    body: bytes | list[bytes],
    *,
    path: str = "/notes",
    extra: Sequence[tuple[str, str]] = (),
    disconnect_after: int | None = None,
    seekable: bool = False,
) -> Outcome:
    headers: Headers = [("Origin", ORIGIN), login.cookie, *extra]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return stack.send(
        "POST",
        path,
        headers,
        body,
        disconnect_after=disconnect_after,
        seekable=seekable,
    )


def _verdict(outcome: Outcome) -> tuple[int, str | None]:
    return outcome.status, outcome.reason


def _splits(body: bytes) -> list[list[bytes]]:
    """The body cut in two at every offset, then one byte per message."""
    cuts = [[body[:i], body[i:]] for i in range(1, len(body))]
    return [[body], *cuts, [body[i : i + 1] for i in range(len(body))]]


# -- every offset ------------------------------------------------------------

Build = Callable[[str], tuple[str, bytes]]

_CORPUS: list[tuple[str, Build, str]] = [
    ("form: token alone", lambda t: (FORM, f"csrf_token={t}".encode()), "accept"),
    (
        "form: token among fields",
        lambda t: (FORM, f"a=1&csrf_token={t}&b=%26x".encode()),
        "accept",
    ),
    ("form: encoded name", lambda t: (FORM, f"csrf%5Ftoken={t}".encode()), "accept"),
    (
        "form: encoded value",
        lambda t: (FORM, ("csrf_token=" + quote(t, safe="")).encode()),
        "accept",
    ),
    ("form: name '+'", lambda t: (FORM, f"csrf+token={t}".encode()), "token_missing"),
    (
        "form: upper-case name",
        lambda t: (FORM, f"CSRF_TOKEN={t}".encode()),
        "token_missing",
    ),
    ("form: name[]", lambda t: (FORM, f"csrf_token[]={t}".encode()), "token_missing"),
    (
        "form: ';' is no separator",
        lambda t: (FORM, f"a=1;csrf_token={t}".encode()),
        "token_missing",
    ),
    (
        "form: twice, same",
        lambda t: (FORM, f"csrf_token={t}&&&csrf_token={t}".encode()),
        "accept",
    ),
    (
        "form: twice, different",
        lambda t: (FORM, f"csrf_token={t}&csrf_token={t[::-1]}".encode()),
        "token_conflict",
    ),
    (
        "form: a bare name after it",
        lambda t: (FORM, f"csrf_token={t}&csrf_token".encode()),
        "token_conflict",
    ),
    (
        "form: '==' value",
        lambda t: (FORM, f"csrf_token=={t}".encode()),
        "token_invalid",
    ),
    ("form: nameless", lambda t: (FORM, f"={t}&x".encode()), "token_missing"),
    ("json: token", lambda t: (JSON, json.dumps({"csrf_token": t}).encode()), "accept"),
    (
        "json: escaped key",
        lambda t: (JSON, b'{"csrf\\u005ftoken": "' + t.encode() + b'"}'),
        "accept",
    ),
    (
        "json: BOM",
        lambda t: (JSON, b"\xef\xbb\xbf" + json.dumps({"csrf_token": t}).encode()),
        "accept",
    ),
    (
        "json: duplicate key, same",
        lambda t: (JSON, f'{{"csrf_token": "{t}", "csrf_token": "{t}"}}'.encode()),
        "accept",
    ),
    (
        "json: duplicate key, different",
        lambda t: (JSON, f'{{"csrf_token": "{t}", "csrf_token": "x"}}'.encode()),
        "token_conflict",
    ),
    (
        "json: nested",
        lambda t: (JSON, json.dumps({"data": {"csrf_token": t}}).encode()),
        "token_missing",
    ),
    (
        "json: in an array",
        lambda t: (JSON, json.dumps([{"csrf_token": t}]).encode()),
        "token_missing",
    ),
    ("json: a number", lambda t: (JSON, b'{"csrf_token": 12345}'), "token_invalid"),
    ("json: null", lambda t: (JSON, b'{"csrf_token": null}'), "token_invalid"),
    (
        "json: a list",
        lambda t: (JSON, json.dumps({"csrf_token": [t]}).encode()),
        "token_invalid",
    ),
    (
        "json: key case",
        lambda t: (JSON, json.dumps({"CSRF_TOKEN": t}).encode()),
        "token_missing",
    ),
    (
        "json: trailing junk",
        lambda t: (JSON, json.dumps({"csrf_token": t}).encode() + b"]"),
        "malformed_body",
    ),
    (
        "multipart: token",
        lambda t: (MULTIPART, multipart(_field("csrf_token", t.encode()))),
        "accept",
    ),
    (
        "multipart: unquoted name",
        lambda t: (
            MULTIPART,
            multipart(("Content-Disposition: form-data; name=csrf_token", t.encode())),
        ),
        "accept",
    ),
    (
        "multipart: header in lower case",
        lambda t: (
            MULTIPART,
            multipart(
                ('content-disposition: form-data; name="csrf_token"', t.encode())
            ),
        ),
        "accept",
    ),
    (
        "multipart: upper-case name",
        lambda t: (MULTIPART, multipart(_field("CSRF_TOKEN", t.encode()))),
        "token_missing",
    ),
    (
        "multipart: filename on the token part",
        lambda t: (MULTIPART, multipart(_file("csrf_token", t.encode()))),
        "token_missing",
    ),
    (
        "multipart: token after a small file",
        lambda t: (
            MULTIPART,
            multipart(
                _file("f", b"\r\n--x\r\n" * 20), _field("csrf_token", t.encode())
            ),
        ),
        "accept",
    ),
    (
        "multipart: two tokens, different",
        lambda t: (
            MULTIPART,
            multipart(_field("csrf_token", t.encode()), _field("csrf_token", b"x")),
        ),
        "token_conflict",
    ),
    (
        "multipart: token, file, other token",
        lambda t: (
            MULTIPART,
            multipart(
                _field("csrf_token", t.encode()),
                _file("f", b"data"),
                _field("csrf_token", b"x"),
            ),
        ),
        "accept",
    ),
    (
        "multipart: quoted boundary",
        lambda t: (
            f'multipart/form-data; boundary="{BOUNDARY}"',
            multipart(_field("csrf_token", t.encode())),
        ),
        "accept",
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"),
    [pytest.param(build, expected, id=name) for name, build, expected in _CORPUS],
)
def test_the_body_verdict_is_the_same_whatever_offset_the_body_is_split_at(
    stack: Stack, build: Build, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    content_type, body = build(login.token)
    before = stack.record(login.session_id)
    verdicts = set()

    for chunks in _splits(body):
        logs.clear()  # each refusal logs its own line
        outcome = _send(stack, login, content_type, chunks)
        verdicts.add(_verdict(outcome))
        if outcome.reached:
            assert outcome.app_body == body
        if expected != "accept":
            assert_refused(stack, outcome, expected, logs, login=login, before=before)

    assert verdicts == {(200, None) if expected == "accept" else (403, expected)}


def test_a_wrong_token_is_refused_at_every_split_of_every_body_kind(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    other = stack.visit()
    before = stack.record(login.session_id)
    bodies = [
        (FORM, f"a=1&csrf_token={other.token}".encode()),
        (JSON, json.dumps({"csrf_token": other.token}).encode()),
        (MULTIPART, multipart(_field("csrf_token", other.token.encode()))),
    ]

    for content_type, body in bodies:
        for chunks in _splits(body):
            logs.clear()  # each refusal logs its own line
            outcome = _send(stack, login, content_type, chunks)
            assert_refused(
                stack,
                outcome,
                "token_invalid",
                logs,
                login=login,
                before=before,
                secrets=[other.token],
            )


# -- a second token further on -----------------------------------------------

_FILLER = b"f=" + b"x" * (100 * 1024)


def _chunkings(body: bytes) -> list[list[bytes]]:
    step = 64 * 1024
    return [
        [body],
        [body[i : i + step] for i in range(0, len(body), step)],
        [body[i : i + step + 1] for i in range(0, len(body), step + 1)],
        [body[:100], body[100:]],
        [body[:-100], body[-100:]],
    ]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda t, o: (
                FORM,
                f"csrf_token={t}&".encode() + _FILLER + f"&csrf_token={o}".encode(),
            ),
            "token_conflict",
            id="form: another token after 100 KiB",
        ),
        pytest.param(
            lambda t, o: (
                FORM,
                f"csrf_token={t}&".encode() + _FILLER + f"&csrf_token={t}".encode(),
            ),
            "accept",
            id="form: the same token after 100 KiB",
        ),
        pytest.param(
            lambda t, o: (
                MULTIPART,
                multipart(
                    _field("csrf_token", t.encode()),
                    _field("text", _FILLER),
                    _field("csrf_token", o.encode()),
                ),
            ),
            "token_conflict",
            id="multipart: another token after a 100 KiB field",
        ),
        pytest.param(
            lambda t, o: (
                MULTIPART,
                multipart(
                    _file("upload", _FILLER * 2), _field("csrf_token", t.encode())
                ),
            ),
            "accept",
            id="multipart: the token after a 200 KiB file",
        ),
        pytest.param(
            lambda t, o: (
                MULTIPART,
                multipart(
                    _field("csrf_token", t.encode()),
                    _file("upload", _FILLER * 2),
                    _field("csrf_token", o.encode()),
                ),
            ),
            "accept",
            id="multipart: another token after a file is never read",
        ),
        pytest.param(
            lambda t, o: (
                JSON,
                json.dumps(
                    {"csrf_token": t, "pad": "x" * 200_000, "csrf_token ": o}
                ).encode(),
            ),
            "accept",
            id="json: a lookalike key after 200 KB",
        ),
        pytest.param(
            lambda t, o: (
                JSON,
                b'{"csrf_token": "'
                + t.encode()
                + b'", "pad": "'
                + b"x" * 200_000
                + b'", "csrf_token": "'
                + o.encode()
                + b'"}',
            ),
            "token_conflict",
            id="json: a duplicate key after 200 KB",
        ),
    ],
)
def test_a_second_token_far_into_the_body_is_seen_in_any_chunking(
    stack: Stack,
    make: Callable[[str, str], tuple[str, bytes]],
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    login = stack.visit()
    other = stack.visit()
    content_type, body = make(login.token, other.token)
    before = stack.record(login.session_id)

    for chunks in _chunkings(body):
        logs.clear()  # each refusal logs its own line
        outcome = _send(stack, login, content_type, chunks)
        if expected == "accept":
            assert_accepted(outcome)
            assert outcome.app_body == body
            continue
        assert_refused(
            stack,
            outcome,
            expected,
            logs,
            login=login,
            before=before,
            secrets=[other.token],
        )


# -- the scan limit ----------------------------------------------------------


def _form_with_token_at(offset: int, token: str) -> bytes:
    """A form whose csrf_token field starts at byte *offset*."""
    head = b"pad=" + b"p" * (offset - 5) + b"&"
    return head + f"csrf_token={token}&tail=1".encode()


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(LIMIT - 2000, "accept", id="well within"),
        pytest.param(LIMIT - 50, "token_missing", id="straddling the limit"),
        pytest.param(LIMIT - 98, "accept", id="ending one byte before the limit"),
        pytest.param(LIMIT - 97, "token_missing", id="ending at the limit"),
        pytest.param(LIMIT + 10, "token_missing", id="past the limit"),
    ],
)
def test_a_form_token_is_found_only_wholly_within_the_scan_limit(
    stack: Stack, offset: int, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    body = _form_with_token_at(offset, login.token)
    before = stack.record(login.session_id)

    for chunks in _chunkings(body):
        logs.clear()  # each refusal logs its own line
        outcome = _send(stack, login, FORM, chunks)
        if expected == "accept":
            assert_accepted(outcome)
            assert outcome.app_body == body
            continue
        assert_refused(stack, outcome, expected, logs, login=login, before=before)
        assert "header" in json.loads(outcome.body)["detail"]


def test_a_conflicting_token_past_the_scan_limit_is_not_read(stack: Stack) -> None:
    """Documented: bytes past the limit are never searched; the app still
    gets all of them."""
    login = stack.visit()
    other = stack.visit()
    body = (
        f"csrf_token={login.token}&pad=".encode()
        + b"p" * LIMIT
        + f"&csrf_token={other.token}".encode()
    )

    for chunks in _chunkings(body):
        outcome = _send(stack, login, FORM, chunks)
        assert_accepted(outcome)
        assert outcome.app_body == body


def test_a_multipart_token_after_a_file_past_the_limit_is_missed(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    body = multipart(
        _file("upload", b"u" * (2 * LIMIT)), _field("csrf_token", login.token.encode())
    )
    before = stack.record(login.session_id)

    for chunks in _chunkings(body)[:3]:
        logs.clear()  # each refusal logs its own line
        outcome = _send(stack, login, MULTIPART, chunks)
        assert_refused(
            stack, outcome, "token_missing", logs, login=login, before=before
        )


def test_a_json_body_over_the_scan_limit_is_too_large_in_any_chunking(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    body = json.dumps({"csrf_token": login.token, "pad": "x" * LIMIT}).encode()
    before = stack.record(login.session_id)

    for chunks in _chunkings(body):
        logs.clear()  # each refusal logs its own line
        outcome = _send(stack, login, JSON, chunks)
        assert_refused(
            stack, outcome, "body_too_large", logs, login=login, before=before
        )

    header = _send(stack, login, JSON, body, extra=[("X-CSRF-Token", login.token)])
    assert_accepted(header)
    assert header.app_body == body


# -- content types -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "kind", "expected"),
    [
        pytest.param(f"{FORM}; charset=UTF-8", "form", "accept", id="form, charset"),
        pytest.param(
            "Application/X-WWW-Form-URLEncoded", "form", "accept", id="odd case"
        ),
        pytest.param(f" {FORM} ;charset=utf-8", "form", "accept", id="spaces"),
        pytest.param(
            "APPLICATION/JSON; Charset=UTF-8", "json", "accept", id="JSON upper"
        ),
        pytest.param("application/vnd.api+json", "json", "accept", id="+json"),
        pytest.param(
            "multipart/FORM-DATA; BOUNDARY=" + BOUNDARY,
            "multipart",
            "accept",
            id="multipart upper",
        ),
        pytest.param("text/plain", "form", "token_missing", id="text/plain form"),
        pytest.param(
            "text/plain; x=application/json",
            "json",
            "token_missing",
            id="text/plain json",
        ),
        pytest.param(FORM + "x", "form", "token_missing", id="form lookalike"),
        pytest.param("application/jsonx", "json", "token_missing", id="json lookalike"),
        pytest.param("text/json", "json", "token_missing", id="text/json"),
        pytest.param(None, "form", "token_missing", id="no content type"),
        pytest.param(f"{FORM}, text/plain", "form", "token_missing", id="two types"),
        pytest.param(
            "multipart/form-data", "multipart", "malformed_body", id="no boundary"
        ),
        pytest.param(
            "multipart/form-data; boundary=",
            "multipart",
            "malformed_body",
            id="empty boundary",
        ),
        pytest.param(
            "multipart/form-data; boundary=" + "b" * 200,
            "multipart",
            "malformed_body",
            id="200-byte boundary",
        ),
        pytest.param(JSON, "form", "malformed_body", id="a form sent as JSON"),
    ],
)
def test_the_content_type_decides_how_the_body_is_read(
    stack: Stack,
    content_type: str | None,
    kind: str,
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    login = stack.visit()
    body = {
        "form": f"a=1&csrf_token={login.token}".encode(),
        "json": json.dumps({"csrf_token": login.token}).encode(),
        "multipart": multipart(_field("csrf_token", login.token.encode())),
    }[kind]
    before = stack.record(login.session_id)

    outcome = _send(stack, login, content_type, [body[:7], body[7:]])

    if expected == "accept":
        assert_accepted(outcome)
        assert outcome.app_body == body
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


def test_a_multipart_body_with_another_boundary_is_refused_not_crashed(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    body = multipart(_field("csrf_token", login.token.encode()), boundary="other")
    before = stack.record(login.session_id)

    outcome = _send(stack, login, MULTIPART, body)

    assert outcome.status == 403
    assert outcome.reason in {"malformed_body", "token_missing"}
    assert_refused(
        stack, outcome, str(outcome.reason), logs, login=login, before=before
    )


# -- the client goes away ----------------------------------------------------


@pytest.mark.parametrize("kind", ["form", "json", "multipart"])
def test_a_client_gone_mid_scan_gets_nothing_and_changes_nothing(
    kind: str, logs: pytest.LogCaptureFixture
) -> None:
    stack = STACKS["asgi"]()
    login = stack.visit()
    content_type, body = {
        "form": (FORM, f"csrf_token={login.token}&".encode() + _FILLER),
        "json": (
            JSON,
            json.dumps({"csrf_token": login.token, "p": "x" * 1000}).encode(),
        ),
        "multipart": (
            MULTIPART,
            multipart(_field("csrf_token", login.token.encode()), _field("t", _FILLER)),
        ),
    }[kind]
    before = stack.record(login.session_id)
    chunks = [body[:200], body[200:400], body[400:]]

    outcome = _send(stack, login, content_type, chunks, disconnect_after=2)

    assert outcome.status == 0
    assert not outcome.reached
    assert stack.record(login.session_id) == before
    assert login.token not in logs.text


@pytest.mark.parametrize(
    ("cut_at", "expected"),
    [
        pytest.param(200, "accept", id="after the token"),
        pytest.param(5, "token_missing", id="inside the name"),
    ],
)
def test_a_wsgi_body_shorter_than_its_content_length_is_judged_on_what_came(
    cut_at: int, expected: str, logs: pytest.LogCaptureFixture
) -> None:
    stack = STACKS["wsgi"]()
    login = stack.visit()
    body = f"csrf_token={login.token}&".encode() + _FILLER
    length = ("Content-Length", str(len(body)))
    before = stack.record(login.session_id)

    outcome = _send(stack, login, FORM, [body[:cut_at]], extra=[length])

    if expected == "accept":
        assert_accepted(outcome)
        assert outcome.app_body == body[:cut_at]
        return
    assert_refused(stack, outcome, expected, logs, login=login, before=before)


# -- the app gets every byte -------------------------------------------------

_READS = ["read", "readline", "readline7", "readinto", "iterate", "readlines", "small"]


def _bodies(token: str) -> list[tuple[str, bytes]]:
    lines = b"".join(b"line %d\r\n" % i for i in range(2000))
    return [
        (FORM, f"csrf_token={token}&text=a%0Ab%0D%0A".encode()),
        (
            FORM,
            f"csrf_token={token}&".encode()
            + b"big="
            + lines.replace(b"\r\n", b"%0A")
            + b"&x=\n\n",
        ),
        (FORM, f"csrf_token={token}&pad=".encode() + b"p" * (LIMIT + 5000)),
        (JSON, json.dumps({"csrf_token": token, "text": "a\nb\r\n" * 3000}).encode()),
        (
            MULTIPART,
            multipart(_field("csrf_token", token.encode()), _file("upload", lines * 4)),
        ),
        (
            MULTIPART,
            multipart(
                _file("first", lines),
                _field("csrf_token", token.encode()),
                _file("second", b"\n" * 20_000),
            ),
        ),
        (
            MULTIPART,
            multipart(
                _field("csrf_token", token.encode()), _field("t", b"\r\n" * 40_000)
            ),
        ),
    ]


def _random_chunks(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    chunks, at = [], 0
    while at < len(body):
        size = rng.choice([1, 2, 7, 100, 4096, 65535, 65536, 65537, 300_000])
        chunks.append(body[at : at + size])
        at += size
    return chunks


def _digest(data: bytes | None) -> tuple[int, str]:
    assert data is not None
    return len(data), hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("body_index", range(7))
def test_the_app_reads_the_exact_body_after_a_scan_in_any_chunking(
    stack: Stack, body_index: int
) -> None:
    login = stack.visit()
    content_type, body = _bodies(login.token)[body_index]
    chunkings = [[body], *(_random_chunks(body, seed) for seed in range(4))]
    chunkings.append([b"", *_random_chunks(body, 9), b""])  # empty messages too
    # Byte-sized reads of a megabyte only cost time: bulk readers for it.
    reads = _READS if len(body) < 300_000 else ["read", "readinto", "iterate"]
    paths = [f"/read/{how}" for how in reads] if stack.kind == "wsgi" else ["/notes"]

    for chunks in chunkings:
        for path in paths:
            outcome = _send(stack, login, content_type, chunks, path=path)
            assert_accepted(outcome)
            assert _digest(outcome.app_body) == _digest(body)
    if stack.kind == "wsgi":
        for path in paths:  # a seekable wsgi.input, as waitress gives
            outcome = _send(stack, login, content_type, body, path=path, seekable=True)
            assert_accepted(outcome)
            assert _digest(outcome.app_body) == _digest(body)


@pytest.mark.parametrize("seekable", [False, True], ids=["socket", "BytesIO"])
@pytest.mark.parametrize("how", _READS)
def test_wsgi_readers_never_read_past_the_content_length(
    how: str, seekable: bool
) -> None:
    """A pipelined next request waits in the same stream: after a scan the
    app must stop at CONTENT_LENGTH however it reads."""
    stack = STACKS["wsgi"]()
    login = stack.visit()
    body = f"csrf_token={login.token}&t=".encode() + b"a\nb" * 30_000
    after = b"\nPOST /steal HTTP/1.1\r\n\r\ncsrf_token=x"
    length = ("Content-Length", str(len(body)))
    chunks = [body[:5000], body[5000:] + after]

    outcome = _send(
        stack,
        login,
        FORM,
        chunks,
        path=f"/read/{how}",
        extra=[length],
        seekable=seekable,
    )

    assert_accepted(outcome)
    assert _digest(outcome.app_body) == _digest(body)


def _form_of_length(length: int, token: str) -> bytes:
    """A form of *length* bytes whose last field is the token."""
    tail = f"&csrf_token={token}".encode()
    return b"pad=" + b"p" * (length - 4 - len(tail)) + tail


def _json_of_length(length: int, token: str) -> bytes:
    head = f'{{"csrf_token": "{token}", "pad": "'.encode()
    return head + b"p" * (length - len(head) - 2) + b'"}'


@pytest.mark.parametrize(
    ("content_type", "body_of", "extra", "expected"),
    [
        pytest.param(FORM, _form_of_length, b"", "accept", id="form, exactly"),
        pytest.param(
            FORM, _form_of_length, b"&", "token_missing", id="form, '&' past it"
        ),
        pytest.param(JSON, _json_of_length, b"", "accept", id="json, exactly"),
        pytest.param(JSON, _json_of_length, b" ", "body_too_large", id="json, +1"),
    ],
)
def test_a_body_of_exactly_the_scan_limit_is_read_whole(
    stack: Stack,
    content_type: str,
    body_of: Callable[[int, str], bytes],
    extra: bytes,
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    login = stack.visit()
    body = body_of(LIMIT, login.token) + extra
    before = stack.record(login.session_id)

    for chunks in [*_chunkings(body), [body[:-1], body[-1:]]]:
        logs.clear()  # each refusal logs its own line
        outcome = _send(stack, login, content_type, chunks)
        if expected == "accept":
            assert_accepted(outcome)
            assert outcome.app_body == body
            continue
        assert_refused(stack, outcome, expected, logs, login=login, before=before)
