"""forgeproof: session-bound CSRF protection for Python web apps.

The server keeps a per-session secret; pages carry freshly masked tokens of
it; every unsafe request must send one back, and must come from the app's
own origin. See the README for the threat model and the set-up.
"""

from __future__ import annotations

from .asgi import CSRFMiddleware, SessionMiddleware
from .decisions import Decision
from .errors import ConfigurationError, ForgeproofError, StoreUnavailableError
from .origins import TrustedOrigins
from .policy import (
    SAFE_METHODS,
    CSRFPolicy,
    Rejection,
    RequestFacts,
    Verdict,
    is_safe_method,
)
from .proxies import TrustedProxies
from .reasons import Reason
from .responses import (
    RejectionResponse,
    render_html,
    render_problem_json,
    render_rejection,
)
from .sessions import (
    AsyncSessionStore,
    MemorySessionStore,
    Session,
    SessionConfig,
    SessionRecord,
    SessionStore,
    SQLiteSessionStore,
    store_from_url,
)
from .templating import (
    SafeHTML,
    csrf_input,
    csrf_meta,
    csrf_token,
    jinja_globals,
    rotate,
    session_of,
)
from .tokens import mask_secret, new_secret, token_matches

__all__ = [
    "SAFE_METHODS",
    "AsyncSessionStore",
    "CSRFMiddleware",
    "CSRFPolicy",
    "ConfigurationError",
    "Decision",
    "ForgeproofError",
    "MemorySessionStore",
    "Reason",
    "Rejection",
    "RejectionResponse",
    "RequestFacts",
    "SQLiteSessionStore",
    "SafeHTML",
    "Session",
    "SessionConfig",
    "SessionMiddleware",
    "SessionRecord",
    "SessionStore",
    "StoreUnavailableError",
    "TrustedOrigins",
    "TrustedProxies",
    "Verdict",
    "csrf_input",
    "csrf_meta",
    "csrf_token",
    "is_safe_method",
    "jinja_globals",
    "mask_secret",
    "new_secret",
    "render_html",
    "render_problem_json",
    "render_rejection",
    "rotate",
    "session_of",
    "store_from_url",
    "token_matches",
]

__version__ = "0.1.0"
