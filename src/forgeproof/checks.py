"""The configuration audit behind ``forgeproof check``.

It imports an app the way uvicorn does (``module:attribute``), finds
forgeproof's middleware in it, and reports settings that weaken CSRF
protection. Each finding has a stable id; ``E`` ids are errors (the
command exits with status 1), ``W`` ids are warnings:

======== ================================================================
FP-E001  the session cookie is not https-only (``secure=False``)
FP-W002  a trusted origin without a scheme
FP-W003  an exempt path prefix that covers too much
FP-E004  a session cookie with ``SameSite=None``
FP-W005  a client-side (signed cookie) session store in front
FP-E006  report-only mode left on
FP-W007  a trusted or public origin over plain http
FP-W008  served over https, but the cookie's ``Secure`` flag is guessed
FP-W009  a wildcard trusted origin
FP-E010  a setting forgeproof refuses at construction
FP-E011  no forgeproof CSRF middleware found, or a mounted app without it
FP-E012  forgeproof's CSRF middleware not inside its session middleware
FP-E013  a wildcard trusted origin over a public suffix
======== ================================================================

The app is found by walking what middleware chains expose: ``.app`` of
ASGI and WSGI middleware, Starlette's ``user_middleware`` and
``middleware_stack``, sub-apps mounted by Starlette (``Mount``, ``Host``)
or Werkzeug's ``DispatcherMiddleware``, and Flask's ``wsgi_app``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import asgi, wsgi
from .errors import ConfigurationError, ForgeproofError
from .origins import TrustedOrigins
from .policy import CSRFPolicy
from .sessions.base import SessionConfig

__all__ = [
    "AppNotFoundError",
    "Finding",
    "audit",
    "audit_spec",
    "format_report",
    "load_app",
]

# First path segments that name a whole area of an app, not one endpoint.
_BROAD_SEGMENTS = frozenset(
    {
        "account",
        "accounts",
        "admin",
        "api",
        "app",
        "auth",
        "dashboard",
        "graphql",
        "rest",
        "settings",
        "user",
        "users",
        "v1",
        "v2",
        "v3",
    }
)
_SHORT_PREFIX_CHARS = 4  # "/ab/" and shorter cover too much by length alone
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
# First labels of two-label public suffixes (co.uk, com.au, ac.jp, ...). A
# wildcard over one trusts every site registered there; one-label suffixes
# (*.com) are refused by TrustedOrigins itself.
_SECOND_LEVEL_LABELS = frozenset(
    {"ac", "co", "com", "edu", "go", "gov", "mil", "ne", "net", "or", "org"}
)
# Mounted apps that answer no unsafe request, so need no CSRF middleware.
_INERT_APPS = frozenset(
    {"starlette.staticfiles.StaticFiles", "werkzeug.exceptions.HTTPException"}
)
_CSRF_TYPES = (asgi.CSRFMiddleware, wsgi.CSRFMiddleware)
_SESSION_TYPES = (asgi.SessionMiddleware, wsgi.SessionMiddleware)
_MAX_OBJECTS = 2000  # a bound on the walk, whatever the app's object graph
_MAX_CHAIN = 100  # middleware wrapped in middleware, followed through .app


class AppNotFoundError(ForgeproofError, LookupError):
    """The ``module:attribute`` given to ``forgeproof check`` names nothing."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One weakness: a stable id, where it was seen, what and why."""

    id: str
    where: str
    message: str
    why: str

    @property
    def is_error(self) -> bool:
        """Whether this finding fails the check (an ``FP-E`` id)."""
        return self.id.startswith("FP-E")


@dataclass(slots=True)
class _Found:
    policies: list[tuple[str, CSRFPolicy, bool]] = field(default_factory=list)
    sessions: list[tuple[str, SessionConfig]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def load_app(spec: str) -> object:
    """Import the object named by *spec*, ``"package.module:attribute"``.

    :raises AppNotFoundError: if *spec* is malformed or names nothing.
        Exceptions raised by the app's own module propagate.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AppNotFoundError(
            f"{spec!r} is not module:attribute, for example myproject.main:app"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _is_parent_or_self(exc.name, module_name):
            raise  # the app imports something missing: its problem, not ours
        raise AppNotFoundError(f"no module named {module_name!r}") from None

    obj: object = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppNotFoundError(
                f"module {module_name!r} has no attribute {attribute!r}"
            ) from None
    return obj


def audit_spec(spec: str) -> list[Finding]:
    """Import the app named by *spec* and :func:`audit` it.

    A setting refused while the module is imported is reported as a
    finding, not raised.
    """
    try:
        app = load_app(spec)
    except ConfigurationError as exc:
        return [_refused(spec, exc)]
    return audit(app)


def audit(app: object) -> list[Finding]:
    """Every weakness found in *app*'s forgeproof configuration, errors
    first, each reported once."""
    found = _Found()
    for where, obj in _walk(app):
        _inspect(obj, where, found)
        found.findings.extend(_order_findings(where, obj))

    for where, policy, report_only in found.policies:
        found.findings.extend(_policy_findings(where, policy, report_only))
    for where, config in found.sessions:
        found.findings.extend(_session_findings(where, config, found.policies))
    refused = any(f.id == "FP-E010" for f in found.findings)
    if not found.policies and not refused:
        found.findings.append(
            Finding(
                "FP-E011",
                "app",
                "no forgeproof CSRF middleware found",
                "Nothing checks unsafe requests, so any site can make a "
                "logged-in visitor's browser submit them. Wrap the app in "
                "forgeproof's CSRFMiddleware inside its SessionMiddleware.",
            )
        )
    elif found.policies and not found.sessions:
        found.findings.append(
            Finding(
                "FP-E012",
                found.policies[0][0],
                "CSRFMiddleware without forgeproof's SessionMiddleware around it",
                "The CSRF check needs the server-side session's secret; "
                "without it every request fails with an error.",
            )
        )
    if found.policies:
        found.findings.extend(_mount_findings(app))

    unique = dict.fromkeys(found.findings)
    return sorted(unique, key=lambda f: (not f.is_error, f.id))


def format_report(spec: str, findings: list[Finding]) -> str:
    """The text ``forgeproof check`` prints."""
    if not findings:
        return f"{spec}: no problems found"

    lines = []
    for finding in findings:
        kind = "error" if finding.is_error else "warning"
        lines.append(f"{finding.id} {kind}: {finding.message} ({finding.where})")
        lines.append(f"    {finding.why}")
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    lines.append(f"{spec}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    return "\n".join(lines)


def _walk(app: object) -> Iterator[tuple[str, object]]:
    """Every object reachable from *app* through the attributes that
    middleware chains and frameworks use, with a path for messages."""
    stack: list[tuple[str, object]] = [("app", app)]
    seen: set[int] = set()
    while stack and len(seen) < _MAX_OBJECTS:
        where, obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield where, obj
        stack.extend(reversed(list(_children(where, obj))))


def _children(where: str, obj: object) -> Iterator[tuple[str, object]]:
    if isinstance(obj, (str, bytes, int, float, type)) or obj is None:
        return
    for name in ("app", "wsgi_app", "middleware_stack"):
        child = getattr(obj, name, None)
        if child is not None:
            yield f"{where}.{name}", child
    for index, spec in enumerate(_list_attr(obj, "user_middleware")):
        yield f"{where}.user_middleware[{index}]", spec
    yield from _mounts(where, obj)


def _mounts(where: str, obj: object) -> Iterator[tuple[str, object]]:
    """The sub-apps *obj* dispatches to by path or host: Starlette's
    ``Mount`` and ``Host`` routes, Werkzeug's ``DispatcherMiddleware``
    (its ``.app`` serves every path no mount claims)."""
    mounts = getattr(obj, "mounts", None)
    if isinstance(mounts, dict):
        fallback = getattr(obj, "app", None)
        if fallback is not None:
            yield f"{where}.app", fallback
        for prefix, child in mounts.items():
            yield f"{where}.mounts[{prefix!r}]", child
    for index, route in enumerate(_list_attr(obj, "routes")):
        child = getattr(route, "app", None)
        if child is not None and type(route).__name__ in ("Mount", "Host"):
            yield f"{where}.routes[{index}].app", child


def _list_attr(obj: object, name: str) -> list[Any]:
    try:
        value = getattr(obj, name, None)
    except Exception:  # a property that needs a running app
        return []
    return list(value) if isinstance(value, (list, tuple)) else []


def _inspect(obj: object, where: str, found: _Found) -> None:
    if isinstance(obj, (asgi.CSRFMiddleware, wsgi.CSRFMiddleware)):
        decisions = getattr(obj, "decisions", None)
        report_only = bool(getattr(decisions, "report_only", False))
        found.policies.append((_name(where, obj), obj.policy, report_only))
    elif isinstance(obj, (asgi.SessionMiddleware, wsgi.SessionMiddleware)):
        found.sessions.append((_name(where, obj), obj.config))
    elif _is_starlette_middleware_spec(obj):
        _inspect_spec(obj, where, found)
    elif _class_path(obj) == "starlette.middleware.sessions.SessionMiddleware":
        flags = str(getattr(obj, "security_flags", "")).lower()
        found.findings.extend(_cookie_session_findings(_name(where, obj), flags))
    elif hasattr(obj, "session_interface") and hasattr(obj, "wsgi_app"):
        found.findings.extend(_flask_findings(where, obj))


def _inspect_spec(spec: Any, where: str, found: _Found) -> None:
    """A Starlette ``Middleware(cls, *args, **kwargs)``: the app builds it
    on its first request, so build forgeproof's here to see its settings."""
    cls = spec.cls
    if cls in (asgi.CSRFMiddleware, asgi.SessionMiddleware):
        try:
            built = cls(_unused_app, *spec.args, **spec.kwargs)
        except (TypeError, ValueError) as exc:  # ConfigurationError among them
            found.findings.append(_refused(f"{where} {cls.__name__}", exc))
            origins = spec.kwargs.get("trusted_origins", ())
            found.findings.extend(_raw_origin_findings(where, origins))
            return
        _inspect(built, where, found)
    elif _class_path(cls) == "starlette.middleware.sessions.SessionMiddleware":
        same_site = str(spec.kwargs.get("same_site", "lax")).lower()
        flags = f"samesite={same_site}"
        found.findings.extend(
            _cookie_session_findings(f"{where} {cls.__name__}", flags)
        )


def _order_findings(where: str, obj: object) -> Iterator[Finding]:
    """CSRF middleware that wraps forgeproof's session middleware instead
    of sitting inside it: the session it needs is not there yet."""
    if isinstance(obj, _CSRF_TYPES):
        inner = _wrapped_chain(obj.app)
    else:
        # Starlette builds its middleware list outermost first.
        classes = [getattr(s, "cls", None) for s in _list_attr(obj, "user_middleware")]
        if asgi.CSRFMiddleware not in classes:
            return
        inner = classes[classes.index(asgi.CSRFMiddleware) + 1 :]
    # Instances from a built chain, classes from a Starlette list.
    if not any(isinstance(o, _SESSION_TYPES) or o in _SESSION_TYPES for o in inner):
        return

    yield Finding(
        "FP-E012",
        _name(where, obj),
        "CSRFMiddleware is outside forgeproof's SessionMiddleware",
        "The CSRF check reads the session's secret, which the session "
        "middleware puts in place only for what it wraps, so every request "
        "fails with an error. Wrap CSRFMiddleware in SessionMiddleware.",
    )


def _wrapped_chain(app: object) -> list[object]:
    """*app* and what it wraps through ``.app``, not into mounts."""
    chain: list[object] = []
    while app is not None and len(chain) < _MAX_CHAIN:
        chain.append(app)
        app = getattr(app, "app", None)
    return chain


def _mount_findings(app: object) -> Iterator[Finding]:
    """Mounted sub-apps that no forgeproof CSRF middleware covers, from
    above or inside, when others are covered."""
    stack: list[tuple[str, object]] = [("app", app)]
    seen: set[int] = set()
    while stack and len(seen) < _MAX_OBJECTS:
        where, obj = stack.pop()
        if id(obj) in seen or _checks_csrf(obj):
            continue  # what a CSRF middleware wraps is covered
        seen.add(id(obj))
        for mount, mounted in _mounts(where, obj):
            if not _is_inert(mounted) and not _covered_inside(mounted):
                yield Finding(
                    "FP-E011",
                    mount,
                    "a mounted app has no forgeproof CSRF middleware",
                    "Nothing checks the unsafe requests routed to it, so any "
                    "site can make a logged-in visitor's browser send them. "
                    "Wrap it like its siblings, or the whole app once.",
                )
        stack.extend(_children(where, obj))


def _checks_csrf(obj: object) -> bool:
    if isinstance(obj, _CSRF_TYPES):
        return True
    specs = _list_attr(obj, "user_middleware")
    return any(getattr(spec, "cls", None) is asgi.CSRFMiddleware for spec in specs)


def _covered_inside(app: object) -> bool:
    return any(_checks_csrf(obj) for _, obj in _walk(app))


def _is_inert(app: object) -> bool:
    return any(_class_path(cls) in _INERT_APPS for cls in type(app).__mro__)


def _policy_findings(
    where: str, policy: CSRFPolicy, report_only: bool
) -> Iterator[Finding]:
    if report_only:
        yield Finding(
            "FP-E006",
            where,
            "report-only mode is on",
            "Rejections are only logged and counted; forged requests reach "
            "the app. Switch it off once the logs show no legitimate rejections.",
        )
    yield from _origin_findings(where, policy.trusted_origins)
    for origin in policy.public_origins:
        if _is_plain_http(origin):
            yield Finding(
                "FP-W007",
                where,
                f"the app's public origin {origin!r} is served over plain http",
                "Anyone on the network path of its users can read and change "
                "its pages, tokens and session cookie included, and act as "
                "them. Serve the app over https and list its https:// origin.",
            )
    for path in policy.exempt_paths:
        if _covers_too_much(path):
            yield Finding(
                "FP-W003",
                where,
                f"exempt path {path!r} covers a whole area of the app",
                "Every unsafe request under it skips the token and origin "
                "checks, so any site can make a logged-in browser send one. "
                "Exempt the exact endpoints that authenticate another way "
                "(a signed webhook); API clients sending a bearer token and "
                "no cookie are accepted without an exemption.",
            )


def _origin_findings(where: str, trusted: TrustedOrigins) -> Iterator[Finding]:
    for entry in trusted.entries:
        host = entry.partition("://")[2]
        if host.startswith("*.") and _is_public_suffix(_host_of(host[2:])):
            yield Finding(
                "FP-E013",
                where,
                f"trusted origin {entry!r} trusts every site under a public suffix",
                "Anyone can register a domain there and forge requests from "
                "it. Put the wildcard over a domain you own, or list the "
                "origins that need it.",
            )
        elif host.startswith("*."):
            yield Finding(
                "FP-W009",
                where,
                f"trusted origin {entry!r} trusts every subdomain",
                "A script on any of them (user content, a forgotten staging "
                "host, a subdomain takeover) can forge requests here. List "
                "the origins that need it.",
            )
        if _is_plain_http(entry):
            yield Finding(
                "FP-W007",
                where,
                f"trusted origin {entry!r} is served over plain http",
                "Anyone on the network path of its visitors can inject a "
                "script into its pages and forge requests from it. Trust its "
                "https:// origin instead.",
            )


def _raw_origin_findings(where: str, origins: Iterable[Any]) -> Iterator[Finding]:
    if isinstance(origins, str):
        origins = [origins]
    for origin in origins:
        if isinstance(origin, str) and "://" not in origin:
            yield Finding(
                "FP-W002",
                where,
                f"trusted origin {origin!r} has no scheme",
                "An origin is scheme, host and port; without the scheme it is "
                "refused, and guessing it would trust http as well as https. "
                f"Write it as https://{origin.strip('/')}.",
            )


def _session_findings(
    where: str,
    config: SessionConfig,
    policies: list[tuple[str, CSRFPolicy, bool]],
) -> Iterator[Finding]:
    if config.secure is False:
        yield Finding(
            "FP-E001",
            where,
            "the session cookie is not https-only (SessionConfig(secure=False))",
            "Browsers send it over plain http too, where anyone on the network "
            "can read the session id and act as the user. Leave secure unset "
            "(Secure on https), or set secure=True behind a TLS proxy.",
        )
    elif config.secure is None and any(_served_over_https(p) for _, p, _ in policies):
        yield Finding(
            "FP-W008",
            where,
            "served over https (an https public origin or a trusted proxy), "
            "but the cookie's Secure flag follows the scheme the app server "
            "sees (SessionConfig(secure=None))",
            "A TLS proxy that talks plain http to the app makes the cookie go "
            "out without Secure and without the __Host- prefix. Set "
            "SessionConfig(secure=True).",
        )
    if config.same_site not in ("lax", "strict"):
        yield from _cookie_session_findings(where, "samesite=none", client=False)


def _cookie_session_findings(
    where: str, flags: str, *, client: bool = True
) -> Iterator[Finding]:
    if client:
        yield Finding(
            "FP-W005",
            where,
            "a client-side session store (a signed cookie) is in front",
            "The whole session lives in the browser: logout cannot revoke it, "
            "a copied cookie stays valid until it expires, and it is not the "
            "session forgeproof's tokens are bound to. Use forgeproof's "
            "SessionMiddleware (or CSRFProtect for Flask) instead.",
        )
    if "samesite=none" in flags.replace(" ", ""):
        yield Finding(
            "FP-E004",
            where,
            "a session cookie is sent with SameSite=None",
            "Every site can make the browser send it, on forms, images and "
            "fetches alike (RFC 6265bis §5.4.7). forgeproof's SessionConfig "
            "refuses it at construction; use lax or strict.",
        )


def _flask_findings(where: str, app: Any) -> Iterator[Finding]:
    interface = type(app.session_interface)
    if interface.__name__ != "SecureCookieSessionInterface":
        return
    config = getattr(app, "config", {})
    same_site = str(config.get("SESSION_COOKIE_SAMESITE") or "").lower()
    yield from _cookie_session_findings(
        f"{where} (Flask session_interface)", f"samesite={same_site}"
    )


def _refused(where: str, exc: Exception) -> Finding:
    message = str(exc)
    if "same_site" in message or "samesite" in message.lower():
        return Finding(
            "FP-E004",
            where,
            "a session cookie with SameSite=None was configured, and refused",
            f"forgeproof's SessionConfig refuses it at construction: {message}",
        )
    return Finding(
        "FP-E010",
        where,
        "a setting is refused at construction",
        f"The app fails when it builds the middleware: {message}",
    )


def _covers_too_much(path: str) -> bool:
    if not path.endswith("/"):
        return False  # an exact path exempts one endpoint
    segments = [segment for segment in path.split("/") if segment]
    if len(path) <= _SHORT_PREFIX_CHARS:
        return True
    # Area names only: "/api/", and as much "/api/v1/" or "/admin/users/".
    return bool(segments) and all(s.lower() in _BROAD_SEGMENTS for s in segments)


def _served_over_https(policy: CSRFPolicy) -> bool:
    # If the app server does TLS itself, secure=True costs nothing; behind
    # a TLS proxy, secure=None leaves the cookie without Secure.
    public_https = any(o.startswith("https://") for o in policy.public_origins)
    return public_https or policy.proxies is not None


def _is_plain_http(origin: str) -> bool:
    scheme, _, host = origin.partition("://")
    return scheme == "http" and _host_of(host) not in _LOOPBACK_HOSTS


def _host_of(host_and_port: str) -> str:
    if host_and_port.endswith("]"):  # an IPv6 literal without a port
        return host_and_port
    return host_and_port.rsplit(":", 1)[0]


def _is_public_suffix(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) == 1 or (len(labels) == 2 and labels[0] in _SECOND_LEVEL_LABELS)


def _is_starlette_middleware_spec(obj: object) -> bool:
    return _class_path(type(obj)) == "starlette.middleware.Middleware"


def _class_path(obj: object) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _name(where: str, obj: object) -> str:
    return f"{where} ({type(obj).__module__}.{type(obj).__qualname__})"


def _is_parent_or_self(name: str, module_name: str) -> bool:
    return module_name == name or module_name.startswith(name + ".")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


async def _unused_app(scope: Any, receive: Any, send: Any) -> None:
    """The app under middleware built only to be inspected; never called."""
    raise RuntimeError("forgeproof check built this middleware only to read it")
