"""Session ids: the opaque value a browser holds, and the digest a store
files its session under.

Stores never see the id itself: they are keyed by its SHA-256 digest, so a
leaked database or Redis dump gives no cookie to replay.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["is_well_formed_session_id", "new_session_id", "store_key"]

# 256 bits: far past the 128 that OWASP asks for, and the same size as the
# CSRF secret, so guessing either is equally hopeless.
_SESSION_ID_BYTES = 32
_SESSION_ID_LENGTH = 43  # base64url of 32 bytes, no padding


def new_session_id() -> str:
    """Return a fresh, unguessable session id for a cookie."""
    return secrets.token_urlsafe(_SESSION_ID_BYTES)


def store_key(session_id: str) -> str:
    """Return the key a store files a session under: a digest of its id."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def is_well_formed_session_id(value: str) -> bool:
    """Tell whether a cookie value could be one of our session ids at all."""
    return (
        len(value) == _SESSION_ID_LENGTH
        and value.isascii()
        and (value.replace("-", "").replace("_", "").isalnum())
    )
