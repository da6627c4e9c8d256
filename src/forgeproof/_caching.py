"""Response headers that keep shared caches from mixing up visitors.

A page that read the session differs by cookie, so it gets ``Vary:
Cookie``; a page that carries a token must never be stored by any cache,
or a CDN could hand one visitor's token to the next, so it gets
``Cache-Control: private, no-store`` (RFC 9111 §5.2.2.5 and §5.2.2.7).
Both adapters' session middleware call these when the response starts.
"""

from __future__ import annotations

from .sessions.base import Session

__all__ = ["cache_headers", "cache_headers_raw"]

# Directives that would let a shared cache keep the page.
_WIDENING = frozenset({"public", "s-maxage"})


def cache_headers(
    session: Session, headers: list[tuple[str, str]], *, sets_cookie: bool = False
) -> list[tuple[str, str]]:
    """*headers* with ``Vary: Cookie`` added if the session was read, and
    ``private`` and ``no-store`` merged into ``Cache-Control`` if a token
    was issued or the response sets the session cookie (a cached
    ``Set-Cookie`` would hand one visitor's session to the next). The app's
    own stricter directives are kept."""
    no_store = session.token_issued or sets_cookie
    if not (session.accessed or no_store):
        return headers

    vary = [value for name, value in headers if name.lower() == "vary"]
    result = list(headers)
    if not _varies_by_cookie(vary):
        result.append(("vary", "Cookie"))
    if no_store:
        control = [value for name, value in result if name.lower() == "cache-control"]
        result = [item for item in result if item[0].lower() != "cache-control"]
        result.append(("cache-control", _private_no_store(control)))

    return result


def cache_headers_raw(
    session: Session, headers: list[tuple[bytes, bytes]], *, sets_cookie: bool = False
) -> list[tuple[bytes, bytes]]:
    """:func:`cache_headers` for ASGI's byte-string header pairs."""
    if not (session.accessed or session.token_issued or sets_cookie):
        return headers

    text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    return [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in cache_headers(session, text, sets_cookie=sets_cookie)
    ]


def _varies_by_cookie(values: list[str]) -> bool:
    fields = {part.strip().lower() for value in values for part in value.split(",")}
    return "cookie" in fields or "*" in fields


def _private_no_store(values: list[str]) -> str:
    directives = [
        part.strip() for value in values for part in value.split(",") if part.strip()
    ]
    kept = [d for d in directives if _directive_name(d) not in _WIDENING]
    names = {_directive_name(d) for d in kept}
    kept.extend(needed for needed in ("private", "no-store") if needed not in names)

    return ", ".join(kept)


def _directive_name(directive: str) -> str:
    return directive.partition("=")[0].strip().lower()
