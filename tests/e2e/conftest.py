"""Fixtures for the end-to-end tests: each served app, on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from e2e.e2e_support import Target, http_client, serve_target

ADAPTER_APPS = ["starlette (uvicorn)", "flask (waitress)"]
EXAMPLE_APPS = [
    "example starlette_app.py (uvicorn)",
    "example fastapi_app.py (uvicorn)",
    "example flask_app.py (waitress)",
]


@pytest.fixture(scope="module", params=ADAPTER_APPS + EXAMPLE_APPS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Every app the attack table runs against, served over real HTTP."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("SESSION_STORE", "memory://")
    try:
        with serve_target(request.param) as served:
            yield served
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="module", params=ADAPTER_APPS)
def adapter_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The two apps with the body-fidelity routes, one per adapter."""
    with serve_target(request.param) as served:
        yield served


@pytest.fixture
def client(target: Target) -> Iterator[httpx.Client]:
    with http_client(target.url) as client:
        yield client
