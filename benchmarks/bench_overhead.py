"""Per-request cost of forgeproof and its peers, called in-process.

For each scenario, every variant of a framework (bare, forgeproof, peers)
runs in interleaved rounds: in each round every variant times one batch of
calls, in an order that rotates from round to round. A variant's figure is
the median over rounds; its added cost is the median over rounds of its
time minus the bare app's time in the same round, so slow drift of a shared
machine cancels out. Peak memory per call (tracemalloc) is taken apart from
the timing, for the uploads and the large form.

    /work/benchvenv/bin/python benchmarks/bench_overhead.py           # ~5 min
    /work/benchvenv/bin/python benchmarks/bench_overhead.py --quick   # ~1 min
    .venv/bin/python benchmarks/bench_overhead.py --quick  # forgeproof only

Results go to ``benchmarks/results/overhead.json`` and to the terminal; run
``benchmarks/make_report.py`` to put them into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _driver import ASGICall, WSGICall
from _machine import machine_info
from _variants import (
    SCENARIOS,
    Credentials,
    Scenario,
    Variant,
    all_variants,
    establish,
    run_full,
    run_once,
)

RESULTS = Path(__file__).resolve().parent / "results"


async def time_batch(call: ASGICall | WSGICall, n: int) -> float:
    """Seconds per call over *n* calls."""
    if isinstance(call, ASGICall):
        once = call.once
        start = time.perf_counter()
        for _ in range(n):
            await once()
        return (time.perf_counter() - start) / n
    sync_once = call.once
    start = time.perf_counter()
    for _ in range(n):
        sync_once()
    return (time.perf_counter() - start) / n


async def peak_memory(call: ASGICall | WSGICall) -> int:
    """Bytes allocated at the peak of one call, above what was live before."""
    await run_once(call)  # warm caches and lazy imports outside the trace
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await run_once(call)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


async def peak_memory_fresh(call: ASGICall | WSGICall) -> int:
    """:func:`peak_memory` with every body chunk a new object, as from a
    server (a WSGI stream already returns new bytes on every read).

    Each copy is made when the app asks for the chunk and freed when the
    last holder drops it, so the peak counts the chunks alive at once:
    one for an app that streams, more for a middleware that keeps them.
    """
    if isinstance(call, ASGICall):
        call.fresh_chunks = True
    try:
        return await peak_memory(call)
    finally:
        if isinstance(call, ASGICall):
            call.fresh_chunks = False


async def run_group(
    scenario: Scenario,
    group: list[Variant],
    creds: dict[int, tuple[Credentials, Credentials]],
    rounds: int,
    target: float,
    memory: bool,
) -> dict[str, Any]:
    built = {id(v): scenario.build(v, *creds[id(v)]) for v in group}
    calls = {id(v): v.call(built[id(v)].request) for v in group}
    for b in built.values():
        b.request.body = b""  # the calls hold the chunks; free the copy

    # Sanity: every variant answers as expected before anything is timed. A
    # peer that fails is reported and left out; a failing bare app or
    # forgeproof stops the run.
    failed: dict[str, str] = {}
    for v in list(group):
        problem = await check(scenario, v, calls[id(v)], built[id(v)].expect)
        if problem is None:
            continue
        if v.bare or v.name.startswith("forgeproof"):
            raise RuntimeError(f"{scenario.key} {v.framework}/{v.name}: {problem}")
        print(f"  {v.framework}/{v.name} left out of {scenario.key}: {problem}")
        failed[v.name] = problem
        group = [g for g in group if g is not v]

    sizes = {}
    for v in group:
        one = await time_batch(calls[id(v)], 1)
        one = min(one, await time_batch(calls[id(v)], 1))
        sizes[id(v)] = max(1, min(200_000, int(target / max(one, 1e-7))))

    times: dict[int, list[float]] = {id(v): [] for v in group}
    for r in range(rounds):
        order = group[r % len(group) :] + group[: r % len(group)]
        if r % 2:
            order.reverse()
        for v in order:
            gc.collect()
            times[id(v)].append(await time_batch(calls[id(v)], sizes[id(v)]))

    bare = next(v for v in group if v.bare)
    out: dict[str, Any] = {}
    for v in group:
        t = times[id(v)]
        entry: dict[str, Any] = {
            "median_us": statistics.median(t) * 1e6,
            "min_us": min(t) * 1e6,
            "calls_per_batch": sizes[id(v)],
            "rounds": rounds,
            "via_header": built[id(v)].via_header,
        }
        if not v.bare:
            diffs = [a - b for a, b in zip(t, times[id(bare)], strict=True)]
            ratios = [a / b for a, b in zip(t, times[id(bare)], strict=True)]
            entry["added_us"] = statistics.median(diffs) * 1e6
            entry["ratio"] = statistics.median(ratios)
            entry["added_us_spread"] = [min(diffs) * 1e6, max(diffs) * 1e6]
            # Best round against best round: what a quiet machine would show,
            # as far as this run can tell; the median is the headline.
            entry["added_best_us"] = (min(t) - min(times[id(bare)])) * 1e6
        if memory:
            entry["peak_bytes"] = await peak_memory_fresh(calls[id(v)])
        out[v.name] = entry
    for name, problem in failed.items():
        out[name] = {"failed": problem}
    del calls
    gc.collect()
    return out


async def check(
    scenario: Scenario, v: Variant, call: ASGICall | WSGICall, want: int
) -> str | None:
    """Why *v* cannot be timed in *scenario*, or ``None`` if it answers right."""
    try:
        response = await run_full(call)
    except Exception as exc:  # a peer's bug must not stop the whole run
        return f"raises {type(exc).__name__}: {exc}"
    if response.status != want:
        return f"answers {response.status}, expected {want}: {response.body[:120]!r}"
    if scenario.key == "first_visit" and not v.bare and not response.cookies():
        return "sets no cookie on a first visit"
    return None


def print_group(scenario: Scenario, framework: str, result: dict[str, Any]) -> None:
    print(f"\n{scenario.title} — {framework}")
    for name, e in result.items():
        if "failed" in e:
            print(f"  {name:24s} not measured: {e['failed']}")
            continue
        line = f"  {name:24s} {e['median_us']:11.1f} µs"
        if "added_us" in e:
            line += f"  x{e['ratio']:.3f}  {e['added_us']:+10.1f} µs"
        else:
            line += " " * 27
        if "peak_bytes" in e:
            line += f"  peak {e['peak_bytes'] / 1024:9.1f} KiB"
        if e["via_header"]:
            line += "  (token sent in header: no body support)"
        print(line, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--rounds", type=int, help="rounds per scenario")
    parser.add_argument("--batch", type=float, help="seconds per timed batch")
    parser.add_argument(
        "--only", nargs="*", help="scenario keys, e.g. post_form mp10_header"
    )
    parser.add_argument(
        "--frameworks", nargs="*", help="Starlette Flask Django (default all)"
    )
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--out",
        type=Path,
        help="default results/overhead.json, or overhead-quick.json with --quick "
        "(make_report.py reads only the full run's file)",
    )
    args = parser.parse_args()
    if args.out is None:
        args.out = RESULTS / ("overhead-quick.json" if args.quick else "overhead.json")
    rounds = args.rounds or (3 if args.quick else 9)
    target = args.batch or (0.04 if args.quick else 0.15)

    # Rejections are logged (a WARNING each, for every library that logs):
    # a handler that drops them keeps the cost of making the record.
    logging.getLogger().addHandler(logging.NullHandler())

    variants = all_variants()
    for v in variants:
        if v.unavailable:
            print(f"skipped {v.framework}/{v.name}: {v.unavailable}")
    variants = [v for v in variants if not v.unavailable]
    if args.frameworks:
        variants = [v for v in variants if v.framework in args.frameworks]

    creds = {}
    for v in variants:
        creds[id(v)] = (await establish(v), await establish(v))

    scenarios = [s for s in SCENARIOS if not args.only or s.key in args.only]
    results: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {"rounds": rounds, "batch_seconds": target},
        "skipped": {
            f"{v.framework}/{v.name}": v.unavailable
            for v in all_variants()
            if v.unavailable
        },
        "scenarios": {},
    }
    started = time.monotonic()
    for scenario in scenarios:
        per_framework = {}
        for framework in ("Starlette", "Flask", "Django"):
            group = [v for v in variants if v.framework == framework]
            if not any(v.bare for v in group) or len(group) < 2:
                continue
            s_rounds = max(3, rounds // 2) if scenario.large else rounds
            result = await run_group(
                scenario,
                group,
                creds,
                s_rounds,
                target,
                memory=scenario.large and not args.no_memory,
            )
            print_group(scenario, framework, result)
            per_framework[framework] = result
        results["scenarios"][scenario.key] = {
            "title": scenario.title,
            "frameworks": per_framework,
        }
    results["elapsed_seconds"] = time.monotonic() - started
    results["machine"]["load_after"] = machine_info()["load"]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.out} in {results['elapsed_seconds']:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
