"""``forgeproof demo`` as a command: its options, its output, its exit."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from demo.demo_support import DemoRunner, meta_token, run_cli
from forgeproof.cli import main
from support.servers import free_port


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)
def test_demo_prints_urls_and_accounts_and_stops_cleanly_on_signal(
    runner: DemoRunner, signum: int
) -> None:
    demo = runner.start()
    with demo.client() as client:
        client.logged_in("alice")  # an open keep-alive connection must not hang

        status = demo.stop(signum)

    assert status == 0
    stdout = demo.stdout()
    assert f"{demo.url}/" in stdout
    assert f"{demo.attacker_url}/" in stdout
    assert "alice / alice-password" in stdout
    assert "bob / bob-password" in stdout
    assert "Traceback" not in demo.output()


def test_unprotected_warns_shows_a_banner_and_still_keeps_sessions(
    runner: DemoRunner,
) -> None:
    demo = runner.start("--unprotected")
    with demo.client() as client:
        client.get("/login")
        anonymous_id = client.session_id()
        client.logged_in("alice")
        before = client.note_texts()

        page = client.get("/")
        forged = client.post("/notes", data={"text": "no token needed"})

        assert client.session_id() != anonymous_id
        assert "CSRF protection is OFF" in page.text
        assert "CSRF protection is OFF" in client.get("/login").text
        assert forged.status_code == 303
        assert client.note_texts() == [*before, "no token needed"]
    assert "WARNING: CSRF protection is OFF" in demo.stderr()


def test_protected_pages_show_no_unprotected_banner(runner: DemoRunner) -> None:
    demo = runner.start(attacker=False)
    with demo.client() as client:
        assert "CSRF protection is OFF" not in client.get("/login").text
    assert "WARNING" not in demo.stderr()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        pytest.param(["demo", "--port", "http"], "--port", id="port not a number"),
        pytest.param(["demo", "--port", "70000"], "--port", id="port too large"),
        pytest.param(["demo", "--port", "0"], "--port", id="app port zero"),
        pytest.param(
            ["demo", "--attacker-port", "-1"], "--attacker-port", id="negative port"
        ),
        pytest.param(
            ["demo", "--port", "9000", "--attacker-port", "9000"],
            "--attacker-port",
            id="same port twice",
        ),
        pytest.param(
            ["demo", "--trusted-origin", "evil.example"],
            "--trusted-origin",
            id="origin without scheme",
        ),
        pytest.param(
            ["demo", "--trusted-origin", "https://a.example/path"],
            "--trusted-origin",
            id="origin with a path",
        ),
        pytest.param(["demo", "--bogus"], "--bogus", id="unknown option"),
        pytest.param([], "COMMAND", id="no command"),
    ],
)
def test_usage_errors_name_the_option_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)

    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_unknown_session_store_is_a_usage_error_naming_the_option(
    tmp_path: Path,
) -> None:
    result = run_cli(
        "demo",
        "--port",
        str(free_port()),
        "--attacker-port",
        "0",
        "--session-store",
        "postgres://db/1",
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert "--session-store" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_option_of_the_contract(tmp_path: Path) -> None:
    result = run_cli("demo", "--help", cwd=tmp_path)

    assert result.returncode == 0
    for option in (
        "--host",
        "--port",
        "--attacker-port",
        "--db",
        "--session-store",
        "--trusted-origin",
        "--unprotected",
    ):
        assert option in result.stdout


def test_port_in_use_fails_with_one_line_and_status_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        result = run_cli("demo", "--port", port, "--attacker-port", "0", cwd=tmp_path)

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--port" in result.stderr
    assert port in result.stderr


def test_unusable_db_path_fails_with_one_line_and_status_1(tmp_path: Path) -> None:
    result = run_cli(
        "demo",
        "--attacker-port",
        "0",
        "--db",
        str(tmp_path / "missing-dir" / "demo.sqlite3"),
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--db" in result.stderr


def test_attacker_port_zero_serves_no_attacker_site(runner: DemoRunner) -> None:
    demo = runner.start(attacker=False)

    assert "attacker site:  off" in demo.stdout()
    with demo.client() as client:
        assert client.get("/login").status_code == 200


def test_attacker_site_lists_one_page_per_attack_aimed_at_the_app(
    runner: DemoRunner,
) -> None:
    demo = runner.start()
    assert demo.attacker_url is not None

    index = httpx.get(f"{demo.attacker_url}/")
    slugs = [
        "hidden-form",
        "text-plain-json",
        "no-cors-fetch",
        "logout-form",
        "img-get",
    ]
    pages = [httpx.get(f"{demo.attacker_url}/attacks/{slug}") for slug in slugs]

    assert index.status_code == 200
    assert "same site" in index.text
    for slug, page in zip(slugs, pages, strict=True):
        assert f'href="/attacks/{slug}"' in index.text
        assert page.status_code == 200
        assert f'data-target="{demo.url}"' in page.text
        assert "set-cookie" not in page.headers


def test_memory_session_store_serves_logins(runner: DemoRunner) -> None:
    demo = runner.start("--session-store", "memory://", attacker=False)

    with demo.client() as client:
        assert client.logged_in("bob").get("/api/notes").status_code == 200


def test_sqlite_session_store_in_another_file_serves_logins(
    runner: DemoRunner, tmp_path: Path
) -> None:
    sessions = tmp_path / "sessions.sqlite3"
    demo = runner.start("--session-store", f"sqlite:///{sessions}", attacker=False)

    with demo.client() as client:
        assert client.logged_in("bob").get("/api/notes").status_code == 200
    assert sessions.exists()


def test_trusted_origin_may_post_with_a_token_and_others_may_not(
    runner: DemoRunner,
) -> None:
    demo = runner.start("--trusted-origin", "https://partner.example:8443")
    with demo.client() as client:
        client.logged_in("alice")
        token = meta_token(client.get("/").text)
        before = client.note_texts()

        trusted = client.post(
            "/api/notes",
            json={"text": "from the partner"},
            headers={"X-CSRF-Token": token, "Origin": "https://partner.example:8443"},
        )
        other = client.post(
            "/api/notes",
            json={"text": "from elsewhere"},
            headers={"X-CSRF-Token": token, "Origin": "https://partner.example"},
        )

        assert trusted.status_code == 201
        assert other.status_code == 403
        assert other.json()["reason"] == "origin_not_allowed"
        assert client.note_texts() == [*before, "from the partner"]


def test_cli_does_not_import_the_demo_or_its_dependencies() -> None:
    code = (
        "import sys, forgeproof.cli; "
        "bad = [m for m in ('forgeproof.demo', 'starlette', 'jinja2', 'uvicorn') "
        "if m in sys.modules]; "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
