"""The store work and the cookie an adapter carries out once a response
starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from .merge import SessionChanges
from .record import SessionRecord
from .stores import AsyncSessionStore, SessionStore

__all__ = ["SessionWrite"]


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
