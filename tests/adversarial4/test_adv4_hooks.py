"""What custom renderers and decision callbacks receive once RequestFacts
is built lazily: every field, on the everyday path and the unusual one,
and never a token, secret or session id.
"""

from __future__ import annotations

import pytest

from adversarial4.adv4_support import (
    ORIGIN,
    STACKS,
    Headers,
    assert_clean_logs,
    secret_forms,
)
from forgeproof import Decision, Rejection, RequestFacts
from forgeproof.responses import RejectionResponse

_CUSTOM = RejectionResponse(418, (("content-type", "text/plain"),), b"custom refusal")


@pytest.mark.parametrize("kind", sorted(STACKS))
@pytest.mark.parametrize(
    ("origin", "site", "reason"),
    [
        pytest.param(ORIGIN, "same-origin", "token_missing", id="everyday path"),
        pytest.param(ORIGIN, None, "token_missing", id="no Sec-Fetch-Site"),
        pytest.param(
            "http://evil.example", "cross-site", "cross_site_request", id="evil"
        ),
        pytest.param("null", None, "origin_null", id="null"),
    ],
)
def test_a_custom_renderer_gets_every_fact_of_the_refused_request(
    kind: str, origin: str, site: str | None, reason: str
) -> None:
    seen: list[tuple[Rejection, RequestFacts]] = []

    def render(rejection: Rejection, facts: RequestFacts) -> RejectionResponse:
        seen.append((rejection, facts))
        return _CUSTOM

    stack = STACKS[kind](on_reject=render)
    login = stack.visit()
    headers: Headers = [
        ("Origin", origin),
        login.cookie,
        ("Referer", "http://app.test/form"),
        ("Accept", "application/json"),
        ("Authorization", "Basic eDp5"),
    ]
    if site is not None:
        headers.append(("Sec-Fetch-Site", site))

    outcome = stack.send("PUT", "/notes", headers, b"x")

    assert outcome.status == 418
    assert outcome.body == b"custom refusal"
    assert not outcome.reached
    [(rejection, facts)] = seen
    assert rejection.reason.value == reason
    expected = RequestFacts(
        method="PUT",
        scheme="http",
        host="app.test",
        path="/notes",
        origin=origin,
        referer="http://app.test/form",
        sec_fetch_site=site,
        authorization="Basic eDp5",
        session_cookie_count=1,
        has_live_session=True,
        exempt=False,
        accept="application/json",
    )
    assert facts == expected


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_the_decision_callback_sees_each_unsafe_request_without_secrets(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    decisions: list[Decision] = []
    stack = STACKS[kind](on_decision=decisions.append)
    login = stack.visit()
    other = stack.visit()
    secret = stack.secret_of(login.session_id)
    referer = ("Referer", f"http://app.test/form?csrf_token={login.token}")
    auth = ("Authorization", "Basic c2VjcmV0OnB3")

    accepted = stack.post(login, [referer, auth])
    refused = stack.post(
        login, [referer, auth, ("X-CSRF-Token", other.token)], token_header=False
    )
    stack.send("GET", "/notes", [login.cookie])

    assert accepted.status == 200
    assert refused.reason == "token_invalid"
    assert [d.accepted for d in decisions] == [True, False]
    for decision in decisions:
        assert decision.facts.origin == ORIGIN
        assert decision.facts.method == "POST"
        assert decision.facts.session_cookie_count == 1
        assert decision.facts.referer == "http://app.test"
        assert decision.facts.authorization == "[redacted]"
        text = repr(decision)
        for leak in [login.token, other.token, login.session_id, *secret_forms(secret)]:
            assert leak not in text
    assert_clean_logs(caplog, login.token, other.token, login.session_id)


@pytest.mark.parametrize("kind", sorted(STACKS))
def test_report_only_lets_a_refused_form_through_with_its_whole_body(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    stack = STACKS[kind](report_only=True)
    login = stack.visit()
    other = stack.visit()
    body = f"csrf_token={other.token}&".encode() + b"x=" + b"y" * 200_000
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    chunks = [body[:50], body[50:70_000], body[70_000:]]

    outcome = stack.post(login, form, chunks, token_header=False)

    assert outcome.status == 200
    assert outcome.app_body == body
    assert "report-only, would reject" in caplog.text
    assert "reason=token_invalid" in caplog.text
    assert_clean_logs(caplog, login.token, other.token, login.session_id)
