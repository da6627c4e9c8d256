"""Running the demo: both sites under uvicorn in one process and one event
loop, with logging that never shows a token, and a quiet stop on Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sqlite3
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

import forgeproof
from forgeproof.types import ASGIApp

from .app import create_app
from .attacker import create_attacker_app
from .db import DEMO_ACCOUNTS, DemoDB

__all__ = ["DemoSettings", "run"]

_GRACEFUL_SHUTDOWN_SECONDS = 5


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """The options of ``forgeproof demo``; see ``docs/demo-contract.md``."""

    host: str = "127.0.0.1"
    port: int = 8000
    attacker_port: int = 8001  # 0: no attacker site
    db: Path = Path("forgeproof-demo.sqlite3")
    session_store: str | None = None  # None: the db file
    trusted_origins: tuple[str, ...] = ()
    unprotected: bool = False


def run(settings: DemoSettings) -> int:
    """Serve the demo until Ctrl-C or SIGTERM; return the exit status.

    :raises forgeproof.ConfigurationError: for a bad option value.
    :raises OSError: when a port cannot be listened on or the database
        cannot be opened.
    """
    _configure_logging()
    try:
        db = DemoDB(settings.db)
    except sqlite3.Error as exc:
        raise OSError(f"cannot open the database {settings.db} (--db): {exc}") from None
    store = _open_store(settings)
    app_url = _url(settings.host, settings.port)
    app = create_app(
        db,
        store,
        trusted_origins=settings.trusted_origins,
        unprotected=settings.unprotected,
    )
    sites: list[tuple[ASGIApp, socket.socket]] = [(app, _listen(settings, "port"))]
    attacker_url = None
    if settings.attacker_port:
        attacker_url = _url(settings.host, settings.attacker_port)
        attacker = create_attacker_app(app_url)
        sites.append((attacker, _listen(settings, "attacker_port")))

    _print_banner(settings, app_url, attacker_url)
    asyncio.run(_serve(sites))
    print("forgeproof demo stopped.", flush=True)
    return 0


def _open_store(settings: DemoSettings) -> forgeproof.AsyncSessionStore:
    if settings.session_store is None:
        return forgeproof.SQLiteSessionStore(settings.db)
    try:
        return forgeproof.store_from_url(settings.session_store)
    except forgeproof.ConfigurationError as exc:
        raise forgeproof.ConfigurationError(f"--session-store: {exc}") from None
    except ImportError as exc:
        # A store whose client library is missing (redis:// without redis).
        raise forgeproof.ForgeproofError(f"--session-store: {exc}") from None


def _listen(settings: DemoSettings, option: str) -> socket.socket:
    port: int = getattr(settings, option)
    try:
        family = socket.getaddrinfo(settings.host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((settings.host, port), family=family)
    except OSError as exc:
        flag = "--" + option.replace("_", "-")
        raise OSError(
            f"cannot listen on {settings.host}:{port} ({flag}): {exc.strerror or exc}"
        ) from None


def _url(host: str, port: int) -> str:
    # A wildcard address is not one a browser can visit; loopback is.
    wildcards = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
    shown = wildcards.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _print_banner(
    settings: DemoSettings, app_url: str, attacker_url: str | None
) -> None:
    if settings.unprotected:
        line = "!" * 72
        print(
            f"{line}\n"
            "!! WARNING: CSRF protection is OFF (--unprotected).\n"
            "!! Any page you visit can change your notes or log you out.\n"
            "!! Use this only to watch the attacks succeed, never on a network.\n"
            f"{line}",
            file=sys.stderr,
            flush=True,
        )
    accounts = ", ".join(f"{name} / {password}" for name, password in DEMO_ACCOUNTS)
    sessions = "the same file" if settings.session_store is None else "--session-store"
    lines = [
        "forgeproof demo"
        + (" (UNPROTECTED: CSRF protection is off)" if settings.unprotected else ""),
        f"  notes app:      {app_url}/",
        f"  attacker site:  {attacker_url}/"
        if attacker_url
        else "  attacker site:  off",
        f"  accounts:       {accounts}",
        f"  data:           {settings.db} (sessions: {sessions})",
        "Stop with Ctrl-C.",
    ]
    print("\n".join(lines), flush=True)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`_serve`.

    uvicorn's own handling re-raises the signal once it has stopped, which
    turns Ctrl-C into a KeyboardInterrupt traceback, and two servers would
    fight over the handlers.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve(sites: list[tuple[ASGIApp, socket.socket]]) -> None:
    servers = []
    for app, sock in sites:
        config = uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            # The demo is reached directly, never through a proxy: trust no
            # X-Forwarded-* header, which could change the request's origin.
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        )
        servers.append((_Server(config), sock))

    def stop() -> None:
        for server, _ in servers:
            # A second Ctrl-C stops without waiting for open requests.
            server.force_exit = server.should_exit
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        await asyncio.gather(*(server.serve([sock]) for server, sock in servers))
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


class _PathOnlyAccessLog(logging.Filter):
    """Cuts the query string out of uvicorn's access log lines.

    A token sent in a query string (wrongly, and never accepted) would
    otherwise be written to the log. A record of an unknown shape is
    dropped rather than risked.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5):
            return False
        client, method, full_path, version, status = args
        path, query_mark, _ = str(full_path).partition("?")
        record.args = (client, method, path + query_mark, version, status)
        return True


def _configure_logging() -> None:
    # The library adds no handlers; the demo, as an application, does.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # uvicorn's start-up chatter repeats what the banner says, twice.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(_PathOnlyAccessLog())
