"""The public surface: ``forgeproof.__all__`` is exactly what users import."""

from __future__ import annotations
import __future__

import types

import forgeproof


def public_names() -> set[str]:
    """Every public binding of the package, minus submodules and the
    ``from __future__ import annotations`` marker."""
    return {
        name
        for name, value in vars(forgeproof).items()
        if not name.startswith("_")
        and not isinstance(value, (types.ModuleType, __future__._Feature))
    }


def isort_key(name: str) -> tuple[int, str]:
    # Constants, then classes, then functions (ruff's RUF022 order).
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


def test_all_lists_exactly_the_public_names_of_the_package() -> None:
    assert set(forgeproof.__all__) == public_names()


def test_all_is_sorted_and_without_duplicates() -> None:
    assert list(forgeproof.__all__) == sorted(set(forgeproof.__all__), key=isort_key)


def test_every_exported_name_resolves() -> None:
    missing = [name for name in forgeproof.__all__ if not hasattr(forgeproof, name)]

    assert missing == []


def test_every_exported_object_has_a_docstring() -> None:
    undocumented = [
        name
        for name in forgeproof.__all__
        if callable(getattr(forgeproof, name))
        and not (getattr(forgeproof, name).__doc__ or "").strip()
    ]

    assert undocumented == []


def test_the_package_names_a_version() -> None:
    assert forgeproof.__version__.count(".") == 2
