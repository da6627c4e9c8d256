"""``forgeproof check`` against configurations built to slip past it:
weaknesses spelled differently, hidden under mounts it does not walk, or
in an order it does not look at. The controls are weaknesses it sees."""

from __future__ import annotations

import pytest

from adversarial3.adv3_check_apps import wsgi_pair
from forgeproof import SessionConfig
from forgeproof.checks import Finding, audit, load_app
from forgeproof.cli import main

APPS = "adversarial3.adv3_check_apps"


def _findings(name: str) -> list[Finding]:
    return audit(load_app(f"{APPS}:{name}"))


def _ids(name: str) -> set[str]:
    return {finding.id for finding in _findings(name)}


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        pytest.param("http_twin_trusted", {"FP-W007"}, id="http twin of the public"),
        pytest.param("http_wildcard", {"FP-W007", "FP-W009"}, id="wildcard over http"),
        pytest.param("upper_case_area", {"FP-W003"}, id="exempt /API/"),
        pytest.param("double_slash_area", {"FP-W003"}, id="exempt //api/"),
        pytest.param("flask_report_only", {"FP-E006"}, id="Flask, report-only"),
        pytest.param("every_mount_protected", set(), id="clean: protected mounts"),
    ],
)
def test_weaknesses_in_other_spellings_are_still_flagged(
    name: str, ids: set[str]
) -> None:
    assert _ids(name) == ids


def test_the_check_sees_the_weak_app_when_it_is_not_hidden() -> None:
    """Control for the mounts below: the same weak stack, at the top."""
    weak = wsgi_pair(SessionConfig(secure=False), report_only=True)

    assert {f.id for f in audit(weak)} == {"FP-E001", "FP-E006"}


def test_an_https_public_origin_with_a_guessed_secure_flag_is_flagged() -> None:
    findings = _findings("public_https_secure_guessed")

    assert any("secure" in (f.message + f.why).lower() for f in findings)


def test_a_plain_http_public_origin_is_flagged() -> None:
    assert _findings("public_plain_http") != []


@pytest.mark.parametrize("name", ["wildcard_on_a_tld", "wildcard_on_a_public_suffix"])
def test_a_wildcard_over_a_public_suffix_fails_the_check(name: str) -> None:
    assert any(finding.is_error for finding in _findings(name))


def test_an_exempt_area_two_segments_deep_is_flagged() -> None:
    assert "FP-W003" in _ids("nested_area_exempt")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "unprotected_dispatcher_mount", "FP-E011", id="Werkzeug mount, no CSRF"
        ),
        pytest.param("weak_dispatcher_mount", "FP-E006", id="Werkzeug mount, weak"),
        pytest.param(
            "unprotected_starlette_mount", "FP-E011", id="Starlette mount, no CSRF"
        ),
    ],
)
def test_a_mount_that_is_unprotected_or_weak_is_flagged(
    name: str, expected: str
) -> None:
    assert expected in _ids(name)


def test_csrf_middleware_outside_the_session_middleware_is_an_error() -> None:
    assert "FP-E012" in _ids("csrf_outside_sessions")


def test_an_unparseable_trusted_origin_is_reported_as_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["check", f"{APPS}:unclosed_ipv6_origin"])

    assert status == 1
    assert "importing" not in capsys.readouterr().err
    assert "FP-E010" in _ids("unclosed_ipv6_origin")
