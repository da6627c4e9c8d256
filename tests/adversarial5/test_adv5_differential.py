"""The same raw request through the ASGI and the WSGI adapter, with the
headers the shortcut reads spelled every which way: both decide alike."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adversarial4.adv4_support import ORIGIN, STACKS, TRUSTED_ORIGIN, Login, Stack
from forgeproof.origins import own_origin

_ORIGINS = st.one_of(
    st.sampled_from(
        [
            ORIGIN,
            TRUSTED_ORIGIN,
            "null",
            "HTTP://app.test",
            "http://app.test.",
            "http://app.test:80",
            "https://app.test",
            "http://äpp.test",
            "http://app.test\t",
        ]
    ),
    st.text(alphabet="htp:/.aespAPT\u00e4\u0100 ,", max_size=20),
)
_HOSTS = st.one_of(
    st.none(),
    st.sampled_from(["app.test", "APP.test.", "app.test:80", "[::1]", "äpp.test"]),
    st.text(alphabet="aptes.:[]1 ,\u00e4", max_size=12),
)
_SITES = st.sampled_from(
    ["same-origin", "cross-site", "same-site", "none", "SAME-ORIGIN", " same-origin"]
)


def _stacks() -> dict[str, tuple[Stack, Login]]:
    out = {}
    for kind in sorted(STACKS):
        stack = STACKS[kind]()
        out[kind] = (stack, stack.visit())
    return out


_BOTH = _stacks()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    origins=st.lists(_ORIGINS, max_size=2),
    host=_HOSTS,
    sites=st.lists(_SITES, max_size=2),
    scheme=st.sampled_from(["http", "https"]),
    bearer=st.booleans(),
    path=st.sampled_from(["/notes", "/hooks/x", "/hooks/../notes"]),
)
def test_both_adapters_decide_every_spelling_alike(
    origins: list[str],
    host: str | None,
    sites: list[str],
    scheme: str,
    bearer: bool,
    path: str,
) -> None:
    results = []
    for stack, login in _BOTH.values():
        headers = [("Origin", origin) for origin in origins]
        headers += [("Sec-Fetch-Site", site) for site in sites]
        headers += [login.cookie, ("X-CSRF-Token", login.token)]
        if bearer:
            headers.append(("Authorization", "Bearer abc"))
        outcome = stack.send("POST", path, headers, host=host, scheme=scheme)
        results.append((outcome.status, outcome.reason, outcome.reached))
        if outcome.reached and origins and path != "/hooks/x" and not bearer:
            # (A bearer request without our cookie is accepted by design.)
            # Accepted with an Origin only if it is ours, trusted, or "null"
            # vouched for by Sec-Fetch-Site: same-origin.
            sent = ", ".join(origins)
            assert sent in (TRUSTED_ORIGIN, own_origin(scheme, host)) or (
                sent == "null"
                and [site.strip().lower() for site in sites] == ["same-origin"]
            ), (origins, host, sites)
    assert results[0] == results[1], (origins, host, sites, scheme, results)
