"""Fixtures of the second adversarial round: real servers (waitress for
WSGI, uvicorn for ASGI) around small recording apps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from adversarial2.adv2_apps import asgi_app, wsgi_app
from adversarial2.adv2_support import Recorder
from forgeproof.sessions.memory import MemorySessionStore
from support.servers import serve_asgi, serve_wsgi


@dataclass
class Served:
    """One running app: its URL, port, adapter name and recorder."""

    base: str
    port: int
    adapter: str
    recorder: Recorder


@pytest.fixture(scope="module")
def wsgi_served() -> Iterator[Served]:
    recorder = Recorder()
    with serve_wsgi(wsgi_app(recorder, MemorySessionStore())) as base:
        yield Served(base, int(base.rsplit(":", 1)[1]), "wsgi", recorder)


@pytest.fixture(scope="module")
def asgi_served() -> Iterator[Served]:
    recorder = Recorder()
    with serve_asgi(asgi_app(recorder, MemorySessionStore())) as base:
        yield Served(base, int(base.rsplit(":", 1)[1]), "asgi", recorder)


@pytest.fixture
def wsgi_target(wsgi_served: Served) -> Served:
    wsgi_served.recorder.reset()
    return wsgi_served


@pytest.fixture(params=["asgi", "wsgi"])
def either(
    request: pytest.FixtureRequest, asgi_served: Served, wsgi_served: Served
) -> Served:
    """The same small app behind the ASGI and behind the WSGI adapter."""
    target = asgi_served if request.param == "asgi" else wsgi_served
    target.recorder.reset()
    return target
