"""``forgeproof demo`` as a real subprocess, and a client that talks to it.

The demo is started with the venv's ``forgeproof`` script on free ports and
stopped by its PID. Its stdout and stderr go to files, so a test can read
what it printed or logged and prove that no token or session id is there.
"""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.servers import free_port

FORGEPROOF = Path(sys.executable).with_name("forgeproof")
ACCOUNTS = {"alice": "alice-password", "bob": "bob-password"}
START_TIMEOUT_SECONDS = 20.0

_HIDDEN_TOKEN = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class DemoProcess:
    """One running ``forgeproof demo``."""

    process: subprocess.Popen[bytes]
    url: str
    attacker_url: str | None
    port: int
    attacker_port: int
    db: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text("utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the process by its PID and wait for it; return its status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
            raise

    def client(self, **kwargs: Any) -> DemoClient:
        return DemoClient(self.url, **kwargs)


@dataclass
class DemoRunner:
    """Starts demos in a directory and stops every one it started."""

    directory: Path
    started: list[DemoProcess] = field(default_factory=list)

    def start(
        self,
        *options: str,
        db: Path | None = None,
        attacker: bool = True,
        wait: bool = True,
    ) -> DemoProcess:
        port = free_port()
        attacker_port = _other_free_port(port) if attacker else 0
        n = len(self.started)
        db = db or self.directory / f"demo-{n}.sqlite3"
        stdout_path = self.directory / f"demo-{n}.out"
        stderr_path = self.directory / f"demo-{n}.err"
        command = [
            str(FORGEPROOF),
            "demo",
            "--port",
            str(port),
            "--attacker-port",
            str(attacker_port),
            "--db",
            str(db),
            *options,
        ]
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                command, stdout=out, stderr=err, cwd=self.directory
            )
        demo = DemoProcess(
            process,
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{attacker_port}" if attacker else None,
            port,
            attacker_port,
            db,
            stdout_path,
            stderr_path,
        )
        self.started.append(demo)
        if wait:
            _wait_until_serving(demo)
        return demo

    def stop_all(self) -> None:
        for demo in self.started:
            if demo.process.poll() is None:
                demo.stop()


def run_cli(
    *args: str, cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``forgeproof`` to completion (for commands that exit)."""
    return subprocess.run(
        [str(FORGEPROOF), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _other_free_port(taken: int) -> int:
    while True:
        port = free_port()
        if port != taken:
            return port


def _wait_until_serving(demo: DemoProcess) -> None:
    ports = [demo.port] + ([demo.attacker_port] if demo.attacker_url else [])
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not all(_listening(port) for port in ports):
        if demo.process.poll() is not None:
            raise RuntimeError(f"forgeproof demo exited early:\n{demo.output()}")
        if time.monotonic() > deadline:
            demo.stop()
            raise TimeoutError(f"forgeproof demo did not start:\n{demo.output()}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def form_token(page: str) -> str:
    """The hidden ``csrf_token`` field of the first form of *page*."""
    match = _HIDDEN_TOKEN.search(page)
    assert match is not None, "no csrf_token field on the page"
    return html.unescape(match.group(1))


def meta_token(page: str) -> str:
    """The token in the page's ``<meta name="csrf-token">``."""
    match = _META_TOKEN.search(page)
    assert match is not None, "no csrf-token meta tag on the page"
    return html.unescape(match.group(1))


class DemoClient(httpx.Client):
    """An httpx client with a cookie jar, aimed at one demo."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", 30)
        super().__init__(base_url=url, follow_redirects=False, **kwargs)
        self.url = url

    def token(self, path: str = "/login") -> str:
        """Load *path* (a page with a form) and return its form token."""
        response = self.get(path)
        assert response.status_code == 200, response.text
        return form_token(response.text)

    def login(self, username: str = "alice") -> httpx.Response:
        token = self.token("/login")
        return self.post(
            "/login",
            data={
                "username": username,
                "password": ACCOUNTS[username],
                "csrf_token": token,
            },
        )

    def logged_in(self, username: str = "alice") -> DemoClient:
        response = self.login(username)
        assert response.status_code == 303, response.text
        return self

    def session_id(self) -> str:
        value = self.cookies.get("forgeproof_session")
        assert value, "no session cookie"
        return value

    def note_texts(self) -> list[str]:
        response = self.get("/api/notes")
        assert response.status_code == 200, response.text
        return [note["text"] for note in response.json()["notes"]]

    def notes(self) -> list[dict[str, Any]]:
        response = self.get("/api/notes")
        assert response.status_code == 200, response.text
        notes: list[dict[str, Any]] = response.json()["notes"]
        return notes
