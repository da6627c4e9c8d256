"""Requests per second through a real server on 127.0.0.1, bare vs protected.

The apps of ``apps_asgi`` run under uvicorn, those of ``apps_wsgi`` and
``django_app`` under waitress, one server process per variant, all started
up front. Debian's ``wrk`` loads them (``apt-get install wrk``); without it
a bounded Python keep-alive client in a separate process does, which tops
out much lower, so its figures only compare variants with one another.
Rounds interleave the variants; the figure is the median over rounds.

Two scenarios: ``GET /form`` with a session (a token rendered), and a
token-checked ``POST /submit`` (urlencoded, token field, same-origin).
Every run is bounded in time; only 127.0.0.1 is ever contacted.

    /work/benchvenv/bin/python benchmarks/bench_served.py            # ~6 min
    /work/benchvenv/bin/python benchmarks/bench_served.py --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import machine_info  # noqa: E402

RESULTS = HERE / "results"


@dataclass
class Served:
    framework: str
    name: str
    server: str  # "uvicorn" or "waitress"
    target: str  # module:factory
    field_name: str | None = None
    header: str = ""
    bare: bool = False
    token_in_cookie: bool = False
    module: str = ""  # must be importable, else skipped
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None
    cookie: str = ""
    token: str = ""
    rps: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def variants() -> list[Served]:
    return [
        Served("Starlette", "bare", "uvicorn", "apps_asgi:starlette_bare", bare=True),
        Served(
            "Starlette",
            "forgeproof",
            "uvicorn",
            "apps_asgi:starlette_forgeproof",
            field_name="csrf_token",
            header="X-CSRF-Token",
            module="forgeproof",
        ),
        Served(
            "Starlette",
            "starlette-csrf",
            "uvicorn",
            "apps_asgi:starlette_csrf",
            header="x-csrftoken",
            token_in_cookie=True,
            module="starlette_csrf",
        ),
        Served(
            "Starlette",
            "asgi-csrf",
            "uvicorn",
            "apps_asgi:starlette_asgi_csrf",
            field_name="csrftoken",
            header="x-csrftoken",
            module="asgi_csrf",
        ),
        Served("Flask", "bare", "waitress", "apps_wsgi:flask_bare", bare=True),
        Served(
            "Flask",
            "forgeproof",
            "waitress",
            "apps_wsgi:flask_forgeproof",
            field_name="csrf_token",
            header="X-CSRF-Token",
            module="forgeproof.wsgi",
        ),
        Served(
            "Flask",
            "Flask-WTF",
            "waitress",
            "apps_wsgi:flask_wtf",
            field_name="csrf_token",
            header="X-CSRFToken",
            module="flask_wtf",
        ),
        Served(
            "Django",
            "bare",
            "waitress",
            "django_app:django_bare",
            bare=True,
            module="django",
        ),
        Served(
            "Django",
            "CsrfViewMiddleware",
            "waitress",
            "django_app:django_csrf",
            field_name="csrfmiddlewaretoken",
            header="X-CSRFToken",
            module="django",
        ),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(v: Served, threads: int) -> None:
    v.port = free_port()
    _module, _, _factory = v.target.partition(":")
    if v.server == "uvicorn":
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            v.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(v.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "waitress",
            "--host=127.0.0.1",
            f"--port={v.port}",
            f"--threads={threads}",
            "--call",
            v.target,
        ]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    # A file, not a pipe: waitress warns about its queue depth under load,
    # and a pipe nobody reads would fill up and stall the server.
    v.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    v.proc = subprocess.Popen(  # noqa: S603
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=v.log
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if v.proc.poll() is not None:
            v.log.seek(0)
            err = v.log.read().decode(errors="replace")
            raise RuntimeError(f"{v.framework}/{v.name} did not start: {err[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", v.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{v.framework}/{v.name}: nothing listening")


def stop(v: Served) -> None:
    if v.proc is not None and v.proc.poll() is None:
        v.proc.terminate()
        try:
            v.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            v.proc.kill()
            v.proc.wait(timeout=5)
    if v.log is not None:
        v.log.close()


def get(
    port: int, path: str, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def establish(v: Served) -> None:
    """A first visit: the cookie and token the variant hands a browser."""
    status, headers, body = get(v.port, "/form", {"Host": f"127.0.0.1:{v.port}"})
    if status != 200:
        raise RuntimeError(f"{v.framework}/{v.name}: first visit answered {status}")
    jar = {}
    for key, value in headers:
        if key.lower() == "set-cookie":
            name, _, val = value.split(";", 1)[0].partition("=")
            jar[name.strip()] = val.strip().strip('"')
    v.cookie = "; ".join(f"{k}={val}" for k, val in jar.items()) or "sid=" + "s" * 43
    if v.bare:
        v.token = "t" * 86
    elif v.token_in_cookie:
        v.token = next(iter(jar.values()))
    else:
        match = re.search(r'value="([^"]*)"', body.decode())
        if match is None or not match.group(1):
            raise RuntimeError(f"{v.framework}/{v.name}: no token in the page")
        v.token = match.group(1)


def request_spec(v: Served, scenario: str) -> tuple[str, str, dict[str, str], str]:
    """method, path, headers, body of the load's request."""
    host = f"127.0.0.1:{v.port}"
    headers = {"Host": host, "Cookie": v.cookie, "Accept": "*/*"}
    if scenario == "get":
        return "GET", "/form", headers, ""
    headers["Origin"] = f"http://{host}"
    headers["Sec-Fetch-Site"] = "same-origin"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = "title=Hello+world&body=A+short+comment+of+a+few+words."
    if v.field_name is None and not v.bare:
        headers[v.header] = v.token
    else:
        body = f"{v.field_name or 'csrf_token'}={v.token}&" + body
    return "POST", "/submit", headers, body


def check_once(v: Served, scenario: str) -> None:
    method, path, headers, body = request_spec(v, scenario)
    conn = http.client.HTTPConnection("127.0.0.1", v.port, timeout=10)
    try:
        conn.request(method, path, body=body.encode() or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(
            f"{v.framework}/{v.name} {scenario}: {resp.status} {data[:200]!r}"
        )


def run_wrk(v: Served, scenario: str, seconds: float, conns: int) -> tuple[float, int]:
    method, path, headers, body = request_spec(v, scenario)
    lua = [f'wrk.method = "{method}"']
    if body:
        lua.append(f"wrk.body = {json.dumps(body)}")
    for key, value in headers.items():
        lua.append(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lua) + "\n")
        script = f.name
    try:
        out = subprocess.run(  # noqa: S603
            [
                shutil.which("wrk") or "wrk",
                "-t1",
                f"-c{conns}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "5s",
                "-s",
                script,
                f"http://127.0.0.1:{v.port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    n_bad = int(bad.group(1)) if bad else 0
    if errors:
        n_bad += sum(int(x) for x in re.findall(r"\d+", errors.group(0)))
    return rps, n_bad


_CLIENT = r"""
import http.client, sys, threading, time
port, method, path, body, seconds, conns, cap = sys.argv[1:8]
headers = dict(h.split(": ", 1) for h in sys.argv[8:])
seconds, conns, cap = float(seconds), int(conns), int(cap)
body = body.encode() or None
counts, bad = [0] * conns, [0] * conns
deadline = time.monotonic() + seconds
def loop(i):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    while time.monotonic() < deadline and counts[i] < cap:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse(); r.read()
        counts[i] += 1
        bad[i] += r.status != 200
    conn.close()
start = time.monotonic()
threads = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts) / (time.monotonic() - start), sum(bad))
"""


def run_python_client(
    v: Served, scenario: str, seconds: float, conns: int
) -> tuple[float, int]:
    method, path, headers, body = request_spec(v, scenario)
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            _CLIENT,
            str(v.port),
            method,
            path,
            body,
            str(seconds),
            str(conns),
            "1000000",
            *[f"{k}: {val}" for k, val in headers.items()],
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, help="per load run")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--frameworks", nargs="*")
    parser.add_argument(
        "--out",
        type=Path,
        help="default results/served.json, or served-quick.json with --quick "
        "(make_report.py reads only the full run's file)",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = RESULTS / ("served-quick.json" if args.quick else "served.json")
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    use_wrk = shutil.which("wrk") is not None
    load = run_wrk if use_wrk else run_python_client
    print(f"load generator: {'wrk' if use_wrk else 'Python keep-alive client'}")

    import importlib.util

    chosen = []
    skipped = {}
    for v in variants():
        if args.frameworks and v.framework not in args.frameworks:
            continue
        missing = v.module and importlib.util.find_spec(v.module.split(".")[0]) is None
        if not missing and v.module == "forgeproof.wsgi":
            missing = importlib.util.find_spec("forgeproof.wsgi") is None
        if missing:
            skipped[f"{v.framework}/{v.name}"] = f"{v.module} not importable"
            continue
        chosen.append(v)

    results: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {
            "seconds": seconds,
            "rounds": rounds,
            "connections": args.connections,
            "waitress_threads": args.threads,
            "load_generator": "wrk -t1" if use_wrk else "python http.client threads",
        },
        "skipped": skipped,
        "frameworks": {},
    }
    try:
        for v in chosen:
            start(v, args.threads)
            establish(v)
            for scenario in ("get", "post"):
                check_once(v, scenario)
                load(v, scenario, 1.0, args.connections)  # warm up
        for r in range(rounds):
            for scenario in ("get", "post"):
                order = chosen[r % len(chosen) :] + chosen[: r % len(chosen)]
                for v in order:
                    rps, bad = load(v, scenario, seconds, args.connections)
                    v.rps.setdefault(scenario, []).append(rps)
                    v.errors[scenario] = v.errors.get(scenario, 0) + bad
                    print(
                        f"  round {r + 1} {scenario:4s} {v.framework:9s} "
                        f"{v.name:20s} {rps:9.0f} req/s  non-200: {bad}",
                        flush=True,
                    )
    finally:
        for v in chosen:
            stop(v)

    for framework in ("Starlette", "Flask", "Django"):
        group = [v for v in chosen if v.framework == framework]
        bare = next((v for v in group if v.bare), None)
        if bare is None:
            continue
        entry = {}
        for v in group:
            item: dict[str, Any] = {"server": v.server}
            for scenario, values in v.rps.items():
                med = statistics.median(values)
                item[scenario] = {
                    "rps": med,
                    "all": values,
                    "non_200": v.errors.get(scenario, 0),
                }
                bare_med = statistics.median(bare.rps.get(scenario) or [0.0])
                if not v.bare and bare_med > 0:
                    item[scenario]["share_of_bare"] = med / bare_med
            entry[v.name] = item
        results["frameworks"][framework] = entry
    results["machine"]["load_after"] = machine_info()["load"]

    print()
    for framework, entry in results["frameworks"].items():
        for name, item in entry.items():
            cells = []
            for scenario in ("get", "post"):
                s = item.get(scenario)
                if s:
                    share = (
                        f" ({s['share_of_bare']:.0%})" if "share_of_bare" in s else ""
                    )
                    cells.append(f"{scenario} {s['rps']:8.0f}{share}")
            print(f"{framework:9s} {name:20s} " + "   ".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
