"""Two ``forgeproof demo`` processes behind one Redis and one ``--db``: the
same sessions and tokens on both, as behind a load balancer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.demo_support import DemoProcess, DemoRunner, meta_token
from sessions.store_harness import RedisProcess

pytestmark = pytest.mark.redis


@pytest.fixture
def pair(
    redis_process: RedisProcess, tmp_path: Path
) -> Iterator[tuple[DemoProcess, DemoProcess]]:
    runner = DemoRunner(tmp_path)
    shared = ("--session-store", redis_process.url)
    db = tmp_path / "shared.sqlite3"
    try:
        first = runner.start(*shared, db=db, attacker=False)
        second = runner.start(*shared, db=db, attacker=False)
        yield first, second
    finally:
        runner.stop_all()


def test_a_login_on_one_instance_and_its_token_work_on_the_other(
    pair: tuple[DemoProcess, DemoProcess],
) -> None:
    first, second = pair
    with first.client() as on_first:
        on_first.logged_in("alice")
        token = meta_token(on_first.get("/").text)
        cookies = {"forgeproof_session": on_first.session_id()}

    with second.client(cookies=cookies) as on_second:
        posted = on_second.post(
            "/notes", data={"text": "posted on the second", "csrf_token": token}
        )
        assert posted.status_code == 303
        assert on_second.note_texts() == ["posted on the second"]


def test_a_logout_on_one_instance_kills_the_old_token_on_the_other(
    pair: tuple[DemoProcess, DemoProcess],
) -> None:
    first, second = pair
    with first.client() as on_first:
        on_first.logged_in("alice")
        token = meta_token(on_first.get("/").text)
        cookies = {"forgeproof_session": on_first.session_id()}
        control = on_first.post(
            "/notes", data={"text": "before logout", "csrf_token": token}
        )
        assert control.status_code == 303

    with second.client(cookies=cookies) as on_second:
        logout = on_second.post("/logout", data={"csrf_token": token})
        assert logout.status_code == 303

    with first.client(cookies=cookies) as replay:
        rejected = replay.post(
            "/notes",
            data={"text": "after logout", "csrf_token": token},
            headers={"accept": "application/json"},
        )
        assert rejected.status_code == 403
        assert rejected.json()["reason"] == "session_missing"
        assert replay.get("/api/notes").status_code == 401

    with first.client() as fresh:
        assert fresh.logged_in("alice").note_texts() == ["before logout"]
    assert token not in first.output() + second.output()
