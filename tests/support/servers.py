"""Real HTTP servers on 127.0.0.1 for end-to-end tests.

ASGI apps run under uvicorn and WSGI apps under waitress, each in a thread
of the test process, on a free port; both stop when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


@contextmanager
def serve_asgi(app: Any, **options: Any) -> Iterator[str]:
    """Serve *app* with uvicorn; yields its base URL. *options* go to
    ``uvicorn.Config``."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        **{"log_level": "warning", "lifespan": "off", **options},
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_wsgi(app: Any, **options: Any) -> Iterator[str]:
    """Serve *app* with waitress; yields its base URL. *options* go to
    waitress's ``create_server``."""
    from waitress.server import create_server

    port = free_port()
    server = create_server(
        app, host="127.0.0.1", port=port, **{"threads": 4, **options}
    )

    def run() -> None:
        # close() below closes sockets under the loop's select() in this
        # thread; the EBADF that may follow is the loop learning it stopped.
        with contextlib.suppress(OSError):
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        thread.join(timeout=10)
