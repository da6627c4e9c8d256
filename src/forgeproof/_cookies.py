"""Reading the request ``Cookie`` header into name/value pairs.

Unlike ``http.cookies.SimpleCookie`` this keeps every occurrence of a name,
in order: a name seen twice is how a planted cookie shows itself.
"""

from __future__ import annotations

__all__ = ["parse_cookie_header"]


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
