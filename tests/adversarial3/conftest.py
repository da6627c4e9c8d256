"""Fixtures of the third adversarial round (deployment features)."""

from __future__ import annotations

import pytest

from adversarial3.adv3_support import Recorder


@pytest.fixture(params=["asgi", "wsgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    """Each attack runs through the ASGI and the WSGI adapter."""
    return str(request.param)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
