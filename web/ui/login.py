"""`/login` (a form taking a token) and `/logout` (a POST), both CSRF-protected.

A good token opens a new session (a new CSRF secret; web/ui/session.py) and sends the
browser on to `next`, which only ever leads to a local path (web/ui/next_path.py). A
refused login is logged on "runledger.web" with the client's address and, when the
text has a token's shape, its public id: never the token or what was typed.
"""

from __future__ import annotations

import logging
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.context import context_of
from web.errors import ApiError
from web.tokens import RUNS_READ
from web.ui.access import codec_of, current_viewer
from web.ui.csrf import FIELD, LOGIN_COOKIE, LOGIN_MAX_AGE, LoginCsrf, matches, same_origin
from web.ui.forms import read_form
from web.ui.next_path import DEFAULT_NEXT, safe_next
from web.ui.render import render
from web.ui.session import COOKIE, Session, clear_cookie, set_cookie

__all__ = ["login_form", "login_submit", "logout"]

log = logging.getLogger("runledger.web")
_TOKEN_ID = re.compile(r"rlt_(tok_[0-9a-f]{10})_")
_MAX_TOKEN = 200


def _login_csrf(request: Request) -> LoginCsrf:
    return LoginCsrf(context_of(request).settings.secret_key)


def _form_page(
    request: Request, next_path: str, *, error: str | None = None, notice: str | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    """The login form with a fresh CSRF secret (and the cookie holding it)."""
    secret, cookie = _login_csrf(request).issue()
    values = {"next": next_path, "error": error, "notice": notice, "login_csrf": secret}
    response = render(request, "login.html", values, status=status)
    set_cookie(response, request, LOGIN_COOKIE, cookie, max_age=LOGIN_MAX_AGE)
    return response


def _asked(text: str | None) -> str:
    """The `next` the form carries: a safe local path, or "" when none was asked for."""
    return safe_next(text) if text else ""


async def login_form(request: Request) -> Response:
    next_path = _asked(request.query_params.get("next"))
    if await run_in_threadpool(current_viewer, request) is not None:
        return RedirectResponse(next_path or DEFAULT_NEXT, status_code=303)
    notice = None
    if request.query_params.get("logged_out"):
        notice = "You are logged out."
    elif COOKIE in request.cookies:
        notice = "Your session has ended (it expired, or its token was revoked). Log in again."
    response = _form_page(request, next_path, notice=notice)
    if COOKIE in request.cookies:
        clear_cookie(response, request, COOKIE)
    return response


async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    next_path = _asked(form.get("next"))
    expected = _login_csrf(request).secret_in(request.cookies.get(LOGIN_COOKIE))
    if not same_origin(request) or not matches(expected, form.get(FIELD)):
        log.warning("login refused from %s: the form's CSRF check failed", _client(request))
        error = "This login form expired or did not come from this site. Please try again."
        return _form_page(request, next_path, error=error, status=403)
    token = form.get("token", "").strip()[:_MAX_TOKEN]
    context = context_of(request)
    now = context.clock()
    principal = await run_in_threadpool(context.tokens.authenticate, token, now) if token else None
    if principal is None:
        found = _TOKEN_ID.match(token)
        named = f" (token id {found.group(1)})" if found else ""
        log.warning("login refused from %s: the token is not valid%s", _client(request), named)
        error = "That token is not valid: it was revoked, mistyped, or never issued."
        return _form_page(request, next_path, error=error, status=401)
    if not next_path:  # nothing asked: the first page this token may see
        next_path = DEFAULT_NEXT if principal.can(RUNS_READ) else "/audit"
    session = Session.open(principal.token_id, principal.operator, now)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(response, request, COOKIE, codec_of(request).dumps(session))
    clear_cookie(response, request, LOGIN_COOKIE)
    log.info("operator %r logged in with token %s", principal.operator, principal.token_id)
    return response


async def logout(request: Request) -> Response:
    form = await read_form(request)
    viewer = await run_in_threadpool(current_viewer, request)
    if viewer is not None and (
        not same_origin(request) or not matches(viewer.session.csrf, form.get(FIELD))
    ):
        raise ApiError(403, "This logout form did not come from this site; use the Log out button.")
    response = RedirectResponse("/login?logged_out=1", status_code=303)
    clear_cookie(response, request, COOKIE)
    if viewer is not None:
        log.info("operator %r logged out", viewer.principal.operator)
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "an unknown address"
