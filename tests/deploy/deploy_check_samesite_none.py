"""An app module whose import fails: SessionConfig refuses SameSite=None."""

from __future__ import annotations

from forgeproof import MemorySessionStore, SessionConfig
from forgeproof import asgi as fp_asgi


async def endpoint_app(scope: object, receive: object, send: object) -> None:
    """Stands for the app; never called."""


app = fp_asgi.SessionMiddleware(
    fp_asgi.CSRFMiddleware(endpoint_app),
    store=MemorySessionStore(),
    config=SessionConfig(same_site="none"),  # type: ignore[arg-type]
)
