"""Reading the request ``Cookie`` header into name/value pairs.

Unlike ``http.cookies.SimpleCookie`` this keeps every occurrence of a name,
in order: a name seen twice is how a planted cookie shows itself.
"""

from __future__ import annotations

__all__ = ["cookie_values", "parse_cookie_header"]


def parse_cookie_header(header: str) -> list[tuple[str, str]]:
    """Split a ``Cookie`` header (RFC 6265 §4.2.1) into ``(name, value)`` pairs.

    Lenient on purpose: a malformed pair is skipped, never an error, since
    browsers send whatever other sites on the domain have set.
    """
    pairs = []
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if sep and name:
            pairs.append((name, value.strip().strip('"')))
    return pairs


def cookie_values(header: str, name: str) -> list[str]:
    """The values of every pair named *name*, in order: what
    :func:`parse_cookie_header` gives for that name, without splitting the
    pairs of every other cookie the browser sends along."""
    if name not in header:
        return []
    values = []
    for chunk in header.split(";"):
        if name in chunk:
            key, sep, value = chunk.partition("=")
            if sep and key.strip() == name:
                values.append(value.strip().strip('"'))
    return values
