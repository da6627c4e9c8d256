"""forgeproof for Flask: server-side sessions as Flask's ``session``, CSRF
checks on every unsafe request, and the template helpers.

::

    app = Flask(__name__)
    csrf = CSRFProtect(app, store=SQLiteSessionStore("sessions.db"))

Templates then write ``{{ csrf_input() }}`` inside each form and
``{{ csrf_meta() }}`` in the head for scripts. Call
:func:`forgeproof.rotate` with the request at login.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import flask
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException

from ..decisions import DecisionCallback
from ..errors import ConfigurationError
from ..policy import (
    DEFAULT_FIELD_NAME,
    DEFAULT_HEADER_NAME,
    DEFAULT_SCAN_LIMIT,
    CSRFPolicy,
)
from ..proxies import ProxyHeaders
from ..responses import RejectionRenderer
from ..sessions import SessionConfig, SessionStore, store_from_url
from ..sessions.base import Session
from ..wsgi import ENVIRON_KEY, CSRFMiddleware, SessionMiddleware
from ._jinja import template_globals
from ._marks import is_marked_exempt, mark_exempt, marks_made

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["CSRFProtect", "FlaskSession", "exempt"]

#: The config key read when no ``store`` is given: a URL for
#: :func:`forgeproof.store_from_url`.
STORE_CONFIG_KEY = "FORGEPROOF_SESSION_STORE"

_Exemptible = TypeVar("_Exemptible")


def exempt(view_or_blueprint: _Exemptible) -> _Exemptible:
    """Switch the CSRF check off for a view function or a whole blueprint.

    An exempt view is open to CSRF: keep it for requests that prove
    themselves some other way, such as a signed webhook. Works above or
    below ``@app.route``; exempting a blueprint covers its nested ones.
    """
    return mark_exempt(view_or_blueprint)


class CSRFProtect:
    """The Flask extension: ``CSRFProtect(app, store=...)`` or, with an app
    factory, ``csrf = CSRFProtect(store=...)`` then ``csrf.init_app(app)``.

    :param store: where sessions live (any synchronous
        :class:`~forgeproof.sessions.SessionStore`). Without one,
        ``app.config["FORGEPROOF_SESSION_STORE"]`` must name a store URL.
    :param config: session cookie and timeout settings.
    :param trusted_origins: origins besides the app's own whose unsafe
        requests are accepted (a valid token is still required).
    :param exempt_paths: paths never checked; prefer :meth:`exempt`.
    :param on_reject: renders a refusal, instead of problem+json / HTML.

    ``header_name``, ``extra_header_names``, ``field_name`` and
    ``scan_limit`` are as for
    :class:`~forgeproof.policy.CSRFPolicy`.
    """

    #: The same decorator as the module's :func:`exempt`.
    exempt = staticmethod(exempt)

    def __init__(
        self,
        app: flask.Flask | None = None,
        *,
        store: SessionStore | None = None,
        config: SessionConfig | None = None,
        trusted_origins: Iterable[str] = (),
        exempt_paths: Iterable[str] = (),
        header_name: str = DEFAULT_HEADER_NAME,
        extra_header_names: Iterable[str] = (),
        field_name: str = DEFAULT_FIELD_NAME,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
        on_reject: RejectionRenderer | None = None,
        public_origins: Iterable[str] = (),
        trusted_proxies: int = 0,
        proxy_headers: ProxyHeaders = "x-forwarded",
        report_only: bool = False,
        on_decision: DecisionCallback | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.policy = CSRFPolicy.build(
            trusted_origins=trusted_origins,
            exempt_paths=exempt_paths,
            header_name=header_name,
            field_name=field_name,
            scan_limit=scan_limit,
            extra_header_names=extra_header_names,
            public_origins=public_origins,
            trusted_proxies=trusted_proxies,
            proxy_headers=proxy_headers,
        )
        self.on_reject = on_reject
        self.report_only = report_only
        self.on_decision = on_decision
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Wrap *app*'s WSGI app in the session and CSRF middleware, make
        the forgeproof session Flask's ``session``, and add the template
        globals ``csrf_token()``, ``csrf_input()`` and ``csrf_meta()``."""
        store = self.store or _store_from_config(app)
        checked = CSRFMiddleware(
            app.wsgi_app,
            policy=self.policy,
            is_exempt=_ExemptViews(app),
            on_reject=self.on_reject,
            report_only=self.report_only,
            on_decision=self.on_decision,
        )
        app.wsgi_app = SessionMiddleware(  # type: ignore[method-assign]
            checked, store=store, config=self.config
        )
        app.session_interface = ForgeproofSessionInterface()
        helpers = template_globals(self.policy.field_name, _current_environ)
        for name, helper in helpers.items():
            app.add_template_global(helper, name)
        app.extensions["forgeproof"] = self


class FlaskSession(SessionMixin):
    """Flask's ``session`` while :class:`CSRFProtect` is installed: a view of
    the request's server-side :class:`~forgeproof.Session`.

    ``clear()`` deletes the session on the server (logout), which kills
    every token issued for it. At login call :func:`forgeproof.rotate`
    with the request, or :meth:`rotate_id` and :meth:`rotate_csrf_secret`.
    """

    def __init__(self, session: Session) -> None:
        #: The underlying forgeproof session.
        self.forgeproof = session
        #: Whether the request came with no live session.
        self.new = session.is_new

    def __repr__(self) -> str:
        return f"<FlaskSession of {self.forgeproof!r}>"

    def __getitem__(self, key: str) -> Any:
        return self.forgeproof[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.forgeproof[key] = value

    def __delitem__(self, key: str) -> None:
        del self.forgeproof[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.forgeproof)

    def __len__(self) -> int:
        return len(self.forgeproof)

    @property
    def modified(self) -> bool:
        """Whether the session will be written back; set it after changing
        a nested value in place."""
        return self.forgeproof.modified

    @modified.setter
    def modified(self, value: bool) -> None:
        self.forgeproof.modified = value

    def clear(self) -> None:
        """Delete the session on the server (logout)."""
        self.forgeproof.clear()

    def rotate_id(self) -> None:
        """Move the session to a new id (session fixation); see
        :meth:`forgeproof.Session.rotate_id`."""
        self.forgeproof.rotate_id()

    def rotate_csrf_secret(self) -> None:
        """Invalidate every token issued so far."""
        self.forgeproof.rotate_csrf_secret()


class ForgeproofSessionInterface(SessionInterface):
    """Hands Flask the session the WSGI middleware already loaded.

    Saving is the middleware's job too (when the response starts), so
    :meth:`save_session` does nothing and Flask's ``SECRET_KEY`` plays no
    part in sessions.
    """

    def open_session(self, app: flask.Flask, request: flask.Request) -> FlaskSession:
        """The forgeproof session of *request*."""
        session = request.environ.get(ENVIRON_KEY)
        if not isinstance(session, Session):
            raise RuntimeError(
                "no forgeproof session: this request did not pass through the "
                "middleware that CSRFProtect.init_app installs"
            )
        return FlaskSession(session)

    def save_session(
        self, app: flask.Flask, session: SessionMixin, response: flask.Response
    ) -> None:
        """Nothing to do: the middleware writes the session."""


def _store_from_config(app: flask.Flask) -> SessionStore:
    url = app.config.get(STORE_CONFIG_KEY)
    if not url:
        raise ConfigurationError(
            "CSRFProtect needs a session store: CSRFProtect(app, "
            'store=SQLiteSessionStore("sessions.db")), or set '
            f'app.config["{STORE_CONFIG_KEY}"] = "sqlite:///sessions.db"'
        )
    return store_from_url(str(url))


def _current_environ(context: object) -> Any:
    # The environ rather than the request proxy: the helpers only look up
    # the session in it, and each attribute of the proxy costs a context
    # lookup.
    return flask.request.environ


class _ExemptViews:
    """The ``is_exempt`` hook: whether the view a request routes to, or
    one of its blueprints, is marked exempt.

    Routing a request costs more than the rest of the CSRF check, so it is
    done only while something of the app is marked at all. That is looked
    up again whenever a mark is made or a view or blueprint is registered
    (Flask allows neither once it has served a request, short of writing
    to its dicts directly: an already marked view put in place of another
    is then missed, and checked like any other).
    """

    __slots__ = ("_app", "_seen")

    def __init__(self, app: flask.Flask) -> None:
        self._app = app
        # (marks made, views, blueprints) when last looked up, and whether
        # anything was marked then; the first request always looks.
        self._seen: tuple[tuple[int, int, int], bool] = ((-1, 0, 0), True)

    def __call__(self, environ: WSGIEnvironment) -> bool:
        app = self._app
        state = (marks_made(), len(app.view_functions), len(app.blueprints))
        seen, anything_marked = self._seen
        if state != seen:
            anything_marked = _anything_marked(app)
            self._seen = (state, anything_marked)
        return anything_marked and _view_is_exempt(app, environ)


def _anything_marked(app: flask.Flask) -> bool:
    views = list(app.view_functions.values())
    blueprints = list(app.blueprints.values())
    return any(map(is_marked_exempt, views)) or any(map(is_marked_exempt, blueprints))


def _view_is_exempt(app: flask.Flask, environ: WSGIEnvironment) -> bool:
    # Routing happens here a second time, before Flask's own, with Flask's
    # own adapter, so the view found is the view that will run. Anything
    # that does not route cleanly (404, 405, a redirect) is not exempt.
    request = app.request_class(environ, populate_request=False, shallow=True)
    try:
        adapter = app.create_url_adapter(request)
        if adapter is None:
            return False
        rule, _ = adapter.match(return_rule=True)
    except HTTPException:
        return False

    endpoint = rule.endpoint
    if is_marked_exempt(app.view_functions.get(endpoint)):
        return True
    blueprint = endpoint.rpartition(".")[0]
    while blueprint:
        if is_marked_exempt(app.blueprints.get(blueprint)):
            return True
        blueprint = blueprint.rpartition(".")[0]
    return False
