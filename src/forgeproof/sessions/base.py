"""Server-side sessions: the record a store keeps, the store contract, and the
mutable mapping an app sees as its session.

The browser holds only an opaque session id. Stores never see that id either:
they are keyed by its SHA-256 digest, so a leaked database or Redis dump gives
no cookie to replay.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .._cookies import cookie_values
from ..errors import ConfigurationError
from ..tokens import SECRET_BYTES, mask_secret, new_secret

__all__ = [
    "AsyncSessionStore",
    "Session",
    "SessionChanges",
    "SessionConfig",
    "SessionRecord",
    "SessionStore",
    "SessionWrite",
    "merge_record",
]

# 256 bits: far past the 128 that OWASP asks for, and the same size as the
# CSRF secret, so guessing either is equally hopeless.
_SESSION_ID_BYTES = 32
_SESSION_ID_LENGTH = 43  # base64url of 32 bytes, no padding

# Rewriting a record on every request only to move its idle deadline would
# turn each read into a write. Refreshing at most this often keeps the idle
# timeout accurate to within a minute.
_TOUCH_INTERVAL_SECONDS = 60.0


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
        return json.dumps(
            {"d": self.data, "s": secret, "c": self.created_at, "a": self.accessed_at},
            separators=(",", ":"),
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


@dataclass(frozen=True, slots=True)
class SessionChanges:
    """What one request changed in a session it loaded.

    Several requests of one session run at once (tabs, ``fetch()`` calls),
    and each loaded the record before the others saved. A store combines
    a save with what is stored at that moment (:func:`merge_record`), in
    one atomic step, so a request never writes back a stale copy of what
    it did not change.

    :param data_changed: the request changed the data mapping; its copy
        replaces the stored one. Otherwise the stored data stays.
    :param secret_rotated: the request rotated the CSRF secret; its secret
        replaces the stored one. Otherwise a stored secret stays, and the
        request's secret only fills in where none is stored.
    """

    data_changed: bool
    secret_rotated: bool


def merge_record(
    record: SessionRecord,
    stored: SessionRecord | None,
    changes: SessionChanges | None,
    *,
    rotating: bool,
) -> SessionRecord | None:
    """Combine a request's *record* with the live record a store holds.

    *stored* is what the store holds now under the key being updated (under
    the key being replaced when *rotating*), read in the same atomic step
    as the write that follows; ``None`` if nothing live is there. Returns
    what to write, or ``None`` to write nothing.

    The rules, for every store:

    - ``changes is None``: a new session; *record* is written as it is.
    - nothing stored and not *rotating*: a concurrent request deleted the
      session (logout) or moved it to a new id (login). Writing would bring
      the old id back to life, so nothing is written.
    - otherwise the fields the request did not change come from *stored*,
      which is how a concurrent request's new CSRF secret survives a save
      by a request that loaded the session before it.
    """
    if changes is None:
        return record
    if stored is None:
        return record if rotating else None

    data = record.data if changes.data_changed else stored.data
    secret = stored.csrf_secret
    if changes.secret_rotated or secret is None:
        secret = record.csrf_secret

    return SessionRecord(data, secret, record.created_at, record.accessed_at)


class SessionStore(Protocol):
    """Where server-side sessions live, for synchronous (WSGI) callers.

    Keys are digests from the session layer. ``expires_at`` is a Unix time
    after which the store may forget the record; the session layer checks
    the timeouts itself on every load, so lazy expiry is enough.

    A store must make each :meth:`save` atomic, including the read of the
    stored record that :func:`merge_record` needs when *changes* is given.
    """

    def load(self, key: str) -> SessionRecord | None:
        """Return the record filed under *key*, or ``None``."""

    def save(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """File *record* under *key*; with *replaces*, remove that key in the
        same step, so a rotated session never exists under both ids or
        neither.

        With *changes*, *record* updates a stored session (the one under
        *replaces*, else under *key*) as :func:`merge_record` says.
        """

    def delete(self, key: str) -> None:
        """Forget *key*; forgetting an unknown key is not an error."""


class AsyncSessionStore(Protocol):
    """The asynchronous twin of :class:`SessionStore`, for ASGI callers."""

    async def aload(self, key: str) -> SessionRecord | None:
        """As :meth:`SessionStore.load`."""

    async def asave(
        self,
        key: str,
        record: SessionRecord,
        expires_at: float,
        *,
        replaces: str | None = None,
        changes: SessionChanges | None = None,
    ) -> None:
        """As :meth:`SessionStore.save`."""

    async def adelete(self, key: str) -> None:
        """As :meth:`SessionStore.delete`."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How session cookies are issued and how long sessions live.

    :param cookie_name: the cookie's base name. On https it gets the
        ``__Host-`` prefix, which browsers only accept from the exact host
        with ``Secure`` and ``Path=/``: a sibling subdomain cannot plant or
        overwrite it (session fixation, cookie tossing).
    :param idle_timeout: seconds without a request after which a session is
        gone.
    :param absolute_timeout: seconds after creation after which a session is
        gone however busy it is, so a stolen cookie does not live forever.
    :param secure: ``None`` (the default) marks the cookie ``Secure`` exactly
        on https requests. ``True`` forces it, for apps behind a TLS proxy
        that talks plain http to them. ``False`` is only for local
        development over http and is never needed on https.
    :param same_site: ``"lax"`` keeps top-level GET navigation from other
        sites logged in; ``"strict"`` drops the cookie on those too.
        ``None`` is refused: a CSRF library should not hand out cookies that
        every site can make the browser send (RFC 6265bis §5.4.7).
    :param clock: the time source, injectable for tests.
    """

    cookie_name: str = "forgeproof_session"
    idle_timeout: float = 12 * 3600
    absolute_timeout: float = 14 * 24 * 3600
    secure: bool | None = None
    same_site: Literal["lax", "strict"] = "lax"
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if not self.cookie_name or not self.cookie_name.replace("_", "").isalnum():
            raise ConfigurationError(
                "cookie_name must be letters, digits and underscores, "
                f"not {self.cookie_name!r}"
            )
        if self.idle_timeout <= 0 or self.absolute_timeout < self.idle_timeout:
            raise ConfigurationError(
                "need 0 < idle_timeout <= absolute_timeout (both in seconds)"
            )
        if self.same_site not in ("lax", "strict"):
            raise ConfigurationError(
                "same_site must be 'lax' or 'strict'; SameSite=None would let "
                "every site send the session cookie"
            )

    def cookie_name_for(self, scheme: str) -> str:
        """The cookie name for a request made over *scheme*."""
        if self._is_secure(scheme):
            return "__Host-" + self.cookie_name
        return self.cookie_name

    def set_cookie_header(self, scheme: str, session_id: str | None) -> str:
        """Build the ``Set-Cookie`` value that stores *session_id*, or that
        removes the cookie when *session_id* is ``None``."""
        name = self.cookie_name_for(scheme)
        parts = [f"{name}={session_id or ''}", "Path=/", "HttpOnly"]
        parts.append(
            "SameSite=Strict" if self.same_site == "strict" else "SameSite=Lax"
        )
        if self._is_secure(scheme):
            parts.append("Secure")
        if session_id is None:
            parts.append("Max-Age=0")

        return "; ".join(parts)

    def expires_at(self, record: SessionRecord) -> float:
        """When *record* stops being valid: the earlier of its two deadlines."""
        return min(
            record.accessed_at + self.idle_timeout,
            record.created_at + self.absolute_timeout,
        )

    def _is_secure(self, scheme: str) -> bool:
        if self.secure is None:
            return scheme in ("https", "wss")
        return self.secure


class Session(MutableMapping[str, Any]):
    """One request's view of its server-side session.

    A mutable mapping, so ``request.session["user"] = ...`` works as in
    Starlette or Flask. Changes are written back when the response starts,
    and only what this request changed is written (:class:`SessionChanges`).
    The CSRF secret lives beside the data, not in it, so code that iterates
    or clears the mapping can never leak or keep it.

    What concurrent requests of one session can rely on:

    - The CSRF secret is never lost or rolled back. Once stored, it changes
      only through :meth:`rotate_csrf_secret` (or :meth:`rotate_id` with
      it, at login) and goes away only with :meth:`clear`; a request that
      loaded the session earlier never writes back its stale copy. If two
      requests create the first secret at the same moment, the first to
      save keeps it and the other's page carries a token that is refused
      (reloading that page fixes it).
    - Other session data is one value: among requests that changed it, the
      last to save wins, overwriting the others' changes, also to other
      keys. A request that only read the data never writes it back.
    - A request that saves after a concurrent :meth:`clear` (logout) or
      :meth:`rotate_id` (login) of the same session saves nothing: the old
      id stays dead.
    """

    __slots__ = (
        "_created_at",
        "_data",
        "_deleted_key",
        "_id",
        "_now",
        "_previous_key",
        "_secret",
        "_secret_created",
        "_secret_rotated",
        "_stored_accessed_at",
        "accessed",
        "cookie_count",
        "is_new",
        "modified",
        "token_issued",
    )

    def __init__(
        self,
        session_id: str | None,
        record: SessionRecord | None,
        *,
        now: float,
        cookie_count: int = 0,
    ) -> None:
        self._id = session_id if record is not None else None
        self._now = now
        #: True when the request named no live session: a first visit, an
        #: expired or unknown id. Unsafe requests from such a session have
        #: nothing to check a token against.
        self.is_new = record is None
        #: How many times the request's Cookie header named the session
        #: cookie; more than one means a cookie was planted beside ours.
        self.cookie_count = cookie_count
        #: Set when the data mapping must be written back. Set it yourself
        #: after changing a nested value in place. The CSRF secret and the
        #: id are tracked apart from it.
        self.modified = False
        #: Set when the app read the data, so the response varies by cookie
        #: (the adapters then add ``Vary: Cookie``).
        self.accessed = False
        #: Set by whatever puts a token into the response, such as
        #: :func:`forgeproof.csrf_token`; the adapters then add
        #: ``Cache-Control: private, no-store``.
        self.token_issued = False
        self._secret_created = False
        self._secret_rotated = False
        self._previous_key: str | None = None
        self._deleted_key: str | None = None
        if record is None:
            self._data: dict[str, Any] = {}
            self._secret: bytes | None = None
            self._created_at = now
            self._stored_accessed_at = now
        else:
            self._data = record.data
            self._secret = record.csrf_secret
            self._created_at = record.created_at
            self._stored_accessed_at = record.accessed_at

    def __repr__(self) -> str:
        # Never the id or the secret: reprs end up in tracebacks and logs.
        state = "new" if self.is_new else "stored"
        return f"<Session {state} keys={sorted(self._data)!r}>"

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    @property
    def id(self) -> str | None:
        """The session id, or ``None`` before the session is first saved.

        Treat it like a password: it authenticates whoever holds it.
        """
        return self._id

    @property
    def csrf_secret(self) -> bytes:
        """The session's CSRF secret, created on first use.

        Creating it marks the session for saving, which is what gives an
        anonymous visitor of a login form a session to check the form
        against (login CSRF).
        """
        if self._secret is None:
            self._secret = new_secret()
            self._secret_created = True
        return self._secret

    def new_csrf_token(self) -> str:
        """A fresh token of this session's secret, creating the secret on
        first use.

        Every way forgeproof hands out a token comes through here, so the
        response that carries one is always marked uncacheable
        (``Cache-Control: private, no-store``): a shared cache must never
        give one visitor's token to another.
        """
        self.token_issued = True
        return mask_secret(self.csrf_secret)

    @property
    def has_csrf_secret(self) -> bool:
        """Whether a CSRF secret exists, without creating one."""
        return self._secret is not None

    def rotate_csrf_secret(self) -> None:
        """Replace the CSRF secret: every token issued so far stops working."""
        self._secret = new_secret()
        self._secret_rotated = True

    def rotate_id(self) -> None:
        """Move the session to a new id, keeping its data.

        Call it at login (with :meth:`rotate_csrf_secret`, or use
        :func:`forgeproof.rotate`): an id an attacker planted or saw before
        login is worthless after it (session fixation).
        """
        if self._id is not None and self._previous_key is None:
            self._previous_key = store_key(self._id)
        self._id = None

    def clear(self) -> None:
        """Delete the session on the server and empty it (logout).

        The old id and every token issued under it stop working. Writing to
        the session afterwards starts a new one under a new id.
        """
        old = self._previous_key or (store_key(self._id) if self._id else None)
        if old is not None:
            self._deleted_key = old
        self._id = None
        self._previous_key = None
        self._data = {}
        self._secret = None
        self._secret_created = False
        self._secret_rotated = False
        self._created_at = self._now
        self.modified = False

    def plan_write(self, config: SessionConfig, scheme: str) -> SessionWrite | None:
        """Decide what the store and the cookie need after this request.

        Returns ``None`` when nothing changes. A new id is drawn here, so an
        adapter calls this once, when the response starts.
        """
        changed = (
            self.modified
            or self._secret_created
            or self._secret_rotated
            or self._previous_key is not None
        )
        touch_due = self._now - self._stored_accessed_at >= _TOUCH_INTERVAL_SECONDS
        if not (changed or (self._id is not None and touch_due)):
            if self._deleted_key is None:
                return None
            return SessionWrite(
                delete=self._deleted_key,
                set_cookie=config.set_cookie_header(scheme, None),
            )

        # A session that was stored before this request is updated, not
        # overwritten: see SessionChanges for why.
        changes = None
        if self._id is not None or self._previous_key is not None:
            changes = SessionChanges(
                data_changed=self.modified, secret_rotated=self._secret_rotated
            )
        set_cookie = None
        if self._id is None:
            self._id = new_session_id()
            set_cookie = config.set_cookie_header(scheme, self._id)

        record = SessionRecord(self._data, self._secret, self._created_at, self._now)
        return SessionWrite(
            delete=self._deleted_key,
            save_key=store_key(self._id),
            record=record,
            expires_at=config.expires_at(record),
            replaces=self._previous_key,
            changes=changes,
            set_cookie=set_cookie,
        )


@dataclass(frozen=True, slots=True)
class SessionWrite:
    """The store work and the cookie an adapter carries out for a request.

    Order: ``delete`` first, then save ``record`` under ``save_key`` (removing
    ``replaces`` in the same step), then send ``set_cookie`` if any.
    :meth:`perform` and :meth:`aperform` do the store part in that order.
    """

    delete: str | None = None
    save_key: str | None = None
    record: SessionRecord | None = field(default=None, repr=False)
    expires_at: float = 0.0
    replaces: str | None = None
    changes: SessionChanges | None = None
    set_cookie: str | None = field(default=None, repr=False)  # holds the id

    def perform(self, store: SessionStore) -> None:
        """Carry out the store part with a synchronous store.

        :raises StoreUnavailableError: if the store fails.
        """
        if self.delete is not None:
            store.delete(self.delete)
        if self.save_key is not None and self.record is not None:
            store.save(
                self.save_key,
                self.record,
                self.expires_at,
                replaces=self.replaces,
                changes=self.changes,
            )

    async def aperform(self, store: AsyncSessionStore) -> None:
        """As :meth:`perform`, with an asynchronous store."""
        if self.delete is not None:
            await store.adelete(self.delete)
        if self.save_key is not None and self.record is not None:
            await store.asave(
                self.save_key,
                self.record,
                self.expires_at,
                replaces=self.replaces,
                changes=self.changes,
            )


def find_session_cookie(
    config: SessionConfig, scheme: str, cookies: list[tuple[str, str]]
) -> tuple[str | None, int]:
    """Pick the session id out of a request's cookies.

    Returns the first well-formed id (or ``None``) and how many times the
    cookie appeared at all. Malformed values are never looked up: a store
    only ever sees digests of ids that could be ours.
    """
    name = config.cookie_name_for(scheme)
    values = [value for key, value in cookies if key == name]
    session_id = next((v for v in values if is_well_formed_session_id(v)), None)
    return session_id, len(values)


def find_session_cookie_in_header(
    config: SessionConfig, scheme: str, header: str
) -> tuple[str | None, int]:
    """:func:`find_session_cookie` for a whole ``Cookie`` header; only the
    pairs that name the session cookie are parsed."""
    values = cookie_values(header, config.cookie_name_for(scheme))
    for value in values:
        if is_well_formed_session_id(value):
            return value, len(values)
    return None, len(values)


def open_session(
    config: SessionConfig,
    session_id: str | None,
    record: SessionRecord | None,
    cookie_count: int,
) -> Session:
    """Wrap a loaded record, dropping it if either timeout has passed."""
    now = config.clock()
    if record is not None and now >= config.expires_at(record):
        record = None
    return Session(session_id, record, now=now, cookie_count=cookie_count)
