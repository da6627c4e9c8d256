"""The same tiny app in Django, with and without ``CsrfViewMiddleware``.

This module is also the URLconf. Settings are process-wide, so both WSGI
handlers are built here: each handler reads ``MIDDLEWARE`` once, when it is
created. ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is lifted because Django's default
(2.5 MB) answers the 8 MB form with 400 before the CSRF check can run.
The token is rendered only when the request says so (``bench.token`` in
the environ), so the bare handler runs the same view without it.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-django-secret-not-for-production",  # noqa: S106
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        DATA_UPLOAD_MAX_MEMORY_SIZE=None,
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.http import require_http_methods


def form(request: HttpRequest) -> HttpResponse:
    token = get_token(request) if request.META.get("bench.token") else ""
    return HttpResponse(
        f'<form method="post"><input type="hidden" name="t" value="{token}"></form>'
    )


@require_http_methods(["POST", "PUT", "PATCH", "DELETE"])
def submit(request: HttpRequest) -> HttpResponse:
    while request.read(64 * 1024):
        pass
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("form", form), path("submit", submit)]


def handlers() -> tuple[Any, Any]:
    """``(bare, protected)`` WSGI handlers."""
    from django.core.handlers.wsgi import WSGIHandler

    settings.MIDDLEWARE = []
    bare = WSGIHandler()
    settings.MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware"]
    protected = WSGIHandler()
    return bare, protected


class _Marked:
    """A WSGI app that sets ``bench.token`` before calling Django."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["bench.token"] = True
        return self.handler(environ, start_response)


def django_bare() -> Any:
    return handlers()[0]


def django_csrf() -> Any:
    return _Marked(handlers()[1])
