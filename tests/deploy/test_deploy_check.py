"""``forgeproof check`` over example configurations: each weak one is
flagged with its id, the good ones are clean, and the exit status fits a
deploy pipeline (1 on errors, 0 on warnings only, 2 on usage errors)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from forgeproof.checks import AppNotFoundError, audit, audit_spec, load_app
from forgeproof.cli import main

APPS = "deploy.deploy_check_apps"


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        pytest.param("good", set(), id="good: Starlette middleware list"),
        pytest.param("good_raw_asgi", set(), id="good: raw ASGI chain"),
        pytest.param("good_behind_proxy", set(), id="good: behind a proxy, Secure"),
        pytest.param("good_flask", set(), id="good: Flask with CSRFProtect"),
        pytest.param("insecure_cookie", {"FP-E001"}, id="cookie not https-only"),
        pytest.param(
            "scheme_less_origin",
            {"FP-W002", "FP-E010"},
            id="trusted origin without scheme (and so refused)",
        ),
        pytest.param("broad_exempt", {"FP-W003"}, id="exempt /api/"),
        pytest.param("short_exempt", {"FP-W003"}, id="exempt a very short prefix"),
        pytest.param(
            "starlette_cookie_samesite_none",
            {"FP-E004", "FP-W005"},
            id="SameSite=None on a cookie session in front",
        ),
        pytest.param(
            "starlette_cookie_sessions",
            {"FP-W005"},
            id="Starlette's cookie sessions in front",
        ),
        pytest.param(
            "flask_default_sessions", {"FP-W005"}, id="Flask's cookie sessions left on"
        ),
        pytest.param("report_only", {"FP-E006"}, id="report-only left on"),
        pytest.param("http_trusted_origin", {"FP-W007"}, id="trusted origin over http"),
        pytest.param(
            "proxy_without_secure", {"FP-W008"}, id="behind a proxy, Secure guessed"
        ),
        pytest.param("wildcard_origin", {"FP-W009"}, id="wildcard trusted origin"),
        pytest.param("no_forgeproof", {"FP-E011"}, id="no CSRF middleware at all"),
        pytest.param(
            "csrf_without_sessions", {"FP-E012"}, id="CSRF without forgeproof sessions"
        ),
        pytest.param(
            "several_weaknesses",
            {"FP-E001", "FP-E006", "FP-W003", "FP-W007"},
            id="several at once",
        ),
    ],
)
def test_each_weak_configuration_is_flagged_with_its_id(
    name: str, ids: set[str]
) -> None:
    findings = audit(load_app(f"{APPS}:{name}"))

    assert {finding.id for finding in findings} == ids
    assert all(finding.why for finding in findings)


def test_samesite_none_refused_while_importing_is_reported_as_fp_e004() -> None:
    findings = audit_spec("deploy.deploy_check_samesite_none:app")

    assert [finding.id for finding in findings] == ["FP-E004"]
    assert "refuses it at construction" in findings[0].why


def test_errors_come_before_warnings_and_each_is_reported_once() -> None:
    ids = [finding.id for finding in audit(load_app(f"{APPS}:several_weaknesses"))]

    assert ids == ["FP-E001", "FP-E006", "FP-W003", "FP-W007"]


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("good", 0, id="clean: 0"),
        pytest.param("broad_exempt", 0, id="warnings only: 0"),
        pytest.param("insecure_cookie", 1, id="an error: 1"),
    ],
)
def test_the_exit_status_fails_a_pipeline_only_on_errors(
    name: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", f"{APPS}:{name}"]) == status


def test_the_report_names_the_id_the_setting_and_why_it_matters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["check", f"{APPS}:broad_exempt"])

    out = capsys.readouterr().out
    assert "FP-W003 warning: exempt path '/api/'" in out
    assert "any site can make a logged-in browser send one" in out
    assert out.rstrip().endswith("0 errors, 1 warning")


def test_a_clean_app_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", f"{APPS}:good"])

    assert capsys.readouterr().out.strip() == f"{APPS}:good: no problems found"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("deploy.deploy_check_apps", id="no attribute"),
        pytest.param(":good", id="no module"),
        pytest.param("deploy.no_such_module:app", id="unknown module"),
        pytest.param(f"{APPS}:no_such_app", id="unknown attribute"),
    ],
)
def test_a_spec_that_names_nothing_is_a_usage_error(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", spec])

    assert exit_info.value.code == 2
    assert "forgeproof check: error:" in capsys.readouterr().err


def test_load_app_refuses_a_malformed_spec() -> None:
    with pytest.raises(AppNotFoundError, match="module:attribute"):
        load_app("app")


def test_an_app_module_that_fails_to_import_is_a_runtime_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # --app-dir prepends to it
    module = tmp_path / "deploy_check_broken_app.py"
    module.write_text("raise RuntimeError('database url missing')\n")

    status = main(["check", "--app-dir", str(tmp_path), "deploy_check_broken_app:app"])

    assert status == 1
    assert "database url missing" in capsys.readouterr().err
