"""What the CSRF middleware decided for each request, for rollouts and
metrics.

Both adapters hand every decision on an unsafe request to one
:class:`DecisionLog`. It logs each rejection (the one place that does),
counts rejections by reason, calls the app's ``on_decision`` callback,
and in report-only mode lets the request through anyway::

    def count(decision: Decision) -> None:
        outcome = "accept" if decision.accepted else decision.reason
        ...

    CSRFMiddleware(app, report_only=True, on_decision=count)

Safe methods (RFC 9110 §9.2.1) are never checked, so they produce no
decision. Nothing in a :class:`Decision` is a token, secret or session id.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from ._logging import csrf_logger, log_rejection
from .origins import origin_of_referer
from .policy import Rejection, RequestFacts
from .reasons import Reason

__all__ = ["Decision", "DecisionCallback", "DecisionLog"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision on one unsafe request.

    :param rejection: why the policy refused the request, or ``None`` if
        it accepted it.
    :param facts: what the policy saw (method, path, origins; no tokens):
        the ``Referer`` is cut to its origin, ``Authorization`` redacted.
    :param report_only: the middleware ran in report-only mode, so a
        rejection was logged and counted but the app ran anyway.
    """

    rejection: Rejection | None
    facts: RequestFacts
    report_only: bool = False

    @property
    def accepted(self) -> bool:
        """Whether the policy accepted the request."""
        return self.rejection is None

    @property
    def blocked(self) -> bool:
        """Whether the request was refused (never in report-only mode)."""
        return self.rejection is not None and not self.report_only

    @property
    def reason(self) -> Reason | None:
        """The rejection reason, or ``None`` for an accepted request."""
        return None if self.rejection is None else self.rejection.reason


#: The signature of an ``on_decision`` callback.
DecisionCallback = Callable[[Decision], None]


class DecisionLog:
    """Logs, counts and reports the decisions of one middleware instance.

    :param report_only: never block: a request the policy rejects is
        logged as a report-only WARNING, counted, and passed to the app.
        Every check still runs. Meant for rolling forgeproof out on a live
        app; left on, it protects nothing.
    :param on_decision: called with a :class:`Decision` for every unsafe
        request, accepted or not. An exception it raises is logged and
        does not change the decision.
    """

    __slots__ = ("_counts", "_lock", "on_decision", "report_only")

    def __init__(
        self, *, report_only: bool = False, on_decision: DecisionCallback | None = None
    ) -> None:
        self.report_only = report_only
        self.on_decision = on_decision
        self._counts: Counter[Reason] = Counter()
        self._lock = threading.Lock()

    def accept(self, facts: RequestFacts) -> None:
        """Record an accepted request."""
        if self.on_decision is not None:
            decision = Decision(None, _shareable(facts), self.report_only)
            _notify(self.on_decision, decision)

    def reject(self, rejection: Rejection, facts: RequestFacts) -> bool:
        """Record a rejected request; return whether to refuse it now
        (``False`` in report-only mode: let the app run)."""
        log_rejection(rejection, facts, report_only=self.report_only)
        with self._lock:
            self._counts[rejection.reason] += 1
        if self.on_decision is not None:
            decision = Decision(rejection, _shareable(facts), self.report_only)
            _notify(self.on_decision, decision)

        return not self.report_only

    def rejection_counts(self) -> dict[str, int]:
        """Rejections so far by reason code, would-be ones included."""
        with self._lock:
            return {reason.value: count for reason, count in self._counts.items()}


def _shareable(facts: RequestFacts) -> RequestFacts:
    # Metrics code logs what it is given. An Authorization header is a
    # credential, so only its presence is passed on; a Referer can carry a
    # token in its query (a GET form with the hidden field), so only its
    # origin is.
    if facts.authorization is None and facts.referer is None:
        return facts
    authorization = None if facts.authorization is None else "[redacted]"
    referer = None
    if facts.referer is not None:
        referer = origin_of_referer(facts.referer) or "[redacted]"

    return replace(facts, authorization=authorization, referer=referer)


def _notify(callback: DecisionCallback, decision: Decision) -> None:
    try:
        callback(decision)
    except Exception:
        # A broken metrics hook must not turn into 500s for every form.
        csrf_logger.exception("the on_decision callback failed")
