"""The scheme and host a request was sent to, as the reverse proxies in
front of the app report them.

Behind a proxy that terminates TLS, the app sees plain http and whatever
``Host`` the proxy chose, while the browser's ``Origin`` names the public
https address. The proxy says what it received in ``Forwarded`` (RFC 7239)
or in ``X-Forwarded-Proto``, ``-Host`` and ``-Port``.

Those headers are also what any client can send, so they are read only when
the app says how many proxies stand in front of it, and only the value the
outermost of those proxies appended is believed: each proxy adds one entry
at the end, so with *N* trusted proxies the entry *N*-th from the end is
the last one written by a machine we trust. Entries before it came from
the client and are ignored. Too few entries means a proxy was bypassed or
misconfigured; then the headers are ignored as a whole.

Nothing here does I/O: the adapters pass header values in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigurationError

__all__ = ["ProxyHeaders", "TrustedProxies", "parse_forwarded"]

#: Which headers the trusted proxies write: ``"x-forwarded"`` for
#: ``X-Forwarded-Proto``/``-Host``/``-Port``, ``"forwarded"`` for RFC 7239.
ProxyHeaders = Literal["x-forwarded", "forwarded"]

_SCHEMES = frozenset({"http", "https"})
_MAX_PROXIES = 16  # more hops than any real deployment has


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """How many reverse proxies stand in front of the app, and which
    headers they write.

    Only one header family is read, the one named here: a proxy that writes
    ``X-Forwarded-*`` usually passes a client's own ``Forwarded`` header
    through untouched, so reading whichever is present would let any client
    choose the origin the app believes it has.

    :param count: the number of proxies, at least 1. Too high, and a client
        can put its own values where the outermost proxy's should be; too
        low, and a proxy's values are taken for a client's and legitimate
        requests are refused.
    :param headers: ``"x-forwarded"`` (the default) or ``"forwarded"``.
    """

    count: int
    headers: ProxyHeaders = "x-forwarded"

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not 1 <= self.count <= _MAX_PROXIES:
            raise ConfigurationError(
                f"trusted_proxies must be the number of proxies in front of the "
                f"app, 1 to {_MAX_PROXIES}, not {self.count!r}"
            )
        if self.headers not in ("x-forwarded", "forwarded"):
            raise ConfigurationError(
                "proxy_headers must be 'x-forwarded' or 'forwarded', "
                f"not {self.headers!r}"
            )

    def resolve(
        self,
        scheme: str,
        host: str | None,
        *,
        forwarded: str | None = None,
        x_forwarded_proto: str | None = None,
        x_forwarded_host: str | None = None,
        x_forwarded_port: str | None = None,
    ) -> tuple[str, str | None]:
        """The scheme and ``Host`` value the outermost trusted proxy received.

        *scheme* and *host* are what the app server saw; each is kept where
        the trusted hop said nothing usable about it.
        """
        if self.headers == "forwarded":
            return self._resolve_forwarded(scheme, host, forwarded)

        proto = _hop_value(x_forwarded_proto, self.count)
        if proto is not None and proto.lower() in _SCHEMES:
            scheme = proto.lower()
        forwarded_host = _hop_value(x_forwarded_host, self.count)
        if forwarded_host:
            host = forwarded_host
        port = _hop_value(x_forwarded_port, self.count)
        if host and port is not None and _is_port(port):
            host = f"{_without_port(host)}:{int(port)}"

        return scheme, host

    def _resolve_forwarded(
        self, scheme: str, host: str | None, header: str | None
    ) -> tuple[str, str | None]:
        elements = parse_forwarded(header) if header else None
        if elements is None or len(elements) < self.count:
            return scheme, host

        element = elements[-self.count]
        proto = element.get("proto", "").lower()
        if proto in _SCHEMES:
            scheme = proto
        if element.get("host"):
            host = element["host"]

        return scheme, host


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """The elements of a ``Forwarded`` header (RFC 7239 §4), one dict of
    lower-case parameter names to unquoted values per hop, in order.

    ``None`` when the header is malformed anywhere (an unclosed quote, a
    pair without ``=``, a parameter named twice in one element): a header
    we cannot read exactly is not believed in part.
    """
    elements: list[dict[str, str]] = []
    for raw_element in _split_outside_quotes(value, ","):
        if raw_element is None:
            return None
        element: dict[str, str] = {}
        for pair in _split_outside_quotes(raw_element, ";"):
            if pair is None:
                return None
            if not pair.strip():
                continue  # RFC 7230 list syntax allows empty members
            name, sep, raw = pair.strip().partition("=")
            name = name.lower()
            parsed = _unquote(raw)
            if not sep or not name or name in element or parsed is None:
                return None
            element[name] = parsed
        elements.append(element)

    return elements


def _split_outside_quotes(value: str, separator: str) -> list[str | None]:
    """*value* split at *separator* outside quoted strings; a ``None`` item
    marks an unterminated quote."""
    parts: list[str | None] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append(None if quoted or escaped else "".join(current))

    return parts


def _unquote(raw: str) -> str | None:
    # RFC 7239 §4: a value is a token or a quoted-string (RFC 7230 §3.2.6).
    raw = raw.strip()
    if not raw.startswith('"'):
        return None if '"' in raw or not raw else raw
    if len(raw) < 2 or not raw.endswith('"'):
        return None

    chars: list[str] = []
    escaped = False
    for char in raw[1:-1]:
        if escaped:
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            chars.append(char)
    return None if escaped else "".join(chars)


def _hop_value(header: str | None, count: int) -> str | None:
    """The entry the outermost trusted proxy appended to a comma list."""
    if header is None:
        return None
    values = [part.strip() for part in header.split(",")]
    if len(values) < count:
        return None
    return values[-count]


def _is_port(value: str) -> bool:
    return value.isascii() and value.isdigit() and 0 < int(value) <= 65535


def _without_port(host: str) -> str:
    if host.startswith("["):  # an IPv6 literal: "[::1]:8443"
        end = host.find("]")
        return host if end == -1 else host[: end + 1]
    return host.rpartition(":")[0] if ":" in host else host
