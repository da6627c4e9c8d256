"""After the middleware searched the body for the token, the app's own
parsers (Flask's ``request.form``/``request.files``, Starlette's ``await
request.form()``) still receive every byte, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import httpx
import pytest

from e2e.e2e_support import (
    Target,
    Visitor,
    form_body,
    http_client,
    multipart_body,
)

FIVE_MIB = 5 * 1024 * 1024


@pytest.fixture
def visitor(adapter_target: Target) -> Iterator[Visitor]:
    with http_client(adapter_target.url) as client:
        visitor = Visitor(client)
        visitor.load_page()
        yield visitor


def post(
    visitor: Visitor, path: str, content_type: str, body: object
) -> httpx.Response:
    headers = [("Content-Type", content_type), *visitor.cookie()]
    return visitor.client.post(path, headers=headers, content=body)  # type: ignore[arg-type]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_multi_megabyte_upload_with_token_first_reaches_the_form_parser_whole(
    visitor: Visitor,
) -> None:
    data = os.urandom(FIVE_MIB)
    content_type, body = multipart_body(
        [
            ("csrf_token", visitor.token.encode(), None),
            ("attachment", data, "big.bin"),
            ("text", b"after the file", None),
        ]
    )

    response = post(visitor, "/upload", content_type, body)

    assert response.status_code == 200
    assert response.json()["files"] == {
        "attachment": {"size": FIVE_MIB, "sha256": sha256(data)}
    }
    assert response.json()["fields"] == {
        "csrf_token": [visitor.token],
        "text": ["after the file"],
    }


def test_chunked_upload_with_token_first_reaches_the_form_parser_whole(
    visitor: Visitor,
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    content_type, body = multipart_body(
        [("csrf_token", visitor.token.encode(), None), ("attachment", data, "c.bin")]
    )

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    response = post(visitor, "/upload", content_type, chunks())

    assert response.status_code == 200
    assert response.json()["files"]["attachment"]["sha256"] == sha256(data)


def test_urlencoded_form_with_a_large_field_after_the_token_arrives_whole(
    visitor: Visitor,
) -> None:
    big = "x" * (2 * 1024 * 1024)
    content_type, body = form_body(
        [("csrf_token", visitor.token), ("big", big), ("text", "last")]
    )

    response = post(visitor, "/upload", content_type, body)

    assert response.status_code == 200
    assert response.json()["fields"]["big"] == [big]
    assert response.json()["fields"]["text"] == ["last"]


def test_json_body_searched_for_the_token_reaches_the_app_byte_for_byte(
    visitor: Visitor,
) -> None:
    body = json.dumps({"csrf_token": visitor.token, "text": "é" * 1000}).encode()

    response = post(visitor, "/echo", "application/json", body)

    assert response.status_code == 200
    assert response.json() == {"size": len(body), "sha256": sha256(body)}


def test_body_of_a_request_with_the_header_token_reaches_the_app_whole(
    visitor: Visitor,
) -> None:
    data = os.urandom(FIVE_MIB)
    headers = [
        ("Content-Type", "application/octet-stream"),
        ("X-CSRF-Token", visitor.token),
        *visitor.cookie(),
    ]

    response = visitor.client.post("/echo", headers=headers, content=data)

    assert response.status_code == 200
    assert response.json() == {"size": FIVE_MIB, "sha256": sha256(data)}
