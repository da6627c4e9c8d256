"""External parts a test needs (a binary from a Debian package).

Locally a missing part skips the test with the reason; in CI (``CI=true``)
it fails it, because a green run that skipped the real thing proves nothing.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(path_or_name: str, package: str) -> str:
    """Return the binary's path, or skip (locally) / fail (in CI)."""
    found = shutil.which(path_or_name)
    if found is not None:
        return found

    message = f"{path_or_name} not found: install the Debian package {package!r}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
