"""Fixtures of the deployment tests: the app behind a real nginx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.deploy_apps import DeployedApp, build_app
from deploy.deploy_support import ProxyStyle, client_tls, make_certificate, run_nginx
from support.parts import require_binary
from support.servers import free_port, serve_asgi

# What each deployment configures; "{public}" is the https origin nginx
# serves, known once its port is.
DEPLOYMENTS: dict[str, tuple[ProxyStyle, dict[str, Any]]] = {
    "x-forwarded, 1 trusted proxy": (
        "x-forwarded",
        {"trusted_proxies": 1, "trusted_origins": ["https://partner.example"]},
    ),
    "Forwarded, 1 trusted proxy": (
        "forwarded",
        {"trusted_proxies": 1, "proxy_headers": "forwarded"},
    ),
    "x-forwarded, no trusted proxy": ("x-forwarded", {}),
    "public origin configured": ("x-forwarded", {"public_origins": ["{public}"]}),
    "report-only": ("x-forwarded", {"trusted_proxies": 1, "report_only": True}),
}


@dataclass
class Deployment:
    public: str  # the origin browsers use: https://127.0.0.1:<nginx port>
    deployed: DeployedApp
    tls: Any  # ssl.SSLContext trusting the throwaway certificate


class Deployments:
    """Starts each deployment on first use; all stop with the module."""

    def __init__(self, stack: ExitStack, directory: Path, nginx: str) -> None:
        self._stack = stack
        self._directory = directory
        self._nginx = nginx
        self._started: dict[str, Deployment] = {}
        openssl = require_binary("openssl", "openssl")
        self._certificate = make_certificate(directory, openssl)

    def __getitem__(self, name: str) -> Deployment:
        if name not in self._started:
            self._started[name] = self._start(name)
        return self._started[name]

    def _start(self, name: str) -> Deployment:
        style, options = DEPLOYMENTS[name]
        port = free_port()
        public = f"https://127.0.0.1:{port}"
        options = {
            key: [v.format(public=public) for v in value]
            if key == "public_origins"
            else value
            for key, value in options.items()
        }
        deployed = build_app(**options)
        base = self._stack.enter_context(serve_asgi(deployed.app))
        upstream = int(base.rsplit(":", 1)[1])
        self._stack.enter_context(
            run_nginx(
                self._nginx, self._directory, port=port, upstream=upstream, style=style
            )
        )
        return Deployment(public, deployed, client_tls(self._certificate))


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployments]:
    # Debian puts nginx in /usr/sbin, which is not on every user's PATH.
    nginx = require_binary(shutil.which("nginx") or "/usr/sbin/nginx", "nginx")
    with ExitStack() as stack:
        yield Deployments(stack, tmp_path_factory.mktemp("nginx"), nginx)
