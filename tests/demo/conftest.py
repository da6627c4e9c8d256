"""Fixtures of the demo tests: demo processes that are always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.demo_support import DemoProcess, DemoRunner


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[DemoRunner]:
    """Starts demos for one test; stops them by PID afterwards."""
    demos = DemoRunner(tmp_path)
    try:
        yield demos
    finally:
        demos.stop_all()


@pytest.fixture(scope="module")
def module_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRunner]:
    demos = DemoRunner(tmp_path_factory.mktemp("demo"))
    try:
        yield demos
    finally:
        demos.stop_all()


@pytest.fixture(scope="module")
def demo(module_runner: DemoRunner) -> DemoProcess:
    """One protected demo shared by a module's tests.

    Tests that share it compare notes before and after, never absolute
    counts.
    """
    return module_runner.start()
