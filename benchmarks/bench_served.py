"""Requests per second through a real server on 127.0.0.1, bare vs protected.

The apps of ``apps_asgi`` run under uvicorn (h11, asyncio loop: what the
venv has, the same for every variant), those of ``apps_wsgi`` and
``django_app`` under waitress, one server process per variant, all started
up front. Debian's ``wrk`` loads them (``apt-get install wrk``) over 16
keep-alive connections; without it a bounded Python keep-alive client in a
separate process does, which tops out much lower, so its figures only
compare variants with one another.

Two scenarios: ``GET /form`` with a session (a token rendered), and a
token-checked ``POST /submit`` (urlencoded, token field, same-origin). Every
connection sends the same cookie and token, taken from one first visit, so
the protected server loads one live session per request and sets no cookie
(the token page answers with ``Vary: Cookie`` and ``Cache-Control``). No
access log; nothing is refused, so nothing is logged.

The machine is shared and has 2 cores, which the server, the load generator
and anything else running compete for. So every run of a protected variant
sits between two runs of its bare app (bare, protected..., bare, ...): its
share of bare is taken against the mean of those two, and the figure is the
median share over rounds, with its quartiles. The server's CPU time per
request (user + system, from /proc) is recorded too: it is what caps a
saturated single-worker server, and it moves less with the load of other
processes than requests per second do. ``--pin`` puts the server on CPU 1
and the load generator on CPU 0. ``served_protocol.py`` measures the same
requests without sockets, in microseconds and in instructions.
Every run is bounded in time; only 127.0.0.1 is ever contacted.

    /work/benchvenv/bin/python benchmarks/bench_served.py            # ~10 min
    /work/benchvenv/bin/python benchmarks/bench_served.py --quick    # ~1 min
    /work/benchvenv/bin/python benchmarks/bench_served.py --frameworks Starlette --pin
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
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
    #: server CPU time (user + system) per request, microseconds
    cpu: dict[str, list[float]] = field(default_factory=dict)
    #: the load generator's CPU time per request, microseconds
    load_cpu: dict[str, list[float]] = field(default_factory=dict)
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


#: CPUs for the server and the load generator with --pin, else None
SERVER_CPU, LOAD_CPU = "1", "0"


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    taskset = shutil.which("taskset")
    if cpu is None or taskset is None:
        return cmd
    return [taskset, "-c", cpu, *cmd]


def start(v: Served, threads: int, cpu: str | None) -> None:
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
        pinned(cmd, cpu), env=env, stdout=subprocess.DEVNULL, stderr=v.log
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


@dataclass
class Run:
    rps: float
    requests: int
    bad: int


def run_wrk(
    v: Served, scenario: str, seconds: float, conns: int, cpu: str | None
) -> Run:
    method, path, headers, body = request_spec(v, scenario)
    lua = [f'wrk.method = "{method}"']
    if body:
        lua.append(f"wrk.body = {json.dumps(body)}")
    for key, value in headers.items():
        lua.append(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lua) + "\n")
        script = f.name
    cmd = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        script,
        f"http://127.0.0.1:{v.port}{path}",
    ]
    try:
        out = subprocess.run(  # noqa: S603
            pinned(cmd, cpu),
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    n_bad = int(bad.group(1)) if bad else 0
    if errors:
        n_bad += sum(int(x) for x in re.findall(r"\d+", errors.group(0)))
    return Run(rps, count, n_bad)


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
print(sum(counts) / (time.monotonic() - start), sum(counts), sum(bad))
"""


def run_python_client(
    v: Served, scenario: str, seconds: float, conns: int, cpu: str | None
) -> Run:
    method, path, headers, body = request_spec(v, scenario)
    cmd = [
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
    ]
    out = subprocess.run(  # noqa: S603
        pinned(cmd, cpu),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout.split()
    return Run(float(out[0]), int(out[1]), int(out[2]))


def cpu_seconds(pid: int) -> float:
    """User + system time of a process and all its threads so far."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces; count from its ")".
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(v: Served, scenario: str, seconds: float, args: argparse.Namespace) -> None:
    load = run_wrk if shutil.which("wrk") else run_python_client
    assert v.proc is not None
    server_before, load_before = cpu_seconds(v.proc.pid), children_cpu_seconds()
    run = load(v, scenario, seconds, args.connections, LOAD_CPU if args.pin else None)
    server_cpu = cpu_seconds(v.proc.pid) - server_before
    load_cpu = children_cpu_seconds() - load_before
    per = max(run.requests, 1)
    v.rps.setdefault(scenario, []).append(run.rps)
    v.cpu.setdefault(scenario, []).append(server_cpu / per * 1e6)
    v.load_cpu.setdefault(scenario, []).append(load_cpu / per * 1e6)
    v.errors[scenario] = v.errors.get(scenario, 0) + run.bad
    print(
        f"  {scenario:4s} {v.framework:9s} {v.name:20s} {run.rps:9.0f} req/s"
        f"  server {server_cpu / per * 1e6:6.1f} us/req"
        f"  load {load_cpu / per * 1e6:5.1f} us/req  non-200: {run.bad}",
        flush=True,
    )


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def paired(
    bare: list[float], other: list[float], higher_is_better: bool
) -> list[float]:
    """Each run's share of bare, against the mean of the bare runs just
    before and just after it (bare has one run more)."""
    shares = []
    for i, value in enumerate(other):
        base = (bare[i] + bare[i + 1]) / 2
        shares.append(value / base if higher_is_better else base / value)
    return shares


def summarise(group: list[Served]) -> dict[str, Any]:
    bare = next(v for v in group if v.bare)
    entry: dict[str, Any] = {}
    for v in group:
        item: dict[str, Any] = {"server": v.server}
        for scenario, values in v.rps.items():
            cpu = v.cpu[scenario]
            x: dict[str, Any] = {
                "rps": statistics.median(values),
                "all": values,
                "non_200": v.errors.get(scenario, 0),
                "server_cpu_us": statistics.median(cpu),
                "server_cpu_us_all": cpu,
                "load_cpu_us": statistics.median(v.load_cpu[scenario]),
            }
            if not v.bare:
                shares = paired(bare.rps[scenario], values, higher_is_better=True)
                q1, med, q3 = quartiles(shares)
                x["share_of_bare"] = med
                x["share_quartiles"] = [q1, q3]
                x["share_all"] = shares
                x["share_of_medians"] = x["rps"] / statistics.median(bare.rps[scenario])
                cpu_shares = paired(bare.cpu[scenario], cpu, higher_is_better=False)
                q1, med, q3 = quartiles(cpu_shares)
                x["cpu_share_of_bare"] = med
                x["cpu_share_quartiles"] = [q1, q3]
                x["added_cpu_us"] = x["server_cpu_us"] - statistics.median(
                    bare.cpu[scenario]
                )
            item[scenario] = x
        entry[v.name] = item
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, help="per load run")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--frameworks", nargs="*")
    parser.add_argument(
        "--pin",
        action="store_true",
        help=f"server on CPU {SERVER_CPU}, load generator on CPU {LOAD_CPU}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="default results/served.json, or served-quick.json with --quick "
        "(make_report.py reads only the full run's file)",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = RESULTS / ("served-quick.json" if args.quick else "served.json")
    seconds = args.seconds or (2.0 if args.quick else 3.0)
    rounds = args.rounds or (2 if args.quick else 9)
    use_wrk = shutil.which("wrk") is not None
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
    groups = [
        [v for v in chosen if v.framework == framework]
        for framework in ("Starlette", "Flask", "Django")
    ]
    groups = [g for g in groups if any(v.bare for v in g)]

    results: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {
            "seconds": seconds,
            "rounds": rounds,
            "connections": args.connections,
            "waitress_threads": args.threads,
            "load_generator": "wrk -t1" if use_wrk else "python http.client threads",
            "uvicorn": "h11, asyncio loop, one worker, keep-alive",
            "pinned": f"server CPU {SERVER_CPU}, load CPU {LOAD_CPU}"
            if args.pin
            else "no",
            "share": "median over rounds of each run's rps over the mean of "
            "the bare runs before and after it",
        },
        "skipped": skipped,
        "frameworks": {},
    }
    server_cpu = SERVER_CPU if args.pin else None
    load_cpu = LOAD_CPU if args.pin else None
    load = run_wrk if use_wrk else run_python_client
    try:
        for group in groups:
            for v in group:
                start(v, args.threads, server_cpu)
                establish(v)
                for scenario in ("get", "post"):
                    check_once(v, scenario)
                    load(v, scenario, 1.0, args.connections, load_cpu)  # warm up
        # bare, the others (rotated), and bare again after the last round.
        for r in range(rounds + 1):
            print(f"round {r + 1}" if r < rounds else "closing bare runs")
            for scenario in ("get", "post"):
                for group in groups:
                    bare = next(v for v in group if v.bare)
                    measure(bare, scenario, seconds, args)
                    if r == rounds:
                        continue
                    others = [v for v in group if not v.bare]
                    for v in others[r % len(others) :] + others[: r % len(others)]:
                        measure(v, scenario, seconds, args)
    finally:
        for v in chosen:
            stop(v)

    for group in groups:
        results["frameworks"][group[0].framework] = summarise(group)
    results["machine"]["load_after"] = machine_info()["load"]

    print()
    print("share of bare: median of paired runs [quartiles]; CPU: server us/request")
    for framework, entry in results["frameworks"].items():
        for name, item in entry.items():
            cells = []
            for scenario in ("get", "post"):
                s = item.get(scenario)
                if not s:
                    continue
                cell = f"{scenario} {s['rps']:6.0f}/s cpu {s['server_cpu_us']:5.0f}"
                if "share_of_bare" in s:
                    q1, q3 = s["share_quartiles"]
                    c1, c3 = s["cpu_share_quartiles"]
                    cell += (
                        f" {s['share_of_bare']:4.0%} [{q1:.0%}..{q3:.0%}]"
                        f" by cpu {s['cpu_share_of_bare']:4.0%} [{c1:.0%}..{c3:.0%}]"
                    )
                cells.append(cell)
            print(f"{framework:9s} {name:18s} " + "  ".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
