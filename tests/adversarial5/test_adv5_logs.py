"""What the long way (no Origin: the Referer, on https) logs: the origin
of a page, never the token or session id a Referer may carry."""

from __future__ import annotations

import pytest

from adversarial4.adv4_support import (
    HOST_COOKIE,
    TLS_ORIGIN,
    Stack,
    assert_accepted,
    assert_refused,
    log_text,
)


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.test/steal?csrf_token={token}&sid={sid}",
        "https://{token}:{sid}@evil.test/",
        "https://app.test@evil.test/{token}",
        "https://evil.test/#{sid}",
    ],
)
def test_a_foreign_referer_is_refused_and_only_its_origin_is_logged(
    stack: Stack, logs: pytest.LogCaptureFixture, referer: str
) -> None:
    login = stack.visit(scheme="https")
    cookie = ("Cookie", f"{HOST_COOKIE}={login.session_id}")
    token = ("X-CSRF-Token", login.token)
    page = f"{TLS_ORIGIN}/form?csrf_token={login.token}"
    control = stack.send(
        "POST", "/notes", [cookie, token, ("Referer", page)], scheme="https"
    )
    assert_accepted(control)
    before = stack.record(login.session_id)
    spelled = referer.format(token=login.token, sid=login.session_id)
    outcome = stack.send(
        "POST", "/notes", [cookie, token, ("Referer", spelled)], scheme="https"
    )
    assert_refused(
        stack, outcome, "origin_not_allowed", logs, login=login, before=before
    )
    assert "evil.test" in log_text(logs)
