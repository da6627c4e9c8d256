"""The exceptions forgeproof raises.

::

    ForgeproofError
     +-- ConfigurationError (also a ValueError)   bad settings, at start-up
     +-- StoreUnavailableError                    the session store failed

Request data never raises: a bad token, cookie, header or body becomes a
rejection with a :class:`~forgeproof.reasons.Reason`. No message here ever
contains a token, a secret or a session id.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "ForgeproofError", "StoreUnavailableError"]


class ForgeproofError(Exception):
    """Base class of every exception forgeproof raises."""


class ConfigurationError(ForgeproofError, ValueError):
    """A setting is invalid; the message says how to fix it."""


class StoreUnavailableError(ForgeproofError):
    """The session store could not be reached or answered with an error.

    The backend's own exception is chained as ``__cause__``.
    """

    def __init__(self, store: str) -> None:
        super().__init__(f"the {store} session store is unavailable")
        self.store = store
