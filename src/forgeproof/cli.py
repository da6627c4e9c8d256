"""The ``forgeproof`` command.

``forgeproof demo`` serves the notes app and the attacker site (see
``docs/demo-contract.md``). Usage errors name the option and exit with
status 2; failures at run time print one line and exit with status 1.
The demo, and what it needs, is imported only when the ``demo`` subcommand
runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import ConfigurationError, ForgeproofError
from .origins import TrustedOrigins

__all__ = ["main"]

_DEMO_PACKAGES = frozenset({"starlette", "jinja2", "uvicorn"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "check":
        return _check(args)

    parser.error(f"unknown command {args.command!r}")
    return 2  # not reached: error() exits


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forgeproof",
        description="Session-bound CSRF protection for Python web apps.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="serve the notes app and an attacker site that tries to forge requests",
        description=(
            "Serve a notes app protected by forgeproof and, on another port of "
            "the same host, an attacker site whose pages try to forge requests "
            "to it. Demo accounts: alice / alice-password, bob / bob-password."
        ),
    )
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: %(default)s)"
    )
    demo.add_argument(
        "--port",
        type=_port(allow_zero=False),
        default=8000,
        help="port of the notes app (default: %(default)s)",
    )
    demo.add_argument(
        "--attacker-port",
        type=_port(allow_zero=True),
        default=8001,
        help="port of the attacker site; 0 turns it off (default: %(default)s)",
    )
    demo.add_argument(
        "--db",
        type=Path,
        default=Path("forgeproof-demo.sqlite3"),
        metavar="PATH",
        help="SQLite file for users and notes, created on first run "
        "(default: %(default)s)",
    )
    demo.add_argument(
        "--session-store",
        metavar="URL",
        help="where sessions live: sqlite:///PATH, memory:// or "
        "redis://HOST:PORT/DB (default: the --db file)",
    )
    demo.add_argument(
        "--trusted-origin",
        dest="trusted_origins",
        action="append",
        default=[],
        type=_origin,
        metavar="URL",
        help="an extra origin whose state-changing requests are accepted (repeatable)",
    )
    demo.add_argument(
        "--unprotected",
        action="store_true",
        help="switch CSRF protection off, to show that the attacks are real",
    )
    demo.set_defaults(parser=demo)
    _add_check_command(commands)
    return parser


def _port(*, allow_zero: bool) -> Callable[[str], int]:
    lowest = 0 if allow_zero else 1

    def parse(value: str) -> int:
        if not value.isdigit() or not lowest <= int(value) <= 65535:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a port number ({lowest} to 65535)"
            )
        return int(value)

    return parse


def _origin(value: str) -> str:
    try:
        TrustedOrigins([value])
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _demo(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.attacker_port == args.port:
        parser.error("argument --attacker-port: must differ from --port")
    try:
        from .demo.server import DemoSettings, run
    except ImportError as exc:
        if exc.name not in _DEMO_PACKAGES:
            raise
        print(
            f"forgeproof demo: {exc.name} is missing; "
            "install the demo extra: pip install 'forgeproof[demo]'",
            file=sys.stderr,
        )
        return 1

    settings = DemoSettings(
        host=args.host,
        port=args.port,
        attacker_port=args.attacker_port,
        db=args.db,
        session_store=args.session_store,
        trusted_origins=tuple(args.trusted_origins),
        unprotected=args.unprotected,
    )
    try:
        return run(settings)
    except ConfigurationError as exc:
        parser.error(str(exc))
    except (OSError, ForgeproofError) as exc:
        print(f"forgeproof demo: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        # Ctrl-C before the servers were up: nothing to clean, nothing to say.
        return 130
    return 1


def _add_check_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    check = subparsers.add_parser(
        "check",
        help="audit an app's forgeproof configuration",
        description=(
            "Import an app as uvicorn does (module:attribute), find forgeproof's "
            "middleware in it and report weak settings with stable ids "
            "(FP-E... errors, FP-W... warnings). Exits with status 1 if there "
            "is an error, 0 if there are only warnings."
        ),
    )
    check.add_argument(
        "app", metavar="MODULE:ATTRIBUTE", help="the app, e.g. myproject.main:app"
    )
    check.add_argument(
        "--app-dir",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="import the app from this directory (default: the current one)",
    )
    check.set_defaults(parser=check)


def _check(args: argparse.Namespace) -> int:
    from .checks import AppNotFoundError, audit_spec, format_report

    parser: argparse.ArgumentParser = args.parser
    app_dir = str(args.app_dir.resolve())
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        findings = audit_spec(args.app)
    except AppNotFoundError as exc:
        parser.error(str(exc))
    except Exception as exc:  # the app's own module failed to import
        message = f"forgeproof check: importing {args.app} failed: {exc!r}"
        print(message, file=sys.stderr)
        return 1

    print(format_report(args.app, findings))
    return 1 if any(finding.is_error for finding in findings) else 0
