"""The remembered multipart Content-Disposition: one request's part
headers must never change how another request's parts are read."""

from __future__ import annotations

import pytest

from adversarial4.adv4_support import (
    Login,
    Outcome,
    Stack,
    assert_accepted,
    assert_refused,
)

_BOUNDARY = "adv5boundary"
_TYPE = ("Content-Type", f"multipart/form-data; boundary={_BOUNDARY}")
_TOKEN_FIELD = 'form-data; name="csrf_token"'


def _multipart(*parts: tuple[str, str]) -> bytes:
    out = []
    for disposition, value in parts:
        out.append(
            f"--{_BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n"
        )
    out.append(f"--{_BOUNDARY}--\r\n")
    return "".join(out).encode("utf-8")


def _post(stack: Stack, login: Login, disposition: str) -> Outcome:
    body = _multipart((disposition, login.token), ('form-data; name="note"', "hi"))
    return stack.post(login, [_TYPE], body, token_header=False)


def test_the_token_as_a_plain_field_is_accepted(stack: Stack) -> None:
    login = stack.visit()
    assert_accepted(_post(stack, login, _TOKEN_FIELD))


@pytest.mark.parametrize(
    "disposition",
    [
        f'{_TOKEN_FIELD}; filename="t.txt"',
        f'{_TOKEN_FIELD}; FILENAME="t.txt"',
        f'{_TOKEN_FIELD}; filename=""',
        'form-data; name="csrf\\_token"',
        'form-data; name="csrf_token "',
        'form-data; name="CSRF_TOKEN"',
        'form-data; name="csrf_token\\"',
        'form-data; filename="csrf_token"',
    ],
)
def test_a_part_not_the_token_field_is_not_read_after_the_field_was_remembered(
    stack: Stack, logs: pytest.LogCaptureFixture, disposition: str
) -> None:
    login = stack.visit()
    for _ in range(2):
        # Remember the plain field first, then the variant, then again.
        assert_accepted(_post(stack, login, _TOKEN_FIELD))
        before = stack.record(login.session_id)
        outcome = _post(stack, login, disposition)
        assert_refused(
            stack, outcome, "token_missing", logs, login=login, before=before
        )


@pytest.mark.parametrize(
    "disposition",
    [
        'form-data; NAME="csrf_token"',
        "form-data; name=csrf_token",
        'FORM-DATA; name="csrf_token"',
        'form-data;name="csrf_token"',
        "form-data; name*=UTF-8''other; name=\"csrf_token\"",
    ],
)
def test_spellings_python_multipart_reads_as_the_token_field_are_accepted(
    stack: Stack, disposition: str
) -> None:
    login = stack.visit()
    assert_accepted(_post(stack, login, disposition))
    assert_accepted(_post(stack, login, disposition))


def test_filename_star_alone_reads_as_a_field_as_python_multipart_does(
    stack: Stack,
) -> None:
    # RFC 7578 §4.2 allows filename*; python-multipart (and so Starlette)
    # drops it, so the part is a field for the app as for the scan.
    login = stack.visit()
    disposition = f"{_TOKEN_FIELD}; filename*=UTF-8''t.txt"
    assert_accepted(_post(stack, login, disposition))


@pytest.mark.parametrize("pad", [150, 180, 189, 190, 191, 250, 400])
def test_names_that_differ_only_late_in_a_long_disposition_are_told_apart(
    stack: Stack, logs: pytest.LogCaptureFixture, pad: int
) -> None:
    login = stack.visit()
    padding = f'form-data; x="{"p" * pad}"'
    good = f'{padding}; name="csrf_token"'
    bad = f'{padding}; name="csrf_tokeN"'
    for _ in range(2):
        assert_accepted(_post(stack, login, good))
        before = stack.record(login.session_id)
        outcome = _post(stack, login, bad)
        assert_refused(
            stack, outcome, "token_missing", logs, login=login, before=before
        )


def test_a_flood_of_dispositions_does_not_evict_a_correct_answer(
    stack: Stack, logs: pytest.LogCaptureFixture
) -> None:
    login = stack.visit()
    for index in range(100):
        body = _multipart(
            (f'form-data; name="f{index}"; filename="{index}"', "x"),
            (_TOKEN_FIELD, login.token),
        )
        assert_accepted(stack.post(login, [_TYPE], body, token_header=False))
    before = stack.record(login.session_id)
    outcome = _post(stack, login, f'{_TOKEN_FIELD}; filename="t"')
    assert_refused(stack, outcome, "token_missing", logs, login=login, before=before)
