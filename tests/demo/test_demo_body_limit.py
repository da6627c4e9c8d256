"""The demo's 64 MiB body limit, for bodies that declare no length.

In-process: over real HTTP the server's early 413 races the client still
sending, and the client sees a reset instead of the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import forgeproof
from demo.demo_support import form_token, meta_token
from forgeproof.demo.app import MAX_ATTACHMENT_BYTES, create_app
from forgeproof.demo.db import DemoDB


async def logged_in_client(tmp_path: Path) -> httpx.AsyncClient:
    app = create_app(DemoDB(tmp_path / "demo.sqlite3"), forgeproof.MemorySessionStore())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    token = form_token((await client.get("/login")).text)
    response = await client.post(
        "/login",
        data={"username": "alice", "password": "alice-password", "csrf_token": token},
    )
    assert response.status_code == 303
    return client


async def multipart_without_length(file_bytes: int) -> AsyncIterator[bytes]:
    yield (
        b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nchunked\r\n'
        b'--b\r\nContent-Disposition: form-data; name="attachment"; '
        b'filename="big.bin"\r\n\r\n'
    )
    chunk = b"\0" * (1024 * 1024)
    for _ in range(file_bytes // len(chunk)):
        yield chunk
    yield b"\r\n--b--\r\n"


async def post_and_list(tmp_path: Path, file_bytes: int) -> tuple[int, list[str]]:
    client = await logged_in_client(tmp_path)
    try:
        token = meta_token((await client.get("/")).text)
        response = await client.post(
            "/notes",
            content=multipart_without_length(file_bytes),
            headers={
                "Content-Type": "multipart/form-data; boundary=b",
                "X-CSRF-Token": token,
            },
        )
        notes = (await client.get("/api/notes")).json()["notes"]
    finally:
        await client.aclose()
    return response.status_code, [note["text"] for note in notes]


@pytest.mark.parametrize(
    ("file_bytes", "status", "texts"),
    [
        pytest.param(MAX_ATTACHMENT_BYTES + 2 * 1024 * 1024, 413, [], id="over 64 MiB"),
        pytest.param(2 * 1024 * 1024, 303, ["chunked"], id="control: 2 MiB"),
    ],
)
def test_body_without_content_length_is_counted_against_the_limit(
    tmp_path: Path, file_bytes: int, status: int, texts: list[str]
) -> None:
    assert asyncio.run(post_and_list(tmp_path, file_bytes)) == (status, texts)
