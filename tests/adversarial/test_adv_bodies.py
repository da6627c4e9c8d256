"""Body tricks: form encodings, multipart abuse, JSON oddities, content types.

The attacker holds no valid token, so a body trick only matters if it
makes the middleware accept without one, or makes it fail (a 500, a hang).
Each trick is therefore tried with no token or a wrong one, and where the
trick is a legitimate spelling, with the right one as the control.
"""

from __future__ import annotations

import json

import httpx
import pytest

from adversarial.adv_support import (
    COOKIE,
    Target,
    assert_accepted,
    assert_rejected,
    http_request,
    reason_of,
)
from forgeproof import tokens

FORGED = "A" * tokens.TOKEN_LENGTH
FORM = "application/x-www-form-urlencoded"


def _multipart(
    boundary: str, parts: list[tuple[str, bytes]], *, close: bool = True
) -> bytes:
    """Parts as (raw header lines, payload)."""
    out = b""
    for headers, payload in parts:
        out += f"--{boundary}\r\n{headers}\r\n\r\n".encode("latin-1")
        out += payload + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return out


def _disposition(name: str, extra: str = "") -> str:
    return f'Content-Disposition: form-data; name="{name}"{extra}'


# -- urlencoded ---------------------------------------------------------------


def test_urlencoded_token_field_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    response = target.post(
        session_id=session_id, data={"note": "hi", "csrf_token": token}
    )

    assert_accepted(target, response)
    assert target.notes_effects()[0]["body"] == f"note=hi&csrf_token={token}".encode()


def test_percent_encoded_field_name_is_read_like_the_app_reads_it(
    target: Target,
) -> None:
    # csrf%5Ftoken is csrf_token to every form parser, Starlette's included:
    # finding it is consistent, not a bypass; a wrong value is still wrong.
    session_id, token = target.new_session()
    forged = target.post(
        session_id=session_id,
        content=f"csrf%5Ftoken={FORGED}".encode(),
        headers={"content-type": FORM},
    )
    assert_rejected(target, forged, "token_invalid")

    control = target.post(
        session_id=session_id,
        content=f"csrf%5Ftoken={token}".encode(),
        headers={"content-type": FORM},
    )
    assert control.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "csrf_token+={t}",  # the name becomes "csrf_token "
        "csrf_token%00={t}",
        "CSRF_TOKEN={t}",
        "csrf-token={t}",
        "csrf_token[]={t}",
        "x=1;csrf_token={t}",  # ';' is no separator for Starlette either
        "csrf_token",  # no value at all
    ],
)
def test_lookalike_field_names_carry_no_token(target: Target, body: str) -> None:
    session_id, token = target.new_session()
    response = target.post(
        session_id=session_id,
        content=body.format(t=token).encode(),
        headers={"content-type": FORM},
    )

    assert response.status_code == 403
    assert reason_of(response) in ("token_missing", "token_invalid")
    assert target.recorder.reached == []


def test_plus_in_token_value_is_a_space_and_fails(target: Target) -> None:
    session_id, token = target.new_session()
    mangled = token[:10] + "+" + token[11:]
    response = target.post(
        session_id=session_id,
        content=f"csrf_token={mangled}".encode(),
        headers={"content-type": FORM},
    )

    assert_rejected(target, response, "token_invalid")


def test_fully_percent_encoded_token_value_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    encoded = "".join(f"%{ord(c):02X}" for c in token)
    response = target.post(
        session_id=session_id,
        content=f"csrf_token={encoded}".encode(),
        headers={"content-type": FORM},
    )

    assert_accepted(target, response)


def test_form_body_declared_text_plain_is_not_searched(target: Target) -> None:
    # <form enctype="text/plain"> is the classic way to forge a body
    # without a preflight; it must never be read as a form.
    session_id, token = target.new_session()
    for content_type in ("text/plain", "text/plain; charset=utf-8", None):
        headers = {"content-type": content_type} if content_type else {}
        response = target.post(
            session_id=session_id,
            content=f"csrf_token={token}".encode(),
            headers=headers,
        )
        assert_rejected(target, response, "token_missing")


def test_content_type_sent_twice_is_not_trusted(target: Target) -> None:
    session_id, token = target.new_session()
    response = http_request(
        target,
        headers=[
            ("Content-Type", "text/plain"),
            ("Content-Type", FORM),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
        body=f"csrf_token={token}".encode(),
    )

    assert response.status == 403
    assert target.recorder.reached == []


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded ; charset=utf-16",
    ],
)
def test_form_content_type_variants_are_still_searched(
    target: Target, content_type: str
) -> None:
    session_id, token = target.new_session()
    forged = target.post(
        session_id=session_id,
        content=f"csrf_token={FORGED}".encode(),
        headers={"content-type": content_type},
    )
    assert_rejected(target, forged, "token_invalid")

    control = target.post(
        session_id=session_id,
        content=f"csrf_token={token}".encode(),
        headers={"content-type": content_type},
    )
    assert control.status_code == 200


# -- multipart ----------------------------------------------------------------


def _post_multipart(
    target: Target, session_id: str, body: bytes, boundary: str = "XyZ"
) -> httpx.Response:
    return target.post(
        session_id=session_id,
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )


def test_multipart_token_field_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    body = _multipart(
        "XyZ",
        [
            (_disposition("csrf_token"), token.encode()),
            (_disposition("file", '; filename="a.txt"'), b"x" * 1000),
        ],
    )
    response = _post_multipart(target, session_id, body)

    assert_accepted(target, response)
    assert target.notes_effects()[0]["body"] == body


def test_multipart_token_in_a_file_part_does_not_count(target: Target) -> None:
    session_id, token = target.new_session()
    body = _multipart(
        "XyZ", [(_disposition("csrf_token", '; filename="t.txt"'), token.encode())]
    )
    response = _post_multipart(target, session_id, body)

    assert_rejected(target, response, "token_missing")


@pytest.mark.parametrize(
    "disposition",
    [
        'Content-Disposition: form-data; name="csrf_token\\""',
        'Content-Disposition: form-data; name="csrf_token "',
        'Content-Disposition: form-data; name="csrf_token"x',
        "Content-Disposition: form-data; name*=UTF-8''csrf_token",
        'Content-Disposition: attachment; name="csrf_tokeN"',
        'Content-Disposition: form-data; name="csrf%5Ftoken"',
        'Content-Disposition: form-data; name="csrf_token"; filename=""',
    ],
    ids=[
        "escaped-quote",
        "trailing-space",
        "junk-after-quote",
        "rfc2231",
        "case",
        "percent",
        "empty-filename",
    ],
)
def test_multipart_lookalike_names_carry_no_token(
    target: Target, disposition: str
) -> None:
    session_id, token = target.new_session()
    body = _multipart("XyZ", [(disposition, token.encode())])
    response = _post_multipart(target, session_id, body)

    assert response.status_code == 403
    assert target.recorder.reached == []
    assert target.recorder.errors == []


def test_multipart_valid_and_invalid_token_fields_conflict(target: Target) -> None:
    session_id, token = target.new_session()
    for first, second in ((token, FORGED), (FORGED, token)):
        body = _multipart(
            "XyZ",
            [
                (_disposition("csrf_token"), first.encode()),
                (_disposition("csrf_token"), second.encode()),
            ],
        )
        response = _post_multipart(target, session_id, body)
        assert_rejected(target, response, "token_conflict")


def test_multipart_nested_part_is_not_a_token(target: Target) -> None:
    session_id, token = target.new_session()
    inner = _multipart("inner", [(_disposition("csrf_token"), token.encode())])
    body = _multipart(
        "XyZ",
        [
            (
                _disposition("csrf_token")
                + "\r\nContent-Type: multipart/mixed; boundary=inner",
                inner,
            )
        ],
    )
    response = _post_multipart(target, session_id, body)

    assert_rejected(target, response, "token_invalid")


def test_multipart_without_boundary_is_malformed(target: Target) -> None:
    session_id, token = target.new_session()
    body = _multipart("XyZ", [(_disposition("csrf_token"), token.encode())])
    response = target.post(
        session_id=session_id,
        content=body,
        headers={"content-type": "multipart/form-data"},
    )

    assert_rejected(target, response, "malformed_body")


def test_multipart_boundary_over_256_bytes_is_malformed_not_a_crash(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    boundary = "b" * 300
    body = _multipart(boundary, [(_disposition("csrf_token"), token.encode())])
    response = _post_multipart(target, session_id, body, boundary)

    assert response.status_code == 403
    assert reason_of(response) == "malformed_body"
    assert target.recorder.errors == []


@pytest.mark.parametrize(
    "boundary",
    [
        '"XyZ"',
        "XyZ; boundary=other",
        "",
        '""',
        "a b",
        "\u00e9\u00e9",
    ],
)
def test_odd_boundaries_never_crash(target: Target, boundary: str) -> None:
    session_id, token = target.new_session()
    body = _multipart("XyZ", [(_disposition("csrf_token"), token.encode())])
    response = http_request(
        target,
        headers=[
            ("Content-Type", f"multipart/form-data; boundary={boundary}"),
            ("Cookie", f"{COOKIE}={session_id}"),
        ],
        body=body,
    )

    assert response.status is not None
    assert response.status != 500
    assert target.recorder.errors == []


@pytest.mark.parametrize(
    "body",
    [
        # header folding (obsolete line continuation)
        b'--XyZ\r\nContent-Disposition: form-data;\r\n name="csrf_token"\r\n\r\n'
        b"TOKEN\r\n--XyZ--\r\n",
        # no final boundary
        b'--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\nTOKEN',
        # CR-only line endings
        b'--XyZ\rContent-Disposition: form-data; name="csrf_token"\r\rTOKEN\r--XyZ--\r',
        # LF-only line endings
        b'--XyZ\nContent-Disposition: form-data; name="csrf_token"\n\nTOKEN\n--XyZ--\n',
        # preamble junk and a boundary prefix inside the value
        b"junk\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        b"TOKEN\r\n--XyZa\r\n--XyZ--\r\n",
        # header without colon
        b"--XyZ\r\nContent-Disposition form-data\r\n\r\nTOKEN\r\n--XyZ--\r\n",
        # empty body
        b"",
        # only the closing boundary
        b"--XyZ--\r\n",
        # 20 headers in one part
        b"--XyZ\r\n"
        + b"X-H: v\r\n" * 20
        + b'Content-Disposition: form-data; name="csrf_token"\r\n\r\nTOKEN\r\n--XyZ--',
        # a 10 kB part header
        b"--XyZ\r\nContent-Disposition: form-data; name="
        + b"a" * 10_000
        + b"\r\n\r\nTOKEN\r\n--XyZ--\r\n",
        # non-ASCII part header bytes
        b'--XyZ\r\nContent-Disposition: form-data; name="csrf_token\xff\xfe"'
        b"\r\n\r\nTOKEN\r\n--XyZ--\r\n",
    ],
    ids=[
        "folding",
        "no-final-boundary",
        "cr-only",
        "lf-only",
        "preamble-and-near-boundary",
        "header-without-colon",
        "empty",
        "only-close",
        "many-headers",
        "huge-header",
        "non-ascii-header",
    ],
)
def test_malformed_multipart_is_refused_without_error(
    target: Target, body: bytes
) -> None:
    session_id, token = target.new_session()
    response = _post_multipart(
        target, session_id, body.replace(b"TOKEN", token.encode())
    )

    status = response.status_code
    assert status != 500
    assert target.recorder.errors == []
    if status == 200:
        # Only acceptable if the one field really held this session's token.
        assert target.notes_effects()
    else:
        assert status == 403
        assert target.recorder.reached == []


def test_multipart_token_part_in_utf16_is_not_the_token(target: Target) -> None:
    session_id, token = target.new_session()
    body = _multipart(
        "XyZ",
        [
            (
                _disposition("csrf_token")
                + "\r\nContent-Type: text/plain; charset=utf-16",
                token.encode("utf-16"),
            )
        ],
    )
    response = _post_multipart(target, session_id, body)

    assert_rejected(target, response, "token_invalid")


# -- JSON ---------------------------------------------------------------------


def _post_json(
    target: Target, session_id: str, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return target.post(
        session_id=session_id, content=body, headers={"content-type": content_type}
    )


def test_json_token_key_is_accepted(target: Target) -> None:
    session_id, token = target.new_session()
    body = json.dumps({"note": "hi", "csrf_token": token}).encode()
    response = _post_json(target, session_id, body)

    assert_accepted(target, response)
    assert target.notes_effects()[0]["body"] == body


def test_json_duplicate_keys_with_valid_and_invalid_token_conflict(
    target: Target,
) -> None:
    session_id, token = target.new_session()
    for first, second in ((token, FORGED), (FORGED, token)):
        body = f'{{"csrf_token": "{first}", "csrf_token": "{second}"}}'.encode()
        response = _post_json(target, session_id, body)
        assert_rejected(target, response, "token_conflict")


@pytest.mark.parametrize(
    "value",
    ["1", "1e999", "true", "null", "[]", "{}", '["TOKEN"]', '{"csrf_token":"TOKEN"}'],
)
def test_json_non_string_token_is_invalid(target: Target, value: str) -> None:
    session_id, token = target.new_session()
    body = f'{{"csrf_token": {value.replace("TOKEN", token)}}}'.encode()
    response = _post_json(target, session_id, body)

    assert response.status_code == 403
    assert target.recorder.reached == []


def test_json_nested_token_does_not_count(target: Target) -> None:
    session_id, token = target.new_session()
    body = json.dumps({"data": {"csrf_token": token}, "x": [{"csrf_token": token}]})
    response = _post_json(target, session_id, body.encode())

    assert_rejected(target, response, "token_missing")


def test_json_escaped_key_is_the_same_key(target: Target) -> None:
    # "csrf\u005ftoken" is csrf_token to every JSON parser; consistent.
    session_id, token = target.new_session()
    forged = _post_json(
        target, session_id, f'{{"csrf\\u005ftoken": "{FORGED}"}}'.encode()
    )
    assert_rejected(target, forged, "token_invalid")

    control = _post_json(
        target, session_id, f'{{"csrf\\u005ftoken": "{token}"}}'.encode()
    )
    assert control.status_code == 200


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"], ids=str
)
def test_json_in_other_unicode_encodings_never_crashes(
    target: Target, encoding: str
) -> None:
    session_id, token = target.new_session()
    forged = _post_json(
        target, session_id, json.dumps({"csrf_token": FORGED}).encode(encoding)
    )
    assert forged.status_code == 403
    assert target.recorder.reached == []

    # Whatever the verdict on the right token, never an error.
    control = _post_json(
        target, session_id, json.dumps({"csrf_token": token}).encode(encoding)
    )
    assert control.status_code in (200, 403)
    assert target.recorder.errors == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"csrf_token": "x", "n": ' + b"9" * 100_000 + b"}",
        b'{"n": 1' + b"0" * 50_000 + b".5e-99999}",
        b"\xff\xfe\x00\x00garbage",
        b'{"csrf_token": "\\ud800"}',
        b"NaN",
        b"",
        b'{"csrf_token": "TOKEN"',
        b'{"csrf_token": "TOKEN"}garbage',
        b"\x00" * 1000,
    ],
    ids=[
        "deep-arrays",
        "deep-objects",
        "huge-int",
        "huge-float",
        "bad-bom",
        "lone-surrogate",
        "nan",
        "empty",
        "truncated",
        "trailing-garbage",
        "nul-bytes",
    ],
)
def test_malformed_json_is_refused_without_error(target: Target, body: bytes) -> None:
    session_id, token = target.new_session()
    response = _post_json(target, session_id, body.replace(b"TOKEN", token.encode()))

    assert response.status_code == 403
    assert target.recorder.reached == []
    assert target.recorder.errors == []


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.api+json",
        "application/problem+json",
    ],
)
def test_json_content_type_variants_are_searched(
    target: Target, content_type: str
) -> None:
    session_id, token = target.new_session()
    forged = _post_json(
        target, session_id, json.dumps({"csrf_token": FORGED}).encode(), content_type
    )
    assert_rejected(target, forged, "token_invalid")

    control = _post_json(
        target, session_id, json.dumps({"csrf_token": token}).encode(), content_type
    )
    assert control.status_code == 200


def test_json_declared_as_text_is_not_searched(target: Target) -> None:
    session_id, token = target.new_session()
    for content_type in ("text/plain", "text/json", "application/jsonx"):
        response = _post_json(
            target, session_id, json.dumps({"csrf_token": token}).encode(), content_type
        )
        assert_rejected(target, response, "token_missing")
