"""Web origins (RFC 6454): the app's own, trusted ones, and what a request
claims in ``Origin`` or ``Referer``.

Configured origins are normalised once, when the app starts. Request values
are then compared by exact string equality against that normal form, never
by prefix or substring: ``https://example.com.evil.net`` shares a prefix
with ``https://example.com`` and must not match it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "TrustedOrigins",
    "normalize_origin",
    "normalize_public_origins",
    "origin_of_referer",
    "own_origin",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}

# What a browser serialises into an Origin header (RFC 6454 §6.2): lower-case
# scheme and host (IDNA already applied), a port only when not the default.
# Underscores are not valid in DNS host names, but browsers accept them (as in
# a container's name, "http://my_app:8000") and send them unchanged.
_SERIALISED_ORIGIN = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9._-]+|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


def normalize_origin(value: str) -> str:
    """Turn a configured origin into the form browsers send.

    Lower-cases, applies IDNA, drops a default port and a trailing dot.

    :raises ConfigurationError: for anything that is not exactly an http(s)
        origin: a missing scheme, a path, a query, userinfo.
    """
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigurationError(
            f"{value!r} is not an origin; write it as scheme://host[:port], "
            "for example https://app.example.com"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{value!r}: an origin has no user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"{value!r}: an origin has no path, query or fragment")

    scheme = parts.scheme.lower()
    host = _idna(parts.hostname.rstrip("."), value)
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{value!r}: the port is not a number") from None

    return _serialise(scheme, host, port)


def normalize_public_origins(values: Iterable[str]) -> tuple[str, ...]:
    """The app's configured public origins, normalised, in order, each once.

    These replace the origin read from the request (scheme and ``Host``),
    which a reverse proxy may have rewritten. Wildcards are refused: the
    app's own origin is always one exact address.

    :raises ConfigurationError: for a wildcard or anything that is not an
        origin (see :func:`normalize_origin`).
    """
    if isinstance(values, str):
        values = [values]  # one origin, not its characters
    normalised: list[str] = []
    for value in values:
        if "*" in value:
            raise ConfigurationError(
                f"public origin {value!r}: the app's own origins are exact; "
                "wildcards belong in trusted_origins"
            )
        origin = normalize_origin(value)
        if origin not in normalised:
            normalised.append(origin)
    return tuple(normalised)


def own_origin(scheme: str, host_header: str | None) -> str | None:
    """The origin a request was addressed to, from its scheme and ``Host``.

    ``None`` when the Host header is missing or unusable; then no ``Origin``
    can match it, which fails closed.
    """
    if not host_header:
        return None

    candidate = f"{scheme.lower()}://{host_header.strip().lower()}"
    match = _SERIALISED_ORIGIN.fullmatch(candidate.rstrip("."))
    if match is None:
        return None

    port = match["port"]
    return _serialise(match["scheme"], match["host"], int(port) if port else None)


def origin_of_referer(referer: str) -> str | None:
    """The origin part of a ``Referer`` URL, or ``None`` if it has none."""
    try:
        parts = urlsplit(referer)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None

    return _serialise(parts.scheme, parts.hostname, port)


class TrustedOrigins:
    """A set of origins, besides the app's own, allowed to send unsafe requests.

    Each entry is a full origin: scheme, host and port must all match, so
    ``http://app.example.com`` never matches an ``https://`` entry. An entry
    ``https://*.example.com`` matches any subdomain of ``example.com`` on
    https with the default port, but not ``example.com`` itself. Trusting an
    origin means trusting every page on it: a stored XSS there can forge
    requests here.
    """

    __slots__ = ("_exact", "_suffixes")

    def __init__(self, origins: Iterable[str] = ()) -> None:
        exact: set[str] = set()
        suffixes: set[tuple[str, str]] = set()
        for origin in origins:
            scheme, sep, rest = origin.partition("://*.")
            if sep:
                # Normalise the part after the wildcard as if it were a host.
                normal = normalize_origin(f"{scheme}://{rest}")
                wild_scheme, _, wild_host = normal.partition("://")
                suffixes.add((wild_scheme + "://", "." + wild_host))
            else:
                exact.add(normalize_origin(origin))
        self._exact = frozenset(exact)
        self._suffixes = tuple(sorted(suffixes))

    def __repr__(self) -> str:
        return f"TrustedOrigins({list(self.entries)!r})"

    def __bool__(self) -> bool:
        return bool(self._exact or self._suffixes)

    @property
    def entries(self) -> tuple[str, ...]:
        """The normalised entries, exact ones then wildcards
        (``https://*.example.com``), each sorted."""
        wild = [f"{scheme}*{suffix}" for scheme, suffix in self._suffixes]
        return (*sorted(self._exact), *wild)

    def __contains__(self, origin: object) -> bool:
        if not isinstance(origin, str):
            return False
        if origin in self._exact:
            return True

        # Wildcards: the request value must itself be a well-formed origin,
        # so that nothing can hide before the suffix.
        if not self._suffixes or _SERIALISED_ORIGIN.fullmatch(origin) is None:
            return False
        return any(
            origin.startswith(scheme)
            and origin.endswith(suffix)
            and len(origin) > len(scheme) + len(suffix)
            for scheme, suffix in self._suffixes
        )


def _serialise(scheme: str, host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # urlsplit strips an IPv6 literal's brackets
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _idna(host: str, original: str) -> str:
    if ":" in host:  # an IPv6 literal: no IDNA
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ConfigurationError(f"{original!r}: the host name is not valid") from None
