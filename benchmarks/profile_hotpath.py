"""Where forgeproof's per-request time goes.

Two views of the same hot path:

1. cProfile over many in-process calls of the Starlette app with forgeproof
   (and the Flask app, when ``forgeproof.wsgi`` exists), per scenario,
   listing the functions with the most own time.
2. A breakdown: each step of the middleware timed alone with ``timeit``,
   in the order a request meets them, so the steps can be compared with the
   ~2-3 µs floor of one token check.

    .venv/bin/python benchmarks/profile_hotpath.py            # both
    .venv/bin/python benchmarks/profile_hotpath.py --steps    # breakdown only
    .venv/bin/python benchmarks/profile_hotpath.py --steps --json \
        benchmarks/results/steps.json                         # for make_report
    .venv/bin/python benchmarks/profile_hotpath.py --calls 20000 --top 25

cProfile inflates the cost of small functions; trust the breakdown for
absolute figures and the profile for where the calls are.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import pstats
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _driver import ASGICall, WSGICall
from _variants import SCENARIOS, all_variants, establish

PROFILED = ["first_visit", "get_session", "post_form", "post_json", "rejected"]


async def profile(calls: int, top: int) -> None:
    variants = [
        v for v in all_variants() if v.name == "forgeproof" and not v.unavailable
    ]
    for v in variants:
        creds, other = await establish(v), await establish(v)
        for scenario in SCENARIOS:
            if scenario.key not in PROFILED:
                continue
            call = v.call(scenario.build(v, creds, other).request)
            profiler = cProfile.Profile()
            if isinstance(call, ASGICall):
                await call.once()
                profiler.enable()
                for _ in range(calls):
                    await call.once()
                profiler.disable()
            else:
                assert isinstance(call, WSGICall)
                call.once()
                profiler.enable()
                for _ in range(calls):
                    call.once()
                profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(top)
            print(
                f"\n===== {v.framework} + forgeproof: {scenario.title} "
                f"({calls} calls; per-call µs = tottime / {calls} * 1e6)"
            )
            print(_trim(out.getvalue()))


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(
        line.replace("/work/benchvenv/lib/python3.11/site-packages/", "").replace(
            str(Path(__file__).resolve().parent.parent) + "/", ""
        )
        for line in lines[start:]
        if line.strip()
    )


def steps() -> list[tuple[str, float]]:
    """Each step of an accepted urlencoded POST and of a first visit, alone."""
    from forgeproof import MemorySessionStore, SessionConfig
    from forgeproof import asgi as fp_asgi
    from forgeproof._bodyscan import BodyScanner, body_kind
    from forgeproof._cookies import parse_cookie_header
    from forgeproof._logging import log_rejection
    from forgeproof.origins import own_origin
    from forgeproof.policy import CSRFPolicy, Rejection
    from forgeproof.reasons import Reason
    from forgeproof.responses import render_rejection
    from forgeproof.sessions.base import (
        Session,
        find_session_cookie,
        new_session_id,
        open_session,
        store_key,
    )
    from forgeproof.tokens import mask_secret, new_secret, token_matches

    logging.getLogger().addHandler(logging.NullHandler())
    config = SessionConfig()
    store = MemorySessionStore()
    policy = CSRFPolicy.build()
    mw = fp_asgi.CSRFMiddleware(lambda s, r, se: None)  # type: ignore[arg-type, return-value]

    secret = new_secret()
    token = mask_secret(secret)
    session = Session(None, None, now=config.clock())
    session.csrf_secret  # noqa: B018 - creates the secret
    write = session.plan_write(config, "http")
    assert write is not None
    assert write.save_key
    assert write.record
    assert write.set_cookie
    store.save(write.save_key, write.record, write.expires_at)
    session_id = write.set_cookie.split(";")[0].split("=", 1)[1]
    key = write.save_key
    raw_record = write.record.to_json()
    cookie_header = f"theme=dark; {config.cookie_name}={session_id}; lang=en"
    body = f"csrf_token={token}&title=Hello+world&body=A+short+comment.".encode()
    ctype = "application/x-www-form-urlencoded"
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/submit",
        "headers": [
            (b"host", b"testserver"),
            (b"accept", b"*/*"),
            (b"content-type", ctype.encode()),
            (b"origin", b"http://testserver"),
            (b"sec-fetch-site", b"same-origin"),
            (b"cookie", cookie_header.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    record = store.load(key)
    live = open_session(config, session_id, record, 1)
    headers = fp_asgi._raw_headers(scope)

    def make_facts() -> Any:
        return mw._facts(scope, headers, live, False)

    def shortcut() -> bool:
        return mw._needs_only_the_token(scope, headers, live, False)

    facts = make_facts()

    def scan() -> list[str]:
        scanner = BodyScanner(ctype, "urlencoded", "csrf_token", policy.scan_limit)
        scanner.feed(body)
        scanner.finish()
        return scanner.tokens

    def scan_whole() -> list[str]:
        # The body in one message, as the adapters now hand it over.
        scanner = BodyScanner(ctype, "urlencoded", "csrf_token", policy.scan_limit)
        if hasattr(scanner, "feed_last"):
            scanner.feed_last(body)
        else:
            scanner.feed(body)
            scanner.finish()
        return scanner.tokens

    def session_cookie_from_header() -> object:
        from forgeproof.sessions import base

        if hasattr(base, "find_session_cookie_in_header"):
            return base.find_session_cookie_in_header(config, "http", cookie_header)
        return find_session_cookie(config, "http", parse_cookie_header(cookie_header))

    def first_visit_write() -> None:
        s = Session(None, None, now=config.clock())
        s.csrf_secret  # noqa: B018
        w = s.plan_write(config, "http")
        assert w is not None
        assert w.save_key
        assert w.record
        store.save(w.save_key, w.record, w.expires_at)

    rejection = Rejection(Reason.TOKEN_INVALID)
    cases: list[tuple[str, Callable[[], object]]] = [
        (
            "floor: token_matches (decode, XOR, compare)",
            lambda: token_matches(token, secret),
        ),
        ("floor: mask_secret (random, XOR, base64)", lambda: mask_secret(secret)),
        ("asgi._raw_headers(scope) (7 headers)", lambda: fp_asgi._raw_headers(scope)),
        (
            "SessionMiddleware's Cookie header",
            lambda: fp_asgi._cookie_header(scope["headers"]),
        ),
        ("parse_cookie_header (3 cookies)", lambda: parse_cookie_header(cookie_header)),
        (
            "find_session_cookie",
            lambda: find_session_cookie(
                config, "http", parse_cookie_header(cookie_header)
            ),
        ),
        (
            "  from the raw Cookie header, as the adapters do",
            session_cookie_from_header,
        ),
        ("store_key (sha256 of the id)", lambda: store_key(session_id)),
        ("MemorySessionStore.load (dict + JSON)", lambda: store.load(key)),
        (
            "  of which SessionRecord.from_json",
            lambda: type(record).from_json(raw_record),
        ),
        (
            "open_session (clock + Session())",
            lambda: open_session(config, session_id, record, 1),
        ),
        ("precheck shortcut (needs_only_the_token)", shortcut),
        ("request facts, when read (RequestFacts)", make_facts),
        ("CSRFPolicy.precheck, unusual requests", lambda: policy.precheck(facts)),
        ("  of which own_origin (regex)", lambda: own_origin("http", "testserver")),
        ("body_kind", lambda: body_kind(ctype)),
        ("BodyScanner: urlencoded, 100-byte body", scan),
        ("  the same body in one message (feed_last)", scan_whole),
        ("CSRFPolicy.check_token", lambda: policy.check_token([token], secret)),
        (
            "plan_write, GET with session (no write)",
            lambda: live.plan_write(config, "http"),
        ),
        ("first visit: secret, id, plan_write, save", first_visit_write),
        ("  of which new_session_id", new_session_id),
        ("  of which SessionRecord.to_json", write.record.to_json),
        ("rejection: log_rejection", lambda: log_rejection(rejection, facts)),
        ("rejection: render_rejection", lambda: render_rejection(rejection, facts)),
    ]
    results = []
    for name, fn in cases:
        timer = timeit.Timer(fn)
        number, _ = timer.autorange()
        best = min(timer.repeat(repeat=9, number=number)) / number
        results.append((name, best * 1e6))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=22)
    parser.add_argument("--steps", action="store_true", help="breakdown only")
    parser.add_argument("--json", type=Path, help="also write the breakdown here")
    args = parser.parse_args()

    logging.getLogger().addHandler(logging.NullHandler())
    if not args.steps:
        asyncio.run(profile(args.calls, args.top))
    print("\n===== Steps of the hot path, each alone (best of 9, µs per call)")
    results = steps()
    for name, us in results:
        print(f"  {name:48s} {us:8.2f}")
    if args.json:
        args.json.write_text(json.dumps(dict(results), indent=1) + "\n")


if __name__ == "__main__":
    main()
