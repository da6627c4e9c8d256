"""The attacker site: pages on another port that forge requests to the app.

Another port makes it another origin but the same site, which is exactly
where ``SameSite=Lax`` cookies are still sent and only the CSRF token stands
in the way. It sets no cookies and reads none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

__all__ = ["ATTACKS", "Attack", "create_attacker_app"]

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Attack:
    """One attack page: its path under ``/attacks/`` and its title."""

    slug: str
    title: str


ATTACKS = (
    Attack("hidden-form", "A hidden form that posts a note"),
    Attack("text-plain-json", "JSON smuggled in a text/plain form"),
    Attack("no-cors-fetch", "A no-cors fetch() with a text/plain body"),
    Attack("logout-form", "A form that logs you out"),
    Attack("img-get", "An <img> that sends a GET"),
)


def create_attacker_app(app_url: str) -> Starlette:
    """The attacker site, aiming at the notes app at *app_url*."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates" / "attacker"),
        autoescape=select_autoescape(default=True),
    )
    env.globals.update(app_url=app_url, attacks=ATTACKS)
    templates = Jinja2Templates(env=env)
    by_slug = {attack.slug: attack for attack in ATTACKS}

    async def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html")

    async def attack_page(request: Request) -> Response:
        attack = by_slug.get(request.path_params["slug"])
        if attack is None:
            return Response("No such attack.", status_code=404)
        return templates.TemplateResponse(
            request, f"{attack.slug}.html", {"attack": attack}
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/attacks/{slug}", attack_page),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
