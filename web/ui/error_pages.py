"""The HTML error pages: what web/errors.py answers for a path outside the JSON API.

Same statuses as the API, told for a person: 404 (an unknown page, an unknown run and
another workspace's run read exactly alike: the page never reveals that a run exists),
403 naming the missing capability and how to get it, 405, 503 when the database is not
answering. A bad filter is not an error page: the page itself answers 400 with the form
intact (web/ui/operations.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from web.errors import ApiError
from web.ui.render import render

__all__ = ["error_page"]

TITLES = {
    400: "That request could not be read",
    401: "Log in to continue",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    503: "The ledger is not answering",
}
_GENERIC = {"Not Found", "Method Not Allowed"}  # Starlette's own words for its exceptions


def _message(request: Request, error: ApiError) -> str:
    if error.message not in _GENERIC:
        said = error.message[:1].upper() + error.message[1:]
        return said if said.endswith((".", "!", "?")) else f"{said}."
    if error.status == 405 and request.url.path == "/logout":
        return "Log out with the Log out button at the top of any page."
    if error.status == 405:
        return "This address does not take that kind of request."
    return "There is nothing at this address in your workspaces."


def _hint(error: ApiError) -> str | None:
    if error.status == 403 and error.code == "missing_capability" and error.parameter:
        return (
            f"Ask an administrator for a token with the {error.parameter} capability "
            f"(runledger token create … --capability {error.parameter}), then log in with it."
        )
    if error.status == 404:
        return "Check the link, or look for the run in the operations list."
    if error.status == 503:
        return "Nothing is lost: the page will work again once the database answers."
    return None


def error_page(request: Request, error: ApiError) -> Response:
    values = {
        "status": error.status,
        "title": TITLES.get(error.status, "Something went wrong"),
        "message": _message(request, error),
        "hint": _hint(error),
        "capability": error.parameter if error.code == "missing_capability" else None,
    }
    return render(request, "error.html", values, status=error.status, headers=error.headers)
