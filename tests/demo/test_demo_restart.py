"""A second start on the same ``--db`` finds users, notes and sessions."""

from __future__ import annotations

from demo.demo_support import DemoClient, DemoRunner, meta_token


def test_restart_on_the_same_db_keeps_users_notes_and_sessions(
    runner: DemoRunner,
) -> None:
    first = runner.start(attacker=False)
    with first.client() as client:
        client.logged_in("alice")
        token = meta_token(client.get("/").text)
        client.post(
            "/api/notes", json={"text": "survives"}, headers={"X-CSRF-Token": token}
        )
        cookies = dict(client.cookies)
    assert first.stop() == 0

    second = runner.start(db=first.db, attacker=False)
    with DemoClient(second.url, cookies=cookies) as client:
        assert client.note_texts()[-1] == "survives"
        # The secret survived too: a token from before the restart works.
        response = client.post(
            "/api/notes", json={"text": "after"}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 201
    with second.client() as fresh:
        assert fresh.logged_in("bob").get("/api/notes").status_code == 200


def test_two_processes_on_one_db_serve_one_set_of_users_and_sessions(
    runner: DemoRunner,
) -> None:
    one = runner.start(attacker=False)
    two = runner.start(db=one.db, attacker=False)

    with one.client() as client:
        client.logged_in("bob")
        token = meta_token(client.get("/").text)
        cookies = dict(client.cookies)
    with DemoClient(two.url, cookies=cookies) as client:
        response = client.post(
            "/api/notes", json={"text": "via two"}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 201
    with DemoClient(one.url, cookies=cookies) as client:
        assert client.note_texts()[-1] == "via two"
