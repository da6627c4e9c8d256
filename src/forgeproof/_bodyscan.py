"""Finding the token in a request body without consuming it.

A :class:`BodyScanner` is fed the body chunk by chunk and says when it has
seen enough. The adapter keeps the chunks and hands every byte to the app
afterwards, so the app's own form parser still sees the whole body. Forms
are parsed by python-multipart's streaming parsers; JSON, which has no
streaming parser in the standard library, is held whole up to the limit.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import (
    MultipartParser,
    QuerystringParser,
    parse_options_header,
)

from .policy import DEFAULT_HEADER_NAME, Rejection
from .reasons import Reason
from .tokens import TOKEN_LENGTH

__all__ = ["BodyScanner", "body_kind"]

# A token is 86 ASCII characters; a value several times longer is junk, and
# keeping only a bounded prefix of it keeps junk from costing memory.
_MAX_VALUE_BYTES = 4 * TOKEN_LENGTH

# What makes a urlencoded name or value differ from its decoded form. One
# search, not `b"%" in x or b"+" in x`: CPython first tries a bytes operand
# of `in` as an integer and builds and drops a TypeError each time.
_ESCAPED = re.compile(rb"[%+]")

# Every request a form sends has the same Content-Disposition for its token
# field, so what it says is remembered (parsing it is most of the cost of
# scanning a token-first upload). Only short values, and only the last 64:
# a flood of made-up ones evicts each other and holds a few dozen KiB.
_REMEMBERED_DISPOSITION_BYTES = 200


def body_kind(content_type: str | None) -> str | None:
    """Which body format may carry the token: ``"urlencoded"``,
    ``"multipart"``, ``"json"``, or ``None`` for anything else.

    ``None`` does not mean "unchecked": such a request simply has no token
    in its body, and is rejected unless the header carries one. That is what
    defeats the ``text/plain`` form and ``no-cors`` fetch tricks.
    """
    media_type = _media_type(content_type)
    if media_type == "application/x-www-form-urlencoded":
        return "urlencoded"
    if media_type == "multipart/form-data":
        return "multipart"
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return "json"
    return None


class BodyScanner:
    """Searches one body for the token field, within ``limit`` bytes.

    Call :meth:`feed` with each chunk until it returns ``True`` or the body
    ends, then :meth:`finish`. Afterwards :attr:`tokens` holds every value
    found and :attr:`rejection` any problem with the body itself.

    The scan covers the body up to its end or ``limit`` bytes, whichever
    comes first; once a form token has been found it also ends where the
    next file part begins, so an upload after the token is never read. The
    outcome depends only on the bytes, never on how they were split into
    chunks: a second token, or a token straddling the limit, is seen or
    missed the same way whatever the network did.
    """

    def __init__(
        self,
        content_type: str | None,
        kind: str,
        field_name: str,
        limit: int,
        *,
        header_name: str = DEFAULT_HEADER_NAME,
    ) -> None:
        self.tokens: list[str] = []
        self.rejection: Rejection | None = None
        self._kind = kind
        self._field = field_name.encode("utf-8")
        self._header_name = header_name
        self._limit = limit
        self._seen = 0
        self._done = False
        self._json = bytearray()
        # Names are capped too: a 100 MB name must not be held whole. Three
        # bytes per byte of the field name leave room for percent-encoding.
        self._max_name = 3 * len(self._field) + 1
        # The urlencoded parser is made on the first streamed chunk: a body
        # that arrives whole takes the fast path of feed_last instead.
        self._parser: MultipartParser | QuerystringParser | None = None
        if kind == "multipart":
            self._parser = self._multipart_parser(content_type)

    def feed(self, chunk: bytes) -> bool:
        """Scan *chunk*; ``True`` means stop reading, the outcome is known."""
        if self._done:
            return True
        if not chunk:
            return False

        room = self._limit - self._seen
        if self._kind == "json":
            if len(chunk) > room:
                return self._stop(Rejection(Reason.BODY_TOO_LARGE))
            self._seen += len(chunk)
            self._json += chunk
            return False

        # Only the bytes within the limit reach the parser, so a token that
        # begins before the limit and ends after it is missed whether the
        # limit falls inside a chunk or between two.
        piece = chunk[:room]
        self._seen += len(piece)
        if self._parser is None and self._kind == "urlencoded":
            self._parser = self._urlencoded_parser()
        try:
            if self._parser is not None and piece:
                self._parser.write(piece)
        except _EndOfScan:
            return self._stop(None)
        except FormParserError:
            return self._stop(Rejection(Reason.MALFORMED_BODY))

        if len(chunk) > room:
            if self.tokens:
                return self._stop(None)
            return self._stop(Rejection(Reason.TOKEN_MISSING, self._beyond_limit()))
        return False

    def feed_last(self, chunk: bytes) -> None:
        """Scan the body's last chunk and settle the outcome: the same as
        :meth:`feed` then, unless that stopped the scan, :meth:`finish`.

        A urlencoded or JSON body that arrives whole in this one chunk (the
        usual small form) skips the streaming parser; the tokens and the
        rejection come out exactly as the parser would give them.
        """
        if self._seen == 0 and not self._done and chunk:
            if self._kind == "urlencoded":
                self._scan_whole_form(chunk)
                return
            if self._kind == "json":
                if len(chunk) > self._limit:
                    self._stop(Rejection(Reason.BODY_TOO_LARGE))
                    return
                self._seen = len(chunk)
                self._scan_json(chunk)
                self._done = True
                return
        if not self.feed(chunk):
            self.finish()

    def finish(self) -> None:
        """The body has ended: settle the outcome."""
        if self._done:
            return

        if self._kind == "json":
            self._scan_json(bytes(self._json))
        elif self._parser is not None:
            try:
                self._parser.finalize()
            except FormParserError:
                self.rejection = Rejection(Reason.MALFORMED_BODY)
        self._done = True

    def _stop(self, rejection: Rejection | None) -> bool:
        self.rejection = rejection
        self._done = True
        self._json = bytearray()
        return True

    def _beyond_limit(self) -> str:
        where = (
            "before any file part" if self._kind == "multipart" else "first in the body"
        )
        field = self._field.decode("utf-8")
        return (
            f"No CSRF token in the first {self._limit} bytes of the body. Send it "
            f"in the {self._header_name} header, or put the {field} field {where}."
        )

    def _scan_whole_form(self, body: bytes) -> None:
        # What the streaming parser does with one chunk, then finalize():
        # fields are split at "&" (empty ones skipped), the name ends at
        # the first "=", and only bytes within the limit count. Past the
        # limit the parser never reaches the "&" that would end the last
        # field it began, so that field is dropped, token or not.
        within_limit = len(body) <= self._limit
        fields = (body if within_limit else body[: self._limit]).split(b"&")
        if not within_limit:
            fields.pop()
        self._seen = min(len(body), self._limit)
        field = self._field
        for raw in fields:
            if not raw:
                continue
            name, _, value = raw.partition(b"=")
            # Without "%" or "+" a name decodes to itself; a name longer
            # than the field can never match, capped or not.
            if _ESCAPED.search(name):
                matches = _form_decode(name[: self._max_name]) == field
            else:
                matches = name == field
            if matches:
                raw_value = value[:_MAX_VALUE_BYTES]
                self.tokens.append(_form_decode(raw_value).decode("latin-1"))

        self._done = True
        if not within_limit and not self.tokens:
            self.rejection = Rejection(Reason.TOKEN_MISSING, self._beyond_limit())

    def _scan_json(self, body: bytes) -> None:
        try:
            # Objects become lists of pairs, so a key given twice is seen twice
            # instead of the last one silently winning.
            document = json.loads(body, object_pairs_hook=_pairs)
        except (ValueError, RecursionError):
            self.rejection = Rejection(Reason.MALFORMED_BODY)
            return

        if isinstance(document, _Pairs):
            field = self._field.decode("utf-8")
            self.tokens = [
                value if isinstance(value, str) else ""
                for key, value in document
                if key == field
            ]

    def _urlencoded_parser(self) -> QuerystringParser:
        name = bytearray()
        value = bytearray()
        max_name = self._max_name

        def on_field_name(data: bytes, start: int, end: int) -> None:
            _append_capped(name, data, start, end, max_name)

        def on_field_data(data: bytes, start: int, end: int) -> None:
            _append_capped(value, data, start, end, _MAX_VALUE_BYTES)

        def on_field_end() -> None:
            if _form_decode(name) == self._field:
                self.tokens.append(_form_decode(value).decode("latin-1"))
            name.clear()
            value.clear()

        return QuerystringParser(
            {
                "on_field_name": on_field_name,
                "on_field_data": on_field_data,
                "on_field_end": on_field_end,
            }
        )

    def _multipart_parser(self, content_type: str | None) -> MultipartParser | None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            self.rejection = Rejection(Reason.MALFORMED_BODY)
            self._done = True
            return None

        header_name = bytearray()
        header_value = bytearray()
        value = bytearray()
        field = self._field
        tokens = self.tokens
        # Whether the current part is the token field. Every part ends
        # before the next begins, so its end resets this for the next one
        # (one callback per part fewer than resetting at its beginning).
        wanted = False

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header_name.extend(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header_value.extend(data[start:end])

        def on_header_end() -> None:
            nonlocal wanted
            if header_name.strip().lower() == b"content-disposition":
                raw = bytes(header_value)
                if len(raw) <= _REMEMBERED_DISPOSITION_BYTES:
                    name, is_file = _remembered_disposition(raw)
                else:
                    name, is_file = _disposition(raw)
                if is_file and tokens:
                    # The token is in hand and a file begins: reading the
                    # upload could only find a second token, at its cost.
                    raise _EndOfScan
                wanted = not is_file and name == field
            header_name.clear()
            header_value.clear()

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if wanted:
                _append_capped(value, data, start, end, _MAX_VALUE_BYTES)

        def on_part_end() -> None:
            nonlocal wanted
            if wanted:
                tokens.append(value.decode("latin-1"))
                value.clear()
                wanted = False

        try:
            return MultipartParser(
                boundary,
                {
                    "on_header_field": on_header_field,
                    "on_header_value": on_header_value,
                    "on_header_end": on_header_end,
                    "on_part_data": on_part_data,
                    "on_part_end": on_part_end,
                },
            )
        except FormParserError:
            # python-multipart refuses boundaries past RFC 2046's 70 bytes
            # (it allows some slack); that is a malformed body, not a crash.
            self.rejection = Rejection(Reason.MALFORMED_BODY)
            self._done = True
            return None


class _EndOfScan(Exception):
    """Raised from a parser callback: the scan has read enough."""


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as the list of its key/value pairs."""


def _pairs(pairs: list[tuple[str, Any]]) -> _Pairs:
    return _Pairs(pairs)


def _disposition(value: bytes) -> tuple[bytes | None, bool]:
    """A part's name, and whether it is a file, by its Content-Disposition."""
    _, params = parse_options_header(value)
    return params.get(b"name"), b"filename" in params


_remembered_disposition = lru_cache(maxsize=64)(_disposition)


def _append_capped(
    buffer: bytearray, data: bytes, start: int, end: int, cap: int
) -> None:
    # Exactly the first *cap* bytes, however the value was split into chunks.
    buffer.extend(data[start : min(end, start + cap - len(buffer))])


def _form_decode(raw: bytes | bytearray) -> bytes:
    if not _ESCAPED.search(raw):
        return bytes(raw)  # decodes to itself: a token's usual alphabet
    return unquote_to_bytes(bytes(raw).replace(b"+", b" "))


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip().lower()
