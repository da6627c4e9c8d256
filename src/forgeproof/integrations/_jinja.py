"""Template globals that find the request themselves, so a template says
``{{ csrf_input() }}`` instead of ``{{ csrf_input(request) }}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from .. import templating
from ..templating import SafeHTML

__all__ = ["template_globals"]


def template_globals(
    field_name: str, current_request: Callable[[Context], Any]
) -> dict[str, Any]:
    """``csrf_token``, ``csrf_input`` and ``csrf_meta`` for a Jinja2
    environment. Each takes an optional request; without one it asks
    *current_request* for the template's own."""

    def pick(context: Context, request: Any) -> Any:
        return current_request(context) if request is None else request

    @pass_context
    def csrf_token(context: Context, request: Any = None) -> str:
        return templating.csrf_token(pick(context, request))

    @pass_context
    def csrf_input(context: Context, request: Any = None) -> SafeHTML:
        return templating.csrf_input(pick(context, request), field_name)

    @pass_context
    def csrf_meta(context: Context, request: Any = None) -> SafeHTML:
        return templating.csrf_meta(pick(context, request))

    return {"csrf_token": csrf_token, "csrf_input": csrf_input, "csrf_meta": csrf_meta}
