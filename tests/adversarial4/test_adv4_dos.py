"""Cheap requests that must stay cheap to refuse.

Not speed figures (those live in benchmarks/): each bound is many times
what the work takes, so only a hang or a quadratic step crosses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from adversarial4.adv4_support import (
    ORIGIN,
    STACKS,
    Outcome,
    Stack,
    assert_accepted,
    assert_refused,
)

_FORM = [("Content-Type", "application/x-www-form-urlencoded")]


def _timed(run: Callable[[], Outcome]) -> tuple[Outcome, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def _fastest(run: Callable[[], Outcome]) -> tuple[Outcome, float]:
    runs = [_timed(run) for _ in range(3)]
    return runs[-1][0], min(elapsed for _, elapsed in runs)


def test_a_header_repeated_4000_times_costs_no_more_than_its_bytes_in_one(
    logs: pytest.LogCaptureFixture,
) -> None:
    """Compared with the same bytes in one header, the fastest of three
    runs each, so the bound holds on any machine and under noise."""
    stack = STACKS["asgi"]()
    login = stack.visit()
    values = [f"{i:05d}" + "v" * 995 for i in range(4000)]
    base = [("Origin", ORIGIN), login.cookie]
    repeated = [*base, *(("X-CSRF-Token", value) for value in values)]
    single = [*base, ("X-CSRF-Token", ", ".join(values))]
    before = stack.record(login.session_id)

    baseline, one_header = _fastest(lambda: stack.send("POST", "/notes", single))
    outcome, elapsed = _fastest(lambda: stack.send("POST", "/notes", repeated))

    assert baseline.reason == "token_conflict"
    # Linear work is within 2x of the baseline; a quadratic join was 25x to 150x.
    assert elapsed < 5 * one_header + 0.02
    assert_refused(stack, outcome, "token_conflict", logs, login=login, before=before)


@pytest.mark.parametrize("name", ["X-CSRF-Token", "Origin", "Accept", "Cookie"])
def test_twenty_thousand_short_repeated_headers_are_answered_at_once(
    stack: Stack, name: str
) -> None:
    login = stack.visit()
    headers = [("Origin", ORIGIN), login.cookie, *[(name, "a")] * 20_000]

    outcome, elapsed = _timed(lambda: stack.send("POST", "/notes", headers, b"{}"))

    assert elapsed < 2.0
    assert outcome.status == 403


def test_a_deeply_nested_json_body_is_malformed_not_a_crash(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    before = stack.record(login.session_id)
    json_type = [("Content-Type", "application/json")]

    for body in (b"[" * 200_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000):
        outcome = stack.post(
            login, json_type, [body[:1000], body[1000:]], token_header=False
        )
        assert_refused(
            stack, outcome, "malformed_body", logs, login=login, before=before
        )

    control = json.dumps({"csrf_token": login.token, "a": [[[1]]]}).encode()
    assert_accepted(stack.post(login, json_type, control, token_header=False))


def test_ten_thousand_copies_of_one_form_token_are_one_token(stack: Stack) -> None:
    login = stack.visit()
    body = "&".join([f"csrf_token={login.token}"] * 10_000).encode()

    outcome, elapsed = _timed(
        lambda: stack.post(login, _FORM, [body[:5000], body[5000:]], token_header=False)
    )

    assert elapsed < 5.0
    assert_accepted(outcome)


def test_ten_thousand_distinct_form_tokens_are_a_conflict(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    body = "&".join(f"csrf_token={login.token[:80]}{i:06d}" for i in range(10_000))
    body += f"&csrf_token={login.token}"
    before = stack.record(login.session_id)

    outcome = stack.post(login, _FORM, body.encode(), token_header=False)

    assert_refused(stack, outcome, "token_conflict", logs, login=login, before=before)
