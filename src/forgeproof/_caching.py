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
# Fields that tell a CDN how long to keep a page whatever Cache-Control
# says: RFC 9213's targeted fields, Surrogate-Control (Fastly, Varnish) and
# Akamai's Edge-Control. On a page that must not be stored they say so too.
_CDN_TARGETED = frozenset(
    {
        "cdn-cache-control",
        "cloudflare-cdn-cache-control",
        "edge-control",
        "surrogate-control",
    }
)
_STORAGE_FIELDS = _CDN_TARGETED | {"cache-control"}
# The response headers cache_headers merges with, and as ASGI spells them.
_MERGED = _STORAGE_FIELDS | {"vary"}
_MERGED_RAW = frozenset(name.encode() for name in _MERGED)


def cache_headers(
    session: Session, headers: list[tuple[str, str]], *, sets_cookie: bool = False
) -> list[tuple[str, str]]:
    """*headers* with ``Vary: Cookie`` added if the session was read, and
    ``private`` and ``no-store`` merged into ``Cache-Control`` if a token
    was issued or the response sets the session cookie (a cached
    ``Set-Cookie`` would hand one visitor's session to the next). The app's
    own stricter directives are kept; a CDN-targeted field it set
    (``CDN-Cache-Control``, ``Surrogate-Control``...) becomes ``no-store``."""
    no_store = session.token_issued or sets_cookie
    if not (session.accessed or no_store):
        return headers

    if not any(name.lower() in _MERGED for name, _ in headers):
        # Nothing of the app's own to merge with (the usual page): what the
        # merge below comes to, without parsing anything.
        added = [("vary", "Cookie")]
        if no_store:
            added.append(("cache-control", "private, no-store"))
        return [*headers, *added]

    vary = [value for name, value in headers if name.lower() == "vary"]
    result = list(headers)
    if not _varies_by_cookie(vary):
        result.append(("vary", "Cookie"))
    if no_store:
        result = _forbid_storing(result)

    return result


def cache_headers_raw(
    session: Session, headers: list[tuple[bytes, bytes]], *, sets_cookie: bool = False
) -> list[tuple[bytes, bytes]]:
    """:func:`cache_headers` for ASGI's byte-string header pairs."""
    no_store = session.token_issued or sets_cookie
    if not (session.accessed or no_store):
        return headers

    if not any(k.lower() in _MERGED_RAW for k, _ in headers):
        # Nothing of the app's own to merge with: what cache_headers
        # appends to such a list, without decoding every header.
        added = [(b"vary", b"Cookie")]
        if no_store:
            added.append((b"cache-control", b"private, no-store"))
        return [*headers, *added]

    text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    return [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in cache_headers(session, text, sets_cookie=sets_cookie)
    ]


def _forbid_storing(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    control = [value for name, value in headers if name.lower() == "cache-control"]
    targeted = sorted({name.lower() for name, _ in headers} & _CDN_TARGETED)
    kept = [item for item in headers if item[0].lower() not in _STORAGE_FIELDS]
    kept.append(("cache-control", _private_no_store(control)))
    kept.extend((name, "no-store") for name in targeted)

    return kept


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
