"""The app behind a real nginx, over real HTTP: TLS ends at nginx, which
talks plain http to uvicorn on another port and rewrites ``Host``.

Each case sends a control (the same request done right, which must
succeed) and then the case's request, which must be refused with the
named reason, without reaching the handler, and saying what origin was
expected.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field

import httpx
import pytest

from deploy.conftest import Deployment, Deployments

CSRF_LOGGER = "forgeproof.csrf"


@dataclass(frozen=True)
class Send:
    """A request a user's browser (or an attacker) makes after loading the
    page. "{public}" is the https origin nginx serves."""

    origin: str | None = "{public}"
    referer: str | None = None
    as_json: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def to(self, client: httpx.Client, public: str, token: str) -> httpx.Response:
        headers = {"accept": "application/json"}
        if self.origin is not None:
            headers["origin"] = self.origin.format(public=public)
        if self.referer is not None:
            headers["referer"] = self.referer.format(public=public)
        headers.update(self.headers)
        if self.as_json:
            headers["x-csrf-token"] = token
            return client.post("/api/notes", json={"text": "hi"}, headers=headers)
        return client.post(
            "/notes", data={"text": "hi", "csrf_token": token}, headers=headers
        )


@dataclass(frozen=True)
class Case:
    deployment: str
    request: Send
    reason: str
    expected_origin: str  # what the rejection says it expected
    control: Send = field(default_factory=Send)
    control_deployment: str = ""  # the same deployment unless named


TRUSTING = "x-forwarded, 1 trusted proxy"
FORWARDED = "Forwarded, 1 trusted proxy"
UNTRUSTING = "x-forwarded, no trusted proxy"
PUBLIC = "public origin configured"

CASES = [
    pytest.param(
        Case(
            TRUSTING,
            Send(origin="https://evil.example"),
            "origin_not_allowed",
            "{public}",
        ),
        id="foreign origin posts a form (control: own form)",
    ),
    pytest.param(
        Case(
            TRUSTING,
            Send(origin="https://evil.example", as_json=True),
            "origin_not_allowed",
            "{public}",
            control=Send(as_json=True),
        ),
        id="foreign origin fetches with the token header (control: own fetch)",
    ),
    pytest.param(
        Case(
            TRUSTING,
            Send(origin="http://partner.example"),
            "origin_not_allowed",
            "{public}",
            control=Send(origin="https://partner.example"),
        ),
        id="http twin of a trusted https origin (control: the https origin)",
    ),
    pytest.param(
        Case(
            TRUSTING,
            Send(origin="http://127.0.0.1:{port}"),
            "origin_not_allowed",
            "{public}",
        ),
        id="http twin of the app's own origin (control: own form)",
    ),
    pytest.param(
        Case(
            TRUSTING,
            Send(
                origin="https://evil.example",
                headers={"x-forwarded-host": "evil.example"},
            ),
            "origin_not_allowed",
            "{public}",
        ),
        id="client's own X-Forwarded-Host names the attacker (control: own form)",
    ),
    pytest.param(
        Case(
            TRUSTING,
            Send(origin=None, referer="https://evil.example/page"),
            "origin_not_allowed",
            "{public}",
            control=Send(origin=None, referer="{public}/"),
        ),
        id="no Origin, foreign Referer on https (control: own Referer)",
    ),
    pytest.param(
        Case(
            FORWARDED,
            Send(
                origin="https://evil.example",
                headers={"forwarded": 'proto=https;host="evil.example"'},
            ),
            "origin_not_allowed",
            "{public}",
        ),
        id="client's own Forwarded names the attacker (control: own form)",
    ),
    pytest.param(
        Case(
            PUBLIC,
            Send(origin="https://evil.example"),
            "origin_not_allowed",
            "{public}",
        ),
        id="public origin configured: foreign origin (control: own form)",
    ),
    pytest.param(
        Case(
            UNTRUSTING,
            Send(),
            "origin_not_allowed",
            # nginx's Host is $host, without the port; uvicorn believes
            # X-Forwarded-Proto from 127.0.0.1, so the scheme is right.
            "https://127.0.0.1",
            control_deployment=TRUSTING,
        ),
        id="misconfigured: proxy not trusted refuses own users "
        "(control: the same request with trusted_proxies=1)",
    ),
]


def _fill(template: str, deployment: Deployment) -> str:
    port = deployment.public.rsplit(":", 1)[1]
    return template.format(public=deployment.public, port=port)


def _page_token(client: httpx.Client) -> str:
    page = client.get("/")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def _send(deployment: Deployment, request: Send) -> tuple[httpx.Response, str]:
    with httpx.Client(base_url=deployment.public, verify=deployment.tls) as client:
        token = _page_token(client)
        # Placeholders in the request's own fields, filled per deployment.
        filled = Send(
            origin=None
            if request.origin is None
            else _fill(request.origin, deployment),
            referer=None
            if request.referer is None
            else _fill(request.referer, deployment),
            as_json=request.as_json,
            headers=request.headers,
        )
        return filled.to(client, deployment.public, token), token


@pytest.mark.parametrize("case", CASES)
def test_behind_nginx_the_attack_is_refused_and_says_what_it_expected(
    deployments: Deployments, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    control_at = deployments[case.control_deployment or case.deployment]
    response, _ = _send(control_at, case.control)
    assert response.status_code == 200, response.text

    deployment = deployments[case.deployment]
    calls_before = list(deployment.deployed.calls)
    with caplog.at_level(logging.WARNING, logger=CSRF_LOGGER):
        response, token = _send(deployment, case.request)

    assert response.status_code == 403
    problem = response.json()
    assert problem["reason"] == case.reason
    assert problem["expected_origin"] == _fill(case.expected_origin, deployment)
    assert deployment.deployed.calls == calls_before
    assert f"reason={case.reason}" in caplog.text
    assert _fill(case.expected_origin, deployment) in caplog.text
    assert token not in caplog.text
    assert token not in response.text


def test_behind_nginx_the_misconfiguration_names_the_origin_it_saw(
    deployments: Deployments, caplog: pytest.LogCaptureFixture
) -> None:
    deployment = deployments[UNTRUSTING]
    with caplog.at_level(logging.WARNING, logger=CSRF_LOGGER):
        response, _ = _send(deployment, Send())

    assert response.status_code == 403
    assert response.json()["origin"] == deployment.public
    assert f"origin='{deployment.public}'" in caplog.text
    assert "expected='https://127.0.0.1'" in caplog.text


def test_behind_nginx_pages_with_a_token_are_not_cacheable(
    deployments: Deployments,
) -> None:
    deployment = deployments[TRUSTING]
    with httpx.Client(base_url=deployment.public, verify=deployment.tls) as client:
        page = client.get("/")

    assert page.status_code == 200
    directives = {d.strip() for d in page.headers["cache-control"].split(",")}
    assert {"private", "no-store"} <= directives
    assert "cookie" in page.headers["vary"].lower()


def test_behind_nginx_report_only_lets_a_refusable_request_through_whole(
    deployments: Deployments, caplog: pytest.LogCaptureFixture
) -> None:
    deployment = deployments["report-only"]
    # 300 kB of form without a token: scanned to the end, then refused in
    # report-only mode, so the app must still get every byte.
    body = b"text=" + b"x" * 300_000
    with (
        httpx.Client(base_url=deployment.public, verify=deployment.tls) as client,
        caplog.at_level(logging.WARNING, logger=CSRF_LOGGER),
    ):
        _page_token(client)
        response = client.post(
            "/notes",
            content=body,
            headers={
                "origin": deployment.public,
                "content-type": "application/x-www-form-urlencoded",
            },
        )

    assert response.status_code == 200
    assert response.json() == {
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    assert "report-only, would reject" in caplog.text
    assert "reason=token_missing" in caplog.text
    last = deployment.deployed.decisions[-1]
    assert last.reason is not None
    assert last.reason.value == "token_missing"
    assert last.report_only
    assert not last.blocked


def test_behind_nginx_report_only_still_accepts_own_users(
    deployments: Deployments,
) -> None:
    deployment = deployments["report-only"]
    response, _ = _send(deployment, Send())

    assert response.status_code == 200
    assert deployment.deployed.decisions[-1].accepted
