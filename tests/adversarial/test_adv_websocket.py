"""Cross-site WebSocket hijacking: a handshake carries the session cookie
like any request, but has no token and is never checked."""

from __future__ import annotations

import asyncio
from typing import Any

from adversarial.adv_support import COOKIE
from forgeproof.asgi import CSRFMiddleware, SessionMiddleware
from forgeproof.sessions.base import Session, SessionConfig
from forgeproof.sessions.memory import MemorySessionStore


def _stored_session(store: MemorySessionStore) -> str:
    session = Session(None, None, now=1e10)
    session["user"] = "victim"
    write = session.plan_write(SessionConfig(), "http")
    assert write is not None
    assert write.save_key is not None
    assert write.record is not None
    store.save(write.save_key, write.record, 1e12)
    assert session.id is not None
    return session.id


async def _handshake(app: Any, origin: str, session_id: str) -> list[dict[str, Any]]:
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"app.example"),
            (b"origin", origin.encode()),
            (b"cookie", f"{COOKIE}={session_id}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "subprotocols": [],
    }
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _app_seeing_users(users: list[object]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        users.append(scope["session"].get("user"))
        await receive()
        await send({"type": "websocket.accept"})

    return app


def test_same_origin_websocket_sees_the_session() -> None:
    store = MemorySessionStore()
    users: list[object] = []
    app = SessionMiddleware(CSRFMiddleware(_app_seeing_users(users)), store=store)
    sent = asyncio.run(_handshake(app, "http://app.example", _stored_session(store)))

    assert users == ["victim"]
    assert sent[0]["type"] == "websocket.accept"


def test_cross_origin_websocket_handshake_gets_no_session() -> None:
    store = MemorySessionStore()
    users: list[object] = []
    app = SessionMiddleware(CSRFMiddleware(_app_seeing_users(users)), store=store)
    sent = asyncio.run(
        _handshake(app, "http://evil.app.example", _stored_session(store))
    )

    assert users == []
    assert sent == [{"type": "websocket.close", "code": 1008}]
