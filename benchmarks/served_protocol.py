"""A served request's Python cost, without sockets: uvicorn's own protocol
object fed raw request bytes through a stand-in transport.

``bench_served.py`` measures requests per second through real sockets,
where the kernel, the load generator and whatever else runs on the machine
share the two cores with the server. This measures what the server process
itself spends in Python per request (uvicorn's h11 protocol, the event
loop's task, the app and its middleware), the part a library change can
move, with the same bytes ``bench_served.py`` sends. Variants are
interleaved in every round; the figure is the median over rounds.

    .venv/bin/python benchmarks/served_protocol.py
    .venv/bin/python benchmarks/served_protocol.py --profile forgeproof --scenario post

``--profile`` runs one variant under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import uvicorn  # noqa: E402
from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

HOST = "127.0.0.1:8000"
FORM_BODY = "title=Hello+world&body=A+short+comment+of+a+few+words."

SERVER_KEYS = {
    "type",
    "asgi",
    "http_version",
    "server",
    "client",
    "scheme",
    "method",
    "root_path",
    "path",
    "raw_path",
    "query_string",
    "headers",
}

#: CPU time of this thread: time spent descheduled while other processes
#: run does not count, which on a shared machine is most of the noise.
CLOCK = time.thread_time

# name -> factory, token field in the form body (as bench_served.py sends)
VARIANTS = {
    "bare": "apps_asgi:starlette_bare",
    "sessions": "apps_asgi:starlette_forgeproof_sessions",
    "forgeproof": "apps_asgi:starlette_forgeproof",
}


class Transport(asyncio.Transport):
    """Collects what the server writes; reports the loopback addresses a
    socket transport would."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        raise RuntimeError("the server closed a keep-alive connection")


class Served:
    """One app behind one uvicorn h11 connection, kept alive as wrk's are."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        config = uvicorn.Config(
            target,
            factory=True,
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            # Long enough that no idle timer fires under a profiler.
            timeout_keep_alive=3600,
        )
        config.load()
        self.state = ServerState()
        self.state.default_headers = [
            (b"date", formatdate(usegmt=True).encode()),
            *config.encoded_headers,
        ]
        self.protocol = H11Protocol(config, self.state, {})
        self.transport = Transport()
        self.protocol.connection_made(self.transport)
        self.app = config.loaded_app
        self.requests: dict[str, bytes] = {}
        # The scope and body uvicorn handed the app, per scenario, for
        # calling the same app directly (as bench_overhead.py does).
        self.scopes: dict[str, tuple[dict[str, Any], bytes]] = {}

    async def send(self, raw: bytes) -> bytes:
        """One request through the protocol, the response as written."""
        done = self.state.total_requests + 1
        self.transport.out.clear()
        self.protocol.data_received(raw)
        while self.state.total_requests < done:
            await asyncio.sleep(0)
        return bytes(self.transport.out)

    async def establish(self) -> None:
        """A first visit, as bench_served.py's: the cookie and the token."""
        page = await self.send(request("GET", "/form", {}, ""))
        head, _, body = page.partition(b"\r\n\r\n")
        cookies = re.findall(rb"(?im)^set-cookie: ([^=]+=[^;\r]*)", head)
        cookie = b"; ".join(cookies).decode() or "sid=" + "s" * 43
        token = re.search(rb'value="([^"]*)"', body)
        value = token.group(1).decode() if token and token.group(1) else "t" * 86
        headers = {"Cookie": cookie, "Accept": "*/*"}
        self.requests["get"] = request("GET", "/form", headers, "")
        post_headers = {
            **headers,
            "Origin": f"http://{HOST}",
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body_text = f"csrf_token={value}&{FORM_BODY}"
        self.requests["post"] = request("POST", "/submit", post_headers, body_text)
        # The same POST with the token in the header (as a script sends
        # it): no body scan.
        header_token = {**post_headers, "X-CSRF-Token": value}
        self.requests["post-header"] = request(
            "POST", "/submit", header_token, FORM_BODY
        )
        for scenario, raw in self.requests.items():
            answer = await self.send(raw)
            if not answer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{self.name} {scenario}: {answer[:300]!r}")
            # Only the keys uvicorn set: the app's stack adds its own.
            scope = {k: v for k, v in self.protocol.scope.items() if k in SERVER_KEYS}
            self.scopes[scenario] = scope, raw.partition(b"\r\n\r\n")[2]

    async def direct(self, scenario: str) -> None:
        """The same request, the app called with no server around it."""
        template, body = self.scopes[scenario]
        message: dict[str, Any] | None = {
            "type": "http.request",
            "body": body,
            "more_body": False,
        }

        async def receive() -> dict[str, Any]:
            nonlocal message
            out, message = message or {"type": "http.disconnect"}, None
            return out

        async def send(message: dict[str, Any]) -> None:
            pass

        scope = dict(template)
        scope["state"] = {}
        await self.app(scope, receive, send)

    async def batch(self, scenario: str, n: int) -> float:
        """Microseconds per request over *n* requests; a scenario ending in
        ``-direct`` calls the app without uvicorn."""
        if scenario.endswith("-direct"):
            name = scenario.removesuffix("-direct")
            start = CLOCK()
            for _ in range(n):
                await self.direct(name)
            return (CLOCK() - start) / n * 1e6
        raw = self.requests[scenario]
        start = CLOCK()
        for _ in range(n):
            await self.send(raw)
        return (CLOCK() - start) / n * 1e6


def request(method: str, path: str, headers: dict[str, str], body: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1")


async def run(args: argparse.Namespace) -> None:
    served = [Served(name, VARIANTS[name]) for name in args.variants]
    for s in served:
        await s.establish()
        for scenario in args.scenarios:
            await s.batch(scenario, args.n)  # warm up

    if args.count is not None:
        # One variant, one scenario, a fixed number of requests: for
        # counting instructions under callgrind (--instructions).
        await served[0].batch(args.scenarios[0], args.count)
        return

    if args.profile:
        target = next(s for s in served if s.name == args.profile)
        profiler = cProfile.Profile()
        profiler.enable()
        per = await target.batch(args.scenarios[0], args.n * 5)
        profiler.disable()
        print(f"{target.name} {args.scenarios[0]}: {per:.1f} us/request under cProfile")
        stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
        stats.print_stats(35)
        return

    results: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for scenario in args.scenarios:
            order = served[r % len(served) :] + served[: r % len(served)]
            for s in order:
                gc.collect()
                per = await s.batch(scenario, args.n)
                results.setdefault(s.name, {}).setdefault(scenario, []).append(per)

    bare = results.get("bare", {})
    print(
        f"CPU us per served request, median and min of {args.rounds} rounds x {args.n}"
    )
    for name, by_scenario in results.items():
        cells = []
        for scenario, values in by_scenario.items():
            med, low = statistics.median(values), min(values)
            cell = f"{scenario:12s} median {med:6.1f}  min {low:6.1f}"
            if name != "bare" and scenario in bare:
                base = statistics.median(bare[scenario])
                base_low = min(bare[scenario])
                cell += (
                    f"  added +{med - base:.1f} (min +{low - base_low:.1f})"
                    f"  {base / med:.0%} of bare rate (min {base_low / low:.0%})"
                )
            cells.append(cell)
        print(f"  {name:11s} " + "\n              ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument(
        "--scenarios", nargs="*", default=["get", "post", "get-direct", "post-direct"]
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("-n", type=int, default=2000, help="requests per batch")
    parser.add_argument("--profile", choices=list(VARIANTS))
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind's callgrind "
        "(deterministic where the clock is not; slow, ~1 min per cell)",
    )
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="with --instructions: simulated cache misses and mispredictions",
    )
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args)
        return
    asyncio.run(run(args))


def count_instructions(args: argparse.Namespace) -> None:
    """Instructions per request: two runs of one cell, *n* and 5 *n*
    requests, each after the same set-up and warm-up, so the difference is
    the requests alone. With ``--cache-sim``, also the simulated L1
    instruction and data cache misses and mispredicted branches."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    sim = ["--cache-sim=yes", "--branch-sim=yes"] if args.cache_sim else []
    bare: dict[str, float] = {}
    for scenario in args.scenarios:
        for name in args.variants:
            runs = []
            for n in (args.n, 5 * args.n):
                out = subprocess.run(  # noqa: S603
                    [
                        valgrind,
                        "--tool=callgrind",
                        "--callgrind-out-file=/dev/null",
                        *sim,
                        sys.executable,
                        __file__,
                        "--variants",
                        name,
                        "--scenarios",
                        scenario,
                        "-n",
                        "200",
                        "--count",
                        str(n),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    # Both runs compile every module alike, even when a
                    # source file changed in between.
                    env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                ).stderr
                events = re.search(r"Events +: (.*)", out)
                counts = re.search(r"Collected : (.*)", out)
                if events is None or counts is None:
                    raise RuntimeError(out[-500:])
                runs.append(
                    dict(
                        zip(events[1].split(), map(int, counts[1].split()), strict=True)
                    )
                )
            per = {k: (runs[1][k] - runs[0][k]) / (4 * args.n) for k in runs[0]}
            cell = f"{per['Ir'] / 1000:8.1f} k instructions/request"
            if name == "bare":
                bare[scenario] = per["Ir"]
            elif scenario in bare:
                cell += f"  +{(per['Ir'] - bare[scenario]) / 1000:.1f} k"
                cell += f" = {bare[scenario] / per['Ir']:.0%} of bare"
            if args.cache_sim:
                cell += (
                    f"  I1 misses {per['I1mr']:6.0f}"
                    f"  D1 misses {per['D1mr'] + per['D1mw']:6.0f}"
                    f"  mispredicted {per['Bcm'] + per['Bim']:6.0f}"
                )
            print(f"  {scenario:12s} {name:11s} {cell}", flush=True)


if __name__ == "__main__":
    main()
