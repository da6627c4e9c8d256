"""A real nginx in front of the app: TLS on loopback with a throwaway
certificate, proxying to uvicorn over plain http.

nginx runs in the foreground (``daemon off``, no master process) from a
config written into a temporary directory, so every path it writes (pid,
logs, temp files) is in there, and the test stops it by its PID.
"""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from support.servers import wait_for_port

#: How the proxy reports what it received: X-Forwarded-* or RFC 7239.
ProxyStyle = Literal["x-forwarded", "forwarded"]

# A client's own X-Forwarded-Host / Forwarded values are kept and nginx's
# entry appended after them, as a chain of proxies would: the app must
# take the last entry, never the first.
_CONFIG = """\
worker_processes 1;
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 10m;
    map $http_x_forwarded_host $xfh_before {{
        "" "";
        default "$http_x_forwarded_host, ";
    }}
    map $http_forwarded $fwd_before {{
        "" "";
        default "$http_forwarded, ";
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
{headers}
        }}
    }}
}}
"""

_HEADERS: dict[ProxyStyle, str] = {
    "x-forwarded": """\
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host "$xfh_before$host";
            proxy_set_header X-Forwarded-Port $server_port;""",
    "forwarded": """\
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header Forwarded
                "${fwd_before}proto=$scheme;host=\\"$http_host\\"";""",
}


def make_certificate(directory: Path, openssl: str) -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost, valid a day;
    returns the certificate's path (the key is beside it)."""
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=forgeproof test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return directory / "cert.pem"


def client_tls(certificate: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the throwaway certificate."""
    return ssl.create_default_context(cafile=str(certificate))


@contextmanager
def run_nginx(
    nginx: str, directory: Path, *, port: int, upstream: int, style: ProxyStyle
) -> Iterator[None]:
    """nginx on ``https://127.0.0.1:{port}`` proxying to *upstream*; the
    certificate must already be in *directory*."""
    config = directory / f"nginx-{port}.conf"
    config.write_text(
        _CONFIG.format(
            tmp=directory, port=port, upstream=upstream, headers=_HEADERS[style]
        )
    )
    process = subprocess.Popen(
        [
            nginx,
            "-p",
            str(directory),
            "-c",
            str(config),
            "-e",
            str(directory / "e.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_listening(process, port)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {errors}")
        try:
            wait_for_port(port, timeout=0.2)
        except TimeoutError:
            continue
        return
    raise TimeoutError(f"nginx did not listen on {port}")
