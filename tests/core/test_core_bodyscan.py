"""Finding the token in the body: how much is read, what the app still gets,
and how bad bodies are refused. Raw ASGI, in process."""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlencode

import pytest

from core.core_kit import (
    BigMultipart,
    ChunkFeed,
    Sent,
    StreamFeed,
    assert_rejected,
    call,
    chunked,
    http_scope,
    make_stack,
    multipart,
    problem,
    run,
)
from forgeproof import Reason
from forgeproof._bodyscan import BodyScanner, body_kind
from forgeproof.policy import DEFAULT_SCAN_LIMIT

MiB = 1024 * 1024
URLENCODED = ("content-type", "application/x-www-form-urlencoded")
JSON = ("content-type", "application/json")


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/x-www-form-urlencoded", "urlencoded"),
        ("Application/X-WWW-Form-URLEncoded; charset=UTF-8", "urlencoded"),
        ("multipart/form-data; boundary=abc", "multipart"),
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("application/merge-patch+json", "json"),
        ("text/plain", None),
        ("text/plain; charset=utf-8", None),
        ("application/octet-stream", None),
        ("application/jsonx", None),
        ("", None),
        (None, None),
    ],
)
def test_body_kind_names_only_the_formats_that_can_carry_a_token(
    content_type: str | None, kind: str | None
) -> None:
    assert body_kind(content_type) == kind


# -- how much is read ---------------------------------------------------------


def test_token_first_in_a_50_mb_upload_is_found_after_reading_only_the_start() -> None:
    stack = make_stack(store_body=False)
    upload = BigMultipart(stack.session.token(), file_size=50 * MiB)
    feed = StreamFeed(upload.pieces())
    pulled_when_app_started: list[int] = []
    stack.app.on_call = lambda: pulled_when_app_started.append(feed.bytes_pulled)
    sent = Sent()
    headers = [("content-type", upload.content_type), ("cookie", stack.session.cookie)]

    run(stack.asgi(http_scope("POST", "/upload", headers), feed, sent))

    assert sent.status == 200
    # The token and the file part's headers came in the first message.
    assert pulled_when_app_started == [len(next(iter(upload.pieces())))]
    assert pulled_when_app_started[0] < 1024
    assert stack.app.body_length == upload.length


def test_token_after_a_2_mib_file_part_is_missing_with_the_reason_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack(store_body=False)
    token = stack.session.token()
    upload = BigMultipart(token, file_size=2 * MiB, token_first=False)
    feed = StreamFeed(upload.pieces())
    sent = Sent()
    headers = [("content-type", upload.content_type), ("cookie", stack.session.cookie)]

    run(stack.asgi(http_scope("POST", "/upload", headers), feed, sent))

    assert_rejected(sent, stack, Reason.TOKEN_MISSING, caplog, token)
    detail = problem(sent)["detail"]
    assert "X-CSRF-Token header" in detail
    assert "before any file part" in detail
    # Reading stopped at the scan limit, not at the end of the body.
    assert feed.bytes_pulled <= DEFAULT_SCAN_LIMIT + upload.chunk_size


@pytest.mark.parametrize("chunk_size", [2 * MiB + 1024, 3 * MiB, 64 * 1024])
def test_a_token_beyond_the_limit_is_missing_however_the_body_is_chunked(
    chunk_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body, content_type = multipart(
        [("upload", b"x" * 2 * MiB, "a.bin"), ("csrf_token", token.encode(), None)]
    )
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, chunk_size), headers)

    assert_rejected(sent, stack, Reason.TOKEN_MISSING, caplog, token)


def test_a_token_after_a_small_file_within_the_limit_is_found() -> None:
    stack = make_stack()
    token = stack.session.token()
    body, content_type = multipart(
        [("avatar", b"\x89PNG" * 1000, "a.png"), ("csrf_token", token.encode(), None)]
    )
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, 1000), headers)

    assert sent.status == 200
    assert bytes(stack.app.body) == body


def test_with_the_token_in_the_header_the_body_is_never_read_before_the_app() -> None:
    stack = make_stack()
    body = b"x" * 100_000
    feed_calls_when_app_started: list[int] = []
    chunks = chunked(body, 10_000)
    headers = [
        ("content-type", "application/octet-stream"),
        ("cookie", stack.session.cookie),
        ("x-csrf-token", stack.session.token()),
    ]
    feed = ChunkFeed(chunks)
    stack.app.on_call = lambda: feed_calls_when_app_started.append(feed.calls)
    sent = Sent()

    run(stack.asgi(http_scope("POST", "/upload", headers), feed, sent))

    assert sent.status == 200
    assert feed_calls_when_app_started == [0]
    assert bytes(stack.app.body) == body


def test_a_header_token_wins_and_a_conflicting_body_token_is_not_read() -> None:
    stack = make_stack()
    headers = [
        URLENCODED,
        ("cookie", stack.session.cookie),
        ("x-csrf-token", stack.session.token()),
    ]

    sent, _ = call(stack, [form(csrf_token="something-else")], headers)

    assert sent.status == 200
    assert stack.app.body == form(csrf_token="something-else")


def test_a_small_form_body_is_read_to_its_end_and_handed_on_whole() -> None:
    stack = make_stack()
    body = form(csrf_token=stack.session.token(), note="hello world")
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, 7), headers)

    assert sent.status == 200
    assert bytes(stack.app.body) == body
    assert [m.get("more_body", False) for m in stack.app.messages][-1] is False


# -- chunk boundaries ----------------------------------------------------------


CUTS = {
    "cut before the field name": lambda name, start, end: [name],
    "cut where the value starts": lambda name, start, end: [start],
    "cut where the value ends": lambda name, start, end: [end],
    "cut at name, value start and end": lambda name, start, end: [name, start, end],
    "cut one byte inside the value": lambda name, start, end: [start + 1, end - 1],
    "cut inside the name and the value": lambda name, start, end: [
        name + 4,
        start + 43,
    ],
}


def _body_for(kind: str, token: str) -> tuple[bytes, str]:
    if kind == "urlencoded":
        return form(a="1", csrf_token=token, b="2"), URLENCODED[1]
    if kind == "multipart":
        return multipart([("a", b"1", None), ("csrf_token", token.encode(), None)])
    return json.dumps({"a": 1, "csrf_token": token}).encode(), JSON[1]


@pytest.mark.parametrize("cut", [*CUTS, "one byte per message"])
@pytest.mark.parametrize("kind", ["urlencoded", "multipart", "json"])
def test_chunks_split_at_the_field_boundaries_still_find_the_token(
    kind: str, cut: str
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body, content_type = _body_for(kind, token)
    start = body.index(token.encode())
    if cut in CUTS:
        points = CUTS[cut](body.index(b"csrf_token"), start, start + len(token))
        edges = [0, *points, len(body)]
        chunks = [body[a:b] for a, b in itertools.pairwise(edges)]
    else:
        chunks = [bytes([byte]) for byte in body]
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunks, headers)

    assert sent.status == 200
    assert bytes(stack.app.body) == body


def test_empty_body_messages_between_chunks_are_harmless() -> None:
    stack = make_stack()
    body = form(csrf_token=stack.session.token())
    chunks = [b"", body[:10], b"", b"", body[10:], b""]
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunks, headers)

    assert sent.status == 200
    assert bytes(stack.app.body) == body


# -- bad bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("multipart/form-data; boundary=abc", b"not multipart at all",
                     id="multipart without a boundary line"),
        pytest.param("multipart/form-data; boundary=abc",
                     b"--abc\r\nbroken header line\r\n\r\nv\r\n--abc--\r\n",
                     id="multipart with a broken part header"),
        pytest.param("multipart/form-data", b"--abc\r\n\r\n",
                     id="multipart Content-Type without boundary"),
        pytest.param("multipart/form-data; boundary=" + "b" * 300,
                     b"--" + b"b" * 300 + b"\r\n",
                     id="multipart boundary far past RFC 2046's 70 bytes"),
        pytest.param("application/json", b'{"csrf_token": ', id="truncated JSON"),
        pytest.param("application/json", b"", id="empty JSON"),
        pytest.param("application/json", b"\xff\xfe\xfa", id="JSON not in UTF-8"),
        pytest.param("application/json", b"[" * 100_000 + b"]" * 100_000,
                     id="JSON nested too deep"),
        pytest.param("application/json", b'{"a": ' + b"9" * 5000 + b"}",
                     id="JSON number too long to convert"),
    ],
)  # fmt: skip
def test_a_malformed_body_is_refused_and_the_app_not_called(
    content_type: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack()
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, 4096), headers)

    assert_rejected(sent, stack, Reason.MALFORMED_BODY, caplog)


def test_a_well_formed_multipart_control_passes() -> None:
    stack = make_stack()
    body, content_type = multipart(
        [("csrf_token", stack.session.token().encode(), None)]
    )
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert sent.status == 200


def test_json_over_the_scan_limit_is_too_large(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack(scan_limit=4096)
    token = stack.session.token()
    body = json.dumps({"csrf_token": token, "pad": "x" * 5000}).encode()
    headers = [JSON, ("cookie", stack.session.cookie)]

    sent, feed = call(stack, chunked(body, 1000), headers)

    assert_rejected(sent, stack, Reason.BODY_TOO_LARGE, caplog, token)
    assert feed.bytes_pulled <= 5000


def test_json_within_the_scan_limit_control_passes() -> None:
    stack = make_stack(scan_limit=4096)
    body = json.dumps({"csrf_token": stack.session.token(), "pad": "x" * 3000})
    headers = [JSON, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body.encode(), 1000), headers)

    assert sent.status == 200
    assert bytes(stack.app.body) == body.encode()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param({"data": {"csrf_token": "<t>"}}, Reason.TOKEN_MISSING,
                     id="token nested below the top level"),
        pytest.param(["<t>"], Reason.TOKEN_MISSING, id="top-level array"),
        pytest.param("<t>", Reason.TOKEN_MISSING, id="top-level string"),
        pytest.param({"csrf_token": 12345}, Reason.TOKEN_INVALID,
                     id="token that is a number"),
        pytest.param({"csrf_token": ["<t>"]}, Reason.TOKEN_INVALID,
                     id="token wrapped in a list"),
        pytest.param({"csrf_token": None}, Reason.TOKEN_INVALID, id="token null"),
    ],
)  # fmt: skip
def test_json_token_must_be_a_top_level_string(
    document: object, reason: Reason, caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body = json.dumps(document).replace("<t>", token).encode()
    headers = [JSON, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert_rejected(sent, stack, reason, caplog, token)


def test_a_json_key_given_twice_with_different_values_is_a_conflict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body = f'{{"csrf_token": "{token}", "csrf_token": "other"}}'.encode()
    headers = [JSON, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert_rejected(sent, stack, Reason.TOKEN_CONFLICT, caplog, token)


@pytest.mark.parametrize("chunk_size", [1, 5, 100, 10_000])
def test_two_form_tokens_are_a_conflict_however_the_body_is_chunked(
    chunk_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body = f"csrf_token={token}&note=x&csrf_token=other".encode()
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, chunk_size), headers)

    assert_rejected(sent, stack, Reason.TOKEN_CONFLICT, caplog, token)


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 10_000])
def test_two_multipart_tokens_before_any_file_are_a_conflict_however_chunked(
    chunk_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body, content_type = multipart(
        [("csrf_token", token.encode(), None), ("csrf_token", b"other", None)]
    )
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, chunk_size), headers)

    assert_rejected(sent, stack, Reason.TOKEN_CONFLICT, caplog, token)


def test_a_token_inside_a_file_part_does_not_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack()
    token = stack.session.token()
    body, content_type = multipart([("csrf_token", token.encode(), "token.txt")])
    headers = [("content-type", content_type), ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert_rejected(sent, stack, Reason.TOKEN_MISSING, caplog, token)


def test_a_percent_encoded_field_name_is_the_field_as_form_parsers_read_it() -> None:
    stack = make_stack()
    body = f"csrf%5Ftoken={stack.session.token()}".encode()
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [body], headers)

    assert sent.status == 200


def test_a_huge_field_name_and_value_cost_nothing_and_are_not_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack()
    body = b"csrf_token" * 50_000 + b"=" + b"A" * 500_000
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, chunked(body, 65536), headers)

    assert_rejected(sent, stack, Reason.TOKEN_MISSING, caplog)


def test_custom_header_and_field_names_are_honoured() -> None:
    stack = make_stack(header_name="X-XSRF-Token", field_name="_csrf")
    by_field = form(_csrf=stack.session.token())
    cookie = ("cookie", stack.session.cookie)

    sent_field, _ = call(stack, [by_field], [URLENCODED, cookie])
    sent_header, _ = call(
        stack, [b""], [cookie, ("x-xsrf-token", stack.session.token())]
    )
    sent_default, _ = call(
        stack, [form(csrf_token=stack.session.token())], [URLENCODED, cookie]
    )

    assert sent_field.status == 200
    assert sent_header.status == 200
    assert sent_default.status == 403


# -- the client goes away ------------------------------------------------------


def test_a_disconnect_mid_scan_calls_no_app_and_sends_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack()
    body = form(note="x" * 10_000, csrf_token=stack.session.token())
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, feed = call(stack, chunked(body, 1000), headers, disconnect_after=3)

    assert stack.app.calls == 0
    assert sent.messages == []
    assert feed.calls == 4
    assert caplog.records == []


def test_a_disconnect_before_any_body_calls_no_app_and_sends_nothing() -> None:
    stack = make_stack()
    headers = [URLENCODED, ("cookie", stack.session.cookie)]

    sent, _ = call(stack, [b"csrf_token=x"], headers, disconnect_after=0)

    assert stack.app.calls == 0
    assert sent.messages == []


# -- the scanner alone ----------------------------------------------------------


def _scan(kind: str, content_type: str, chunks: list[bytes], limit: int) -> BodyScanner:
    scanner = BodyScanner(content_type, kind, "csrf_token", limit)
    for chunk in chunks:
        if scanner.feed(chunk):
            return scanner
    scanner.finish()
    return scanner


def test_the_scanner_stops_where_a_file_begins_once_it_holds_the_token() -> None:
    body, content_type = multipart(
        [("csrf_token", b"T" * 86, None), ("f", b"x" * 100_000, "f.bin")]
    )
    scanner = BodyScanner(content_type, "multipart", "csrf_token", 1 * MiB)

    stopped = scanner.feed(body)

    assert stopped is True
    assert scanner.tokens == ["T" * 86]
    assert scanner.rejection is None


def test_the_scanner_keeps_only_a_bounded_prefix_of_a_long_value() -> None:
    scanner = _scan(
        "urlencoded", URLENCODED[1], chunked(b"csrf_token=" + b"A" * 10_000, 3), MiB
    )

    assert len(scanner.tokens) == 1
    assert len(scanner.tokens[0]) == 4 * 86


def test_a_scan_limit_exactly_at_the_end_of_the_body_still_finds_the_token() -> None:
    body = form(csrf_token="T" * 86)
    scanner = _scan("urlencoded", URLENCODED[1], [body], len(body))

    assert scanner.tokens == ["T" * 86]
    assert scanner.rejection is None


def test_a_token_cut_by_the_scan_limit_is_not_found() -> None:
    body = b"pad=" + b"x" * 2000 + b"&csrf_token=" + b"T" * 86
    limit = len(body) - 10

    one_chunk = _scan("urlencoded", URLENCODED[1], [body], limit)
    many_chunks = _scan("urlencoded", URLENCODED[1], chunked(body, 7), limit)

    assert one_chunk.tokens == []
    assert many_chunks.tokens == []
    assert one_chunk.rejection is not None
    assert one_chunk.rejection.reason is Reason.TOKEN_MISSING
    assert "first in the body" in one_chunk.rejection.message


def test_refusals_name_the_configured_header_and_field() -> None:
    stack = make_stack(header_name="X-XSRF-Token", field_name="_csrf", scan_limit=1024)
    cookie = ("cookie", stack.session.cookie)
    late, content_type = multipart(
        [("f", b"x" * 2000, "f.bin"), ("_csrf", stack.session.token().encode(), None)]
    )

    missing, _ = call(stack, [b"note=x"], [URLENCODED, cookie])
    beyond, _ = call(stack, [late], [("content-type", content_type), cookie])
    plain, _ = call(stack, [b"x"], [("content-type", "text/plain"), cookie])

    for sent in (missing, beyond, plain):
        detail = problem(sent)["detail"]
        assert "X-XSRF-Token header" in detail
        assert "_csrf" in detail
        assert "csrf_token" not in detail
    assert "before any file part" in problem(beyond)["detail"]


def test_with_default_names_the_missing_detail_is_the_reasons_own() -> None:
    stack = make_stack()

    sent, _ = call(stack, [b"note=x"], [URLENCODED, ("cookie", stack.session.cookie)])

    assert problem(sent)["detail"] == Reason.TOKEN_MISSING.detail
