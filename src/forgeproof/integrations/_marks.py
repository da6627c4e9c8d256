"""The mark an ``exempt`` decorator leaves on a view, route or blueprint."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["is_marked_exempt", "mark_exempt"]

_ATTRIBUTE = "_forgeproof_csrf_exempt"

_T = TypeVar("_T")


def mark_exempt(target: _T) -> _T:
    """Mark *target* exempt and return it unchanged, so the decorator works
    above or below the framework's own route decorator."""
    try:
        setattr(target, _ATTRIBUTE, True)
    except AttributeError:
        raise TypeError(
            f"cannot mark {target!r} exempt: decorate the function itself"
        ) from None
    return target


def is_marked_exempt(target: object) -> bool:
    """Whether :func:`mark_exempt` marked *target*."""
    return getattr(target, _ATTRIBUTE, False) is True
