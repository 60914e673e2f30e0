"""Rendering pages: one Jinja2 environment over the package's templates, autoescaped.

Templates and static files are package data (pyproject's `package-data`), loaded
relative to the `web` package, never the working directory, so an installed wheel
serves the same pages. Autoescape is on for every template and no view marks user data
safe: a workspace name, a parameter or an error text always shows as text.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from projections.wording import duration
from web.context import context_of
from web.ui import times
from web.ui.access import Viewer
from web.ui.timeline import pretty

__all__ = ["NO_STORE", "environment", "render", "render_fragment", "static_url"]

# Pages show one operator's data: no shared cache keeps them, and Back after logout does
# not bring them back from the browser's cache.
NO_STORE = {"Cache-Control": "no-store", "Vary": "Cookie"}


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        static=static_url,
        exact=times.exact,
        relative=times.relative,
        clock_text=times.clock_text,
        pretty=pretty,
    )
    env.filters.update(
        since=times.seconds_text, thousands=lambda n: f"{int(n):,}", duration=duration
    )
    return env


@functools.cache
def static_url(name: str) -> str:
    """`/static/NAME?v=<content hash>`: a changed file gets a new URL, so it may be
    cached for a long time (web/ui/static.py)."""
    data = (resources.files("web") / "static" / name).read_bytes()
    return f"/static/{name}?v={hashlib.sha256(data).hexdigest()[:12]}"


def _base(request: Request) -> dict[str, Any]:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return {
        "request_path": request.url.path,
        "viewer": viewer,
        "csrf": viewer.session.csrf if viewer else "",
        "now": context_of(request).clock(),
    }


def render(
    request: Request,
    template: str,
    values: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A whole page: `values` over the base values every layout uses."""
    body = environment().get_template(template).render({**_base(request), **values})
    return HTMLResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def render_fragment(request: Request, template: str, values: Mapping[str, Any]) -> str:
    """A piece of a page (the live-refresh region), as text."""
    return environment().get_template(template).render({**_base(request), **values})
