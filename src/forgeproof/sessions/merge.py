"""How a store combines one request's save with what concurrent requests of
the same session saved before it."""

from __future__ import annotations

from dataclasses import dataclass

from .record import SessionRecord

__all__ = ["SessionChanges", "merge_record"]


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
