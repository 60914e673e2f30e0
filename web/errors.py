"""Errors as the contract's JSON, `{"error": {"code", "message"}}`, and never a 500 for input.

Routes raise `ApiError`; outside `/api/` a browser gets the same error as an HTML page
(web/ui/error_pages.py) instead. The handlers here also turn the read API's typed refusals
(`ReadRequestError`: a bad cursor) into a 400 naming the parameter, and a database
that does not answer into a 503 that says so (the next request reconnects by itself).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from projections import ReadRequestError
from projections.db import DISCONNECTED

log = logging.getLogger("runledger.web")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.parameter = parameter
        self.headers = headers or {}


def bad_parameter(parameter: str, message: str) -> ApiError:
    return ApiError(400, message, code="invalid_parameter", parameter=parameter)


def not_found(what: str = "no such resource") -> ApiError:
    return ApiError(404, what)


def error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.parameter is not None:
        body["parameter"] = error.parameter
    return {"error": body}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error), status_code=error.status, headers=error.headers)


def as_api_error(exc: Exception) -> ApiError | None:
    """The ApiError an exception stands for, or None for a bug (a real 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ReadRequestError):
        return bad_parameter(exc.parameter, str(exc))
    if isinstance(exc, HTTPException):
        return ApiError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
    if isinstance(exc, DISCONNECTED) or _is_missing_table(exc):
        log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else exc)
        message = (
            "the ledger's tables do not exist: run `runledger migrate`"
            if _is_missing_table(exc)
            else "the ledger database is not answering; retry shortly"
        )
        return ApiError(503, message, code="database_unavailable", headers={"Retry-After": "5"})
    return None


def _is_missing_table(exc: Exception) -> bool:
    text = str(exc)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


async def handle_error(request: Request, exc: Exception) -> Response:
    error = as_api_error(exc)
    if error is None:
        raise exc
    return _html_error_page(request, error) or error_response(error)


# -- HTML error pages (web/ui), for the paths a browser shows ------------------------------

_JSON_PATHS = ("/healthz", "/metrics")


def _html_error_page(request: Request, error: ApiError) -> Response | None:
    """The HTML views' page for this error, for a path outside the JSON API (None when
    the path is the API's, or the web/ui package is not installed)."""
    path = request.url.path
    if path.startswith("/api/") or path in _JSON_PATHS:
        return None
    try:
        from web.ui.error_pages import error_page
    except ImportError:
        return None
    return error_page(request, error)
