"""Web origins (RFC 6454): the app's own, trusted ones, and what a request
claims in ``Origin`` or ``Referer``.

Configured origins are normalised once, when the app starts. Request values
are then compared by exact string equality against that normal form, never
by prefix or substring: ``https://example.com.evil.net`` shares a prefix
with ``https://example.com`` and must not match it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from encodings.idna import nameprep
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
_MAX_LABEL_CHARS = 63  # RFC 1035 §2.3.4

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

    Lower-cases, applies IDNA as browsers do (``ß`` and ``ς`` kept, UTS 46
    non-transitional), compresses an IPv6 literal (``[::1]``), drops a
    default port and a trailing dot.

    :raises ConfigurationError: for anything that is not exactly an http(s)
        origin: a missing scheme, a path, a query, userinfo, a ``*``.
    """
    try:
        parts = urlsplit(value.strip())
        hostname = parts.hostname
    except ValueError:  # an unclosed "[", a netloc that NFKC changes
        raise ConfigurationError(
            f"{value!r} is not an origin; write it as scheme://host[:port]"
        ) from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not hostname:
        raise ConfigurationError(
            f"{value!r} is not an origin; write it as scheme://host[:port], "
            "for example https://app.example.com"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{value!r}: an origin has no user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"{value!r}: an origin has no path, query or fragment")
    if "*" in parts.netloc:
        raise ConfigurationError(
            f"{value!r}: a wildcard is allowed only as a whole first label of "
            "a trusted origin, as in https://*.example.com"
        )

    scheme = parts.scheme.lower()
    if "[" in parts.netloc:
        host = _ipv6(hostname, value)
    else:
        host = _idna(hostname.rstrip("."), value)
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
    if len(host_header) > _MAX_CACHED_HOST_CHARS:
        return _own_origin(scheme, host_header)
    return _own_origin_cached(scheme, host_header)


def _own_origin(scheme: str, host_header: str) -> str | None:
    candidate = f"{scheme.lower()}://{host_header.strip().lower()}"
    match = _SERIALISED_ORIGIN.fullmatch(candidate.rstrip("."))
    if match is None:
        return None

    port = match["port"]
    return _serialise(match["scheme"], match["host"], int(port) if port else None)


# Every unsafe request asks for its own origin, and an app answers to a
# handful of hosts. The cache is bounded in entries and in the length of
# what it keeps, so a flood of made-up Host headers cannot grow it.
_MAX_CACHED_HOST_CHARS = 300  # a 253-character DNS name, a port, some slack
_own_origin_cached = functools.lru_cache(maxsize=64)(_own_origin)


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
                _refuse_too_wide(origin, wild_host)
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
            and _whole_labels(origin[len(scheme) : len(origin) - len(suffix)])
            for scheme, suffix in self._suffixes
        )


def _whole_labels(subdomain: str) -> bool:
    # "a..example.com" and ".a.example.com" are no host names; a lax
    # resolver or proxy may still take them for a.example.com.
    return all(subdomain.split("."))


def _refuse_too_wide(entry: str, wild_host: str) -> None:
    # "https://*.com" would trust every site under a top-level domain. Two
    # labels can be a public suffix too (*.co.uk); forgeproof check flags
    # the common ones, as refusing them here would need the whole list.
    host = wild_host if wild_host.endswith("]") else wild_host.rsplit(":", 1)[0]
    if host.startswith("[") or ("." not in host and host != "localhost"):
        raise ConfigurationError(
            f"{entry!r}: a wildcard must stand before a registered domain, "
            "as in https://*.example.com, not before a top-level domain or "
            "an IP address"
        )


def _serialise(scheme: str, host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # urlsplit strips an IPv6 literal's brackets
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _ipv6(host: str, original: str) -> str:
    # Browsers serialise an IPv6 host in RFC 5952's compressed hex form
    # (WHATWG URL §3.5), so "[0:0::1]" must become "[::1]" to ever match.
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        raise ConfigurationError(f"{original!r}: not a valid IPv6 address") from None
    if address.scope_id is not None:
        raise ConfigurationError(f"{original!r}: browsers send no IPv6 zone id")
    mapped = address.ipv4_mapped
    if mapped is not None:
        # Hex, as browsers write it; newer Pythons print the dotted form.
        high, low = divmod(int(mapped), 1 << 16)
        return f"::ffff:{high:x}:{low:x}"

    return address.compressed


# UTS 46 "deviation" characters. Python's "idna" codec is IDNA 2003, which
# maps ß to "ss" and final sigma to the plain one, and drops the joiners;
# browsers use UTS 46 non-transitional processing and keep them. Mapping
# them would trust strasse.example when straße.example was meant: another
# registrable name.
_KEPT_DEVIATIONS = re.compile("([\u00df\u03c2])")  # ß, ς
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ


def _idna(host: str, original: str) -> str:
    try:
        return ".".join(_idna_label(label, original) for label in host.split("."))
    except UnicodeError:
        raise ConfigurationError(f"{original!r}: the host name is not valid") from None


def _idna_label(label: str, original: str) -> str:
    if not label:
        raise UnicodeError("empty label")
    if _JOINERS.intersection(label):
        # Whether a joiner is allowed depends on its neighbours' joining
        # types (RFC 5892 CONTEXTJ), which the standard library cannot tell.
        raise ConfigurationError(
            f"{original!r}: the host name has a zero-width joiner; write that "
            "label in its xn-- form, as the browser's address bar shows it"
        )
    if not _KEPT_DEVIATIONS.search(label):
        return label.encode("idna").decode("ascii").lower()

    # Nameprep every piece but the kept letters, then Punycode the whole.
    pieces = _KEPT_DEVIATIONS.split(label)
    unicode_label = "".join(
        piece if _KEPT_DEVIATIONS.fullmatch(piece) else nameprep(piece)
        for piece in pieces
    )
    ascii_label = "xn--" + unicode_label.encode("punycode").decode("ascii")
    if len(ascii_label) > _MAX_LABEL_CHARS:
        raise UnicodeError("label too long")

    return ascii_label
