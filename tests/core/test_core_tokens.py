"""Tokens: masking, validation, and what malformed input does (never raise)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forgeproof import mask_secret, new_secret, token_matches
from forgeproof.sessions.base import Session
from forgeproof.tokens import SECRET_BYTES, TOKEN_LENGTH

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SECRET = new_secret()
_GOOD = mask_secret(_SECRET)
# The last character carries 2 bits of data and 4 zero bits; setting one of
# those zero bits decodes to the very same bytes.
_NON_CANONICAL = _GOOD[:-1] + _ALPHABET[_ALPHABET.index(_GOOD[-1]) + 1]
# A valid token that uses both URL-safe-only characters, spelled in the
# standard alphabet ('+' and '/'), which the stdlib decoder would also take.
_STANDARD = next(
    t.replace("-", "+").replace("_", "/")
    for t in iter(lambda: mask_secret(_SECRET), None)
    if "-" in t and "_" in t
)


def test_a_token_round_trips_to_its_secret() -> None:
    secret = new_secret()

    assert token_matches(mask_secret(secret), secret) is True


def test_secrets_are_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()

    assert len(first) == SECRET_BYTES
    assert first != second


def test_tokens_are_86_url_safe_characters_without_padding() -> None:
    token = mask_secret(new_secret())

    assert len(token) == TOKEN_LENGTH
    assert "=" not in token
    assert set(token) <= set(_ALPHABET)


def test_masking_gives_a_different_string_on_every_call() -> None:
    secret = new_secret()

    tokens = {mask_secret(secret) for _ in range(200)}

    assert len(tokens) == 200


def test_no_token_contains_its_secret_in_any_encoding() -> None:
    secret = new_secret()
    token = mask_secret(secret)
    raw = base64.urlsafe_b64decode(token + "==")

    assert secret not in raw
    assert base64.urlsafe_b64encode(secret).rstrip(b"=").decode() not in token
    assert secret.hex() not in token


def test_every_token_of_a_session_validates_until_the_secret_rotates() -> None:
    """Several open tabs keep working; a login (rotation) ends them all."""
    session = Session(None, None, now=0.0)
    issued = [mask_secret(session.csrf_secret) for _ in range(10)]

    assert all(token_matches(t, session.csrf_secret) for t in issued)

    session.rotate_csrf_secret()

    assert not any(token_matches(t, session.csrf_secret) for t in issued)
    assert token_matches(mask_secret(session.csrf_secret), session.csrf_secret)


def test_a_token_of_another_secret_is_invalid() -> None:
    assert token_matches(mask_secret(new_secret()), new_secret()) is False


def test_a_cleared_session_validates_no_earlier_token() -> None:
    session = Session(None, None, now=0.0)
    token = mask_secret(session.csrf_secret)

    session.clear()

    assert token_matches(token, session.csrf_secret) is False


@pytest.mark.parametrize(
    "candidate",
    [
        pytest.param("", id="empty"),
        pytest.param(_GOOD[:-1], id="one character short"),
        pytest.param(_GOOD + "A", id="one character long"),
        pytest.param(_GOOD + "==", id="with base64 padding"),
        pytest.param(_GOOD[:-2] + "==", id="padding in place of data"),
        pytest.param(_GOOD[:-1] + "=", id="padding as last character"),
        pytest.param(_STANDARD, id="standard alphabet"),
        pytest.param("+" * TOKEN_LENGTH, id="plus signs"),
        pytest.param("/" * TOKEN_LENGTH, id="slashes"),
        pytest.param(_GOOD[:40] + " " + _GOOD[41:], id="space inside"),
        pytest.param(" " + _GOOD[1:], id="leading space"),
        pytest.param(_GOOD[:-1] + "\n", id="trailing newline"),
        pytest.param(_GOOD[:-1] + "\x00", id="NUL byte"),
        pytest.param("é" * TOKEN_LENGTH, id="non-ASCII of the right length"),
        pytest.param(_GOOD[:-1] + "é", id="one non-ASCII character"),
        pytest.param("\ud800" * TOKEN_LENGTH, id="lone surrogates"),
        pytest.param("A" * 100_000, id="100 kB of alphabet junk"),
        pytest.param("\x00\xff" * 50_000, id="100 kB of binary junk"),
        pytest.param("A" * TOKEN_LENGTH, id="right length all A"),
        pytest.param(_GOOD[::-1], id="reversed token"),
        pytest.param(_GOOD[43:] + _GOOD[:43], id="mask and cipher swapped"),
        pytest.param(_NON_CANONICAL, id="non-canonical spelling of a valid token"),
    ],
)
def test_malformed_token_is_invalid_and_never_raises(candidate: str) -> None:
    assert token_matches(candidate, _SECRET) is False


def test_the_valid_control_token_of_the_malformed_table_matches() -> None:
    assert token_matches(_GOOD, _SECRET) is True


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 31, b"x" * 33])
def test_a_wrong_length_secret_never_matches(secret: bytes) -> None:
    assert token_matches(_GOOD, secret) is False


@pytest.mark.parametrize("secret", [b"", b"x" * 31, b"x" * 33])
def test_masking_a_wrong_length_secret_is_a_programming_error(secret: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        mask_secret(secret)


def test_flipping_any_single_character_invalidates_the_token() -> None:
    token = mask_secret(_SECRET)
    for index in range(TOKEN_LENGTH):
        replacement = "B" if token[index] != "B" else "C"
        forged = token[:index] + replacement + token[index + 1 :]

        assert token_matches(forged, _SECRET) is False, index


# -- properties ---------------------------------------------------------------


@given(st.binary(min_size=SECRET_BYTES, max_size=SECRET_BYTES))
def test_every_token_round_trips_for_any_secret(secret: bytes) -> None:
    token = mask_secret(secret)

    assert len(token) == TOKEN_LENGTH
    assert token_matches(token, secret) is True


@given(st.text())
def test_any_string_is_a_token_of_the_session_or_rejected(candidate: str) -> None:
    result = token_matches(candidate, _SECRET)

    assert isinstance(result, bool)
    if result:
        # Only an unmasking of this very secret may pass.
        raw = base64.urlsafe_b64decode(candidate + "==")
        mask, masked = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
        assert bytes(a ^ b for a, b in zip(mask, masked, strict=True)) == _SECRET


@given(st.text(alphabet=_ALPHABET, min_size=TOKEN_LENGTH, max_size=TOKEN_LENGTH))
def test_any_well_formed_string_is_rejected_unless_it_unmasks_to_the_secret(
    candidate: str,
) -> None:
    """Strings that pass the format check reach the comparison: still False."""
    assert token_matches(candidate, _SECRET) is False


@given(st.binary(min_size=64, max_size=64))
def test_any_64_bytes_encoded_canonically_match_exactly_their_unmasked_secret(
    raw: bytes,
) -> None:
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    unmasked = bytes(a ^ b for a, b in zip(raw[:32], raw[32:], strict=True))

    assert token_matches(token, unmasked) is True
    assert token_matches(token, bytes(b ^ 1 for b in unmasked)) is False
