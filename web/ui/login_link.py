"""`/login/link/{code}`: a one-time login link (web/login_links.py), as `runledger demo`
prints. Opening it shows a button; only the POST (CSRF-checked like the login form)
uses the code, so a link preview or a prefetch never spends it."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.context import context_of
from web.login_links import LoginLinks
from web.ui.access import codec_of
from web.ui.csrf import FIELD, LOGIN_COOKIE, LOGIN_MAX_AGE, LoginCsrf, matches, same_origin
from web.ui.forms import read_form
from web.ui.render import render
from web.ui.session import COOKIE, Session, clear_cookie, set_cookie

__all__ = ["login_link_form", "login_link_submit"]

log = logging.getLogger("runledger.web")
SPENT = "This login link was already used, or it has expired. Log in with a token instead."


def _csrf(request: Request) -> LoginCsrf:
    return LoginCsrf(context_of(request).settings.secret_key)


def _page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    secret, cookie = _csrf(request).issue()
    code = request.path_params["code"]
    values = {"code": code, "login_csrf": secret, "error": error}
    response = render(request, "login_link.html", values, status=status)
    set_cookie(response, request, LOGIN_COOKIE, cookie, max_age=LOGIN_MAX_AGE)
    return response


async def login_link_form(request: Request) -> Response:
    if len(request.path_params["code"]) > 100:
        return _page(request, error=SPENT, status=404)
    return _page(request)


async def login_link_submit(request: Request) -> Response:
    form = await read_form(request)
    expected = _csrf(request).secret_in(request.cookies.get(LOGIN_COOKIE))
    if not same_origin(request) or not matches(expected, form.get(FIELD)):
        return _page(request, error="This page expired; press the button again.", status=403)
    context = context_of(request)
    now = context.clock()
    links = LoginLinks(context.view.connections)
    token_id = await run_in_threadpool(links.use, request.path_params["code"], now)
    info = await run_in_threadpool(context.tokens.get, token_id) if token_id else None
    if info is None or info.is_revoked:
        log.warning("a login link was refused: used, expired, unknown or revoked")
        return _page(request, error=SPENT, status=401)
    session = Session.open(info.id, info.operator, now)
    response = RedirectResponse("/operations", status_code=303)
    set_cookie(response, request, COOKIE, codec_of(request).dumps(session))
    clear_cookie(response, request, LOGIN_COOKIE)
    log.info("operator %r logged in with a one-time link (token %s)", info.operator, info.id)
    return response
