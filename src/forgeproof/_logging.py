"""forgeproof's loggers and the one place a rejection is logged.

The library adds no handlers. Values that come from the request are logged
with ``repr`` and cut short, so a crafted path or Origin cannot forge extra
log lines or flood them; tokens, secrets and session ids are never passed in.
"""

from __future__ import annotations

import logging

from .policy import Rejection, RequestFacts

__all__ = ["csrf_logger", "log_rejection", "sessions_logger"]

csrf_logger = logging.getLogger("forgeproof.csrf")
sessions_logger = logging.getLogger("forgeproof.sessions")

_MAX_LOGGED_CHARS = 200


def log_rejection(
    rejection: Rejection, facts: RequestFacts, *, report_only: bool = False
) -> None:
    """One WARNING per refused request: reason, method, path and origins.

    In report-only mode the request was let through, and the line says so.
    """
    # %r at formatting time, not repr() here: a record no handler formats
    # costs no repr at all.
    csrf_logger.warning(
        "CSRF %s %r %r: reason=%s origin=%s expected=%s",
        "report-only, would reject" if report_only else "rejected",
        facts.method[:_MAX_LOGGED_CHARS],
        facts.path[:_MAX_LOGGED_CHARS],
        rejection.reason.value,
        _clip(rejection.got_origin or facts.origin),
        _clip(rejection.expected_origin),
    )


def _clip(value: str | None) -> str:
    if value is None:
        return "-"
    return repr(value[:_MAX_LOGGED_CHARS])
