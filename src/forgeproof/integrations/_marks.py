"""The mark an ``exempt`` decorator leaves on a view, route or blueprint."""

from __future__ import annotations

import threading
from typing import TypeVar

__all__ = ["is_marked_exempt", "mark_exempt", "marks_made"]

_ATTRIBUTE = "_forgeproof_csrf_exempt"

_T = TypeVar("_T")

# How many marks were made in this process. Integrations remember what they
# found marked along with this count, and look again when it moves. Each
# mark is set before the count moves past it, so a search that read the
# count first has seen every mark up to it.
_marks_made = 0
_count_lock = threading.Lock()


def mark_exempt(target: _T) -> _T:
    """Mark *target* exempt and return it unchanged, so the decorator works
    above or below the framework's own route decorator."""
    global _marks_made
    try:
        setattr(target, _ATTRIBUTE, True)
    except AttributeError:
        raise TypeError(
            f"cannot mark {target!r} exempt: decorate the function itself"
        ) from None
    with _count_lock:
        _marks_made += 1
    return target


def is_marked_exempt(target: object) -> bool:
    """Whether :func:`mark_exempt` marked *target*."""
    return getattr(target, _ATTRIBUTE, False) is True


def marks_made() -> int:
    """How many times :func:`mark_exempt` marked something so far."""
    return _marks_made
