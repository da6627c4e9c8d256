"""Shared tools of the second adversarial round: apps that record what ran,
a raw-socket client, and token scraping.

Every app here records the views that ran (``Recorder.ran``), so an attack
test proves that nothing happened instead of only reading a status code.
"""

from __future__ import annotations

import html
import re
import socket
import threading
from dataclasses import dataclass, field

_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

COOKIE = "forgeproof_session"


@dataclass
class Recorder:
    """The views that ran and the bodies they read."""

    ran: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, name: str, body: bytes = b"") -> None:
        with self.lock:
            self.ran.append(name)
            self.bodies.append(body)

    def reset(self) -> None:
        with self.lock:
            self.ran.clear()
            self.bodies.clear()


def hidden_token(page: str) -> str:
    match = _HIDDEN.search(page)
    assert match is not None, "no csrf_token field on the page"
    return html.unescape(match.group(1))


def meta_token(page: str) -> str:
    match = _META.search(page)
    assert match is not None, "no csrf-token meta tag on the page"
    return html.unescape(match.group(1))


@dataclass
class RawResponse:
    status: int
    head: str
    body: bytes

    def header(self, name: str) -> list[str]:
        prefix = name.lower() + ":"
        return [
            line.split(":", 1)[1].strip()
            for line in self.head.split("\r\n")[1:]
            if line.lower().startswith(prefix)
        ]


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> RawResponse:
    """Send *data* as is and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    return RawResponse(status, text, body)
