"""Report-only mode and the ``on_decision`` callback, over real HTTP through
both adapters: no request can switch report-only on, report-only hands the
app every byte even when the scan stopped early, and a decision never
carries a token or a session id."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from adversarial3.adv3_support import Recorder, Visitor, serve
from forgeproof import Decision


def _own_origin(base: str) -> list[tuple[str, str]]:
    return [("Origin", base)]


@pytest.mark.parametrize(
    ("path", "extra", "other_cookie"),
    [
        pytest.param("/notes", [("X-Forgeproof-Report-Only", "1")], "", id="a header"),
        pytest.param("/notes", [("Prefer", "report-only")], "", id="Prefer"),
        pytest.param(
            "/notes",
            [("Content-Security-Policy-Report-Only", "default-src *")],
            "",
            id="a report-only CSP header",
        ),
        pytest.param("/notes?report_only=1", [], "", id="the query string"),
        pytest.param(
            "/notes?report_only=true&forgeproof.report_only=1", [], "", id="two"
        ),
        # Beside the session cookie in the one Cookie header a browser sends.
        pytest.param("/notes", [], "forgeproof_report_only=1", id="a second cookie"),
    ],
)
def test_no_request_can_switch_report_only_on(
    adapter: str,
    recorder: Recorder,
    path: str,
    extra: list[tuple[str, str]],
    other_cookie: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "forgeproof.csrf")
    decisions: list[Decision] = []
    with serve(adapter, recorder, on_decision=decisions.append) as base:
        visitor = Visitor(base)
        visitor.open_page()
        if other_cookie:
            visitor.cookie = f"{other_cookie}; {visitor.cookie}"

        control = visitor.post([*_own_origin(base), *extra], path=path)
        assert control.status == 200
        recorder.reset()

        forged = visitor.post(
            [*_own_origin(base), *extra], path=path, token_header=False
        )

    assert forged.status == 403
    assert forged.json["reason"] == "token_missing"
    assert recorder.paths == []
    assert [d.blocked for d in decisions] == [False, True]
    assert "CSRF rejected" in caplog.text
    assert "report-only" not in caplog.text


_LIMIT = 1024 * 1024  # the default scan_limit
_BOUNDARY = "adv3boundary"


def _multipart(*parts: tuple[str, bytes, bool]) -> bytes:
    out = b""
    for name, value, is_file in parts:
        filename = '; filename="a.bin"' if is_file else ""
        out += (
            (
                f"--{_BOUNDARY}\r\nContent-Disposition: form-data; "
                f'name="{name}"{filename}\r\n\r\n'
            ).encode()
            + value
            + b"\r\n"
        )
    return out + f"--{_BOUNDARY}--\r\n".encode()


# Bodies whose scan ends early (a limit, a parse error): in report-only
# mode the app must still read the whole body, exactly.
EARLY_STOPS = [
    pytest.param(
        "application/x-www-form-urlencoded",
        b"text=" + b"x" * (_LIMIT + 10) + b"&csrf_token=late",
        "token_missing",
        id="form: token beyond the scan limit",
    ),
    pytest.param(
        f"multipart/form-data; boundary={_BOUNDARY}",
        _multipart(
            ("file", b"\x00\xff" * _LIMIT, True), ("csrf_token", b"late", False)
        ),
        "token_missing",
        id="multipart: token after a large file",
    ),
    pytest.param(
        "multipart/form-data",
        b"--x\r\nno boundary parameter\r\n" * 1000,
        "malformed_body",
        id="multipart: no boundary",
    ),
    pytest.param(
        "application/json",
        b'{"text": "' + b"y" * (_LIMIT + 10) + b'"}',
        "body_too_large",
        id="JSON: larger than the scan limit",
    ),
    pytest.param(
        "application/json",
        b'{"text": [1, 2,' + b" " * 70_000 + b"oops",
        "malformed_body",
        id="JSON: malformed after 64 KiB",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "reason"), EARLY_STOPS)
def test_report_only_hands_the_app_every_byte_when_the_scan_stopped_early(
    adapter: str,
    recorder: Recorder,
    content_type: str,
    body: bytes,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "forgeproof.csrf")
    decisions: list[Decision] = []
    options = {"report_only": True, "on_decision": decisions.append}
    with serve(adapter, recorder, **options) as base:
        visitor = Visitor(base)
        visitor.open_page()
        headers = [*_own_origin(base), ("Content-Type", content_type)]

        control = visitor.post(headers, body=body)  # with the header token
        response = visitor.post(headers, body=body, token_header=False)

    digest = hashlib.sha256(body).hexdigest()
    assert control.status == 200
    assert json.loads(control.body)["sha256"] == digest
    assert response.status == 200
    assert json.loads(response.body) == {"size": len(body), "sha256": digest}
    assert [hit[1] == body for hit in recorder.hits] == [True, True]
    assert decisions[-1].reason is not None
    assert decisions[-1].reason.value == reason
    assert not decisions[-1].blocked
    assert f"report-only, would reject 'POST' '/notes': reason={reason}" in caplog.text


def _decision_text(decision: Decision) -> str:
    facts = decision.facts
    fields = [repr(decision), *(str(getattr(facts, f)) for f in facts.__slots__)]
    return "\n".join(fields)


@pytest.mark.parametrize("report_only", [False, True], ids=["enforcing", "report-only"])
def test_decisions_never_carry_the_token_or_the_session_id(
    adapter: str, recorder: Recorder, report_only: bool
) -> None:
    decisions: list[Decision] = []
    options = {"report_only": report_only, "on_decision": decisions.append}
    with serve(adapter, recorder, **options) as base:
        visitor = Visitor(base)
        visitor.open_page()
        accepted = visitor.post(
            [*_own_origin(base), ("Authorization", "Basic YWxpY2U6cHc=")],
            body=f"text=hi&csrf_token={visitor.token}".encode(),
        )
        refused = visitor.post(
            [("Origin", "https://evil.example"), ("Referer", "https://evil.example/")]
        )

    assert accepted.status == 200
    assert refused.status == (200 if report_only else 403)
    assert [d.accepted for d in decisions] == [True, False]
    for decision in decisions:
        text = _decision_text(decision)
        assert visitor.token not in text
        assert visitor.session_id not in text
        assert "YWxpY2U6cHc=" not in text


def test_a_token_in_the_referers_query_never_reaches_on_decision(
    adapter: str, recorder: Recorder
) -> None:
    decisions: list[Decision] = []
    with serve(adapter, recorder, on_decision=decisions.append) as base:
        visitor = Visitor(base)
        visitor.open_page()
        # The page the form was on: a GET search form that carried the token.
        referer = f"{base}/search?q=shoes&csrf_token={visitor.token}"

        response = visitor.post([*_own_origin(base), ("Referer", referer)])

    assert response.status == 200
    assert len(decisions) == 1
    assert visitor.token not in _decision_text(decisions[0])
