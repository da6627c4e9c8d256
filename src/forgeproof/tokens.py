"""Per-session CSRF secrets and the masked tokens that stand for them.

Vocabulary used throughout forgeproof:

- **secret**: 32 random bytes kept in the server-side session. It never
  leaves the server.
- **mask**: 32 fresh random bytes drawn for every token.
- **token**: ``mask || (secret XOR mask)``, URL-safe base64 without padding.
  This is what pages, forms and headers carry.

::

    secret (session, server only) --+
                                    |  XOR with a fresh mask
    mask (random, per call) --------+--> mask || masked secret --> base64url
                                                                   = token

Masking means no two pages show the same string, so a compression oracle
(BREACH) has no fixed secret in the response body to recover, while every
token of a session still unmasks to the same secret: several open tabs keep
working until the secret changes at login or logout.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets

__all__ = ["SECRET_BYTES", "TOKEN_LENGTH", "mask_secret", "new_secret", "token_matches"]

SECRET_BYTES = 32
# 64 raw bytes (mask + masked secret) are 86 base64 characters without padding.
TOKEN_LENGTH = 86

# A token is 85 characters of the URL-safe alphabet and one canonical last
# character, checked in one pass:
#
# - the alphabet explicitly, because the stdlib decoder skips characters
#   outside it instead of failing, which would let junk through to the
#   comparison and make "malformed" indistinguishable from "wrong";
# - 64 bytes fill 85 characters and 2 bits of the 86th; its 4 low bits are
#   zero in every token we mint ("A", "Q", "g" or "w"). The decoder ignores
#   them, so without this check 16 different strings would pass for each
#   token: one canonical spelling keeps "the same token" and "the same
#   string" the same thing.
_CANONICAL_TOKEN = re.compile(r"[A-Za-z0-9_-]{85}[AQgw]")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def new_secret() -> bytes:
    """Return a fresh per-session CSRF secret (32 bytes from ``secrets``)."""
    return secrets.token_bytes(SECRET_BYTES)


def mask_secret(secret: bytes) -> str:
    """Return a new token for *secret*, different on every call.

    :param secret: the session's secret, exactly :data:`SECRET_BYTES` long.
    :raises ValueError: if the secret has the wrong length (a programming
        error, never caused by request data).
    """
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a CSRF secret is {SECRET_BYTES} bytes long")

    mask = secrets.token_bytes(SECRET_BYTES)
    masked = _xor(secret, mask)
    return base64.urlsafe_b64encode(mask + masked).rstrip(b"=").decode("ascii")


def token_matches(token: str, secret: bytes) -> bool:
    """Tell whether *token* is a masked form of *secret*.

    Any string is accepted as input: wrong length, foreign characters,
    padding or non-ASCII text simply answer ``False``. The final comparison
    is constant-time (``hmac.compare_digest``), so timing reveals nothing
    about how much of the secret a guess got right.
    """
    raw = _decode(token)
    if raw is None or len(secret) != SECRET_BYTES:
        return False

    mask, masked = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    return hmac.compare_digest(_xor(masked, mask), secret)


def _decode(token: str) -> bytes | None:
    # The length check comes first so that 100 kB of junk costs nothing more
    # than a len() call.
    if len(token) != TOKEN_LENGTH or _CANONICAL_TOKEN.fullmatch(token) is None:
        return None

    # 86 characters from the alphabet always decode: no exception to catch.
    # (What urlsafe_b64decode does, without its str and argument checks.)
    return binascii.a2b_base64(token.encode("ascii").translate(_FROM_URLSAFE) + b"==")


def _xor(left: bytes, right: bytes) -> bytes:
    # One big-integer XOR is several times faster than a per-byte loop.
    value = int.from_bytes(left, "big") ^ int.from_bytes(right, "big")
    return value.to_bytes(len(left), "big")
