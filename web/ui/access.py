"""Who is looking at a page, and may they: the one resolver every HTML route goes through.

A page declares the capability it needs with `@page(RUNS_READ)`. Without a valid
session the browser is sent to `/login?next=<the page>`; with one whose token lacks
the capability the answer is the 403 page naming it. The session's token is re-read
on every request, so a revoked token (or one whose operator changed) loses its
sessions at once. What the viewer may *see* is the token's `Scope`, which every query
of `MonitoringView` takes first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from projections import Scope
from web.context import context_of
from web.errors import ApiError
from web.tokens import Principal
from web.ui.next_path import login_url
from web.ui.session import COOKIE, Session, SessionCodec, clear_cookie

__all__ = ["Endpoint", "Viewer", "codec_of", "current_viewer", "fragment", "page"]

Endpoint = Callable[[Request, "Viewer"], Response]


@dataclass(frozen=True)
class Viewer:
    """The operator behind a page request: their token's principal and their session."""

    principal: Principal
    session: Session

    @property
    def scope(self) -> Scope:
        return self.principal.scope


def codec_of(request: Request) -> SessionCodec:
    """The app's session codec, made once from the secret key."""
    state = request.app.state
    codec: SessionCodec | None = getattr(state, "ui_sessions", None)
    if codec is None:
        codec = SessionCodec(context_of(request).settings.secret_key)
        state.ui_sessions = codec
    return codec


def current_viewer(request: Request) -> Viewer | None:
    """The viewer of a valid session whose token still stands, else None."""
    context = context_of(request)
    session = codec_of(request).loads(request.cookies.get(COOKIE), context.clock())
    if session is None:
        return None
    info = context.tokens.get(session.token_id)
    if info is None or info.is_revoked or info.operator != session.operator:
        return None
    principal = Principal(
        token_id=info.id,
        operator=info.operator,
        scope=Scope.of(info.workspaces),
        capabilities=frozenset(info.capabilities),
    )
    viewer = Viewer(principal, session)
    request.state.viewer = viewer  # for the error pages' header
    return viewer


def _checked(request: Request, capability: str) -> Viewer | None:
    viewer = current_viewer(request)
    if viewer is not None and not viewer.principal.can(capability):
        raise ApiError(
            403,
            f"Your token lacks the {capability} capability, which this page needs.",
            code="missing_capability",
            parameter=capability,
        )
    return viewer


def page(capability: str) -> Callable[[Endpoint], Callable[[Request], Response]]:
    """An HTML page needing `capability`: no session redirects to the login form."""

    def decorate(endpoint: Endpoint) -> Callable[[Request], Response]:
        @functools.wraps(endpoint)
        def handler(request: Request) -> Response:
            viewer = _checked(request, capability)
            if viewer is None:
                response = RedirectResponse(login_url(request), status_code=303)
                if COOKIE in request.cookies:
                    clear_cookie(response, request, COOKIE)
                return response
            return endpoint(request, viewer)

        return handler

    return decorate


def fragment(capability: str) -> Callable[[Endpoint], Callable[[Request], Response]]:
    """A piece of a page fetched by script: no session is a bare 401 (the script says the
    session ended), never a redirect whose login page it would splice into the page."""

    def decorate(endpoint: Endpoint) -> Callable[[Request], Response]:
        @functools.wraps(endpoint)
        def handler(request: Request) -> Response:
            viewer = _checked(request, capability)
            if viewer is None:
                return PlainTextResponse(
                    "session ended", status_code=401, headers={"Cache-Control": "no-store"}
                )
            return endpoint(request, viewer)

        return handler

    return decorate
