"""Fixtures of the fifth adversarial round (the newest fast paths)."""

from __future__ import annotations

import pytest

from adversarial4.adv4_support import STACKS, Stack, capture


@pytest.fixture(params=sorted(STACKS))
def stack(request: pytest.FixtureRequest) -> Stack:
    """A fresh protected app, once behind each adapter."""
    return STACKS[str(request.param)]()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything forgeproof logs, down to DEBUG."""
    capture(caplog)
    return caplog
