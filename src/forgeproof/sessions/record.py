"""The record a session store keeps, and its JSON form."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..tokens import SECRET_BYTES

__all__ = ["SessionRecord"]

# What json.dumps(..., separators=(",", ":")) uses, made once: dumps builds
# a new encoder on every call that passes any option.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


@dataclass(slots=True)
class SessionRecord:
    """What a store keeps for one session.

    ``data`` must be JSON-serialisable: every store, the in-memory one
    included, keeps the JSON text, so an app behaves the same on each.
    """

    # Neither is ever shown in a repr: reprs end up in crash reports.
    data: dict[str, Any] = field(repr=False)
    csrf_secret: bytes | None = field(repr=False)
    created_at: float
    accessed_at: float

    def to_json(self) -> str:
        """Serialise for a store."""
        secret = self.csrf_secret.hex() if self.csrf_secret is not None else None
        return _ENCODER.encode(
            {"d": self.data, "s": secret, "c": self.created_at, "a": self.accessed_at}
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> SessionRecord | None:
        """Parse a stored value; anything corrupted or foreign gives ``None``.

        A value this code did not write (a bit flip, another program sharing
        the key space) must read as "no session", never as an error page.
        """
        try:
            value = json.loads(raw)
            data, secret = value["d"], value["s"]
            created, accessed = float(value["c"]), float(value["a"])
            csrf_secret = bytes.fromhex(secret) if secret is not None else None
        except (ValueError, TypeError, KeyError, RecursionError):
            return None

        # json accepts Infinity and NaN, and float() accepts "inf": a session
        # stamped with either would never expire.
        if not (math.isfinite(created) and math.isfinite(accessed)):
            return None

        if not isinstance(data, dict):
            return None
        if csrf_secret is not None and len(csrf_secret) != SECRET_BYTES:
            return None

        return cls(data, csrf_secret, created, accessed)
