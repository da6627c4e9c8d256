"""The mutable mapping an app sees as its session, and how a request opens
one from a loaded record."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from ..tokens import mask_secret, new_secret
from .config import SessionConfig
from .ids import new_session_id, store_key
from .merge import SessionChanges
from .record import SessionRecord
from .write import SessionWrite

__all__ = ["Session", "open_session"]

# Rewriting a record on every request only to move its idle deadline would
# turn each read into a write. Refreshing at most this often keeps the idle
# timeout accurate to within a minute.
_TOUCH_INTERVAL_SECONDS = 60.0


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
