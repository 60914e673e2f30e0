"""Reading the small urlencoded forms the HTML views post (login, logout).

Starlette's `request.form()` needs python-multipart, which this package does not
depend on for two one-field forms. The body is read with a size limit, so a large
POST costs nothing, and a malformed one is a 400, never a 500.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from web.errors import ApiError

__all__ = ["MAX_FORM_BYTES", "read_form"]

MAX_FORM_BYTES = 8 * 1024
_MAX_FIELDS = 16
_FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the first value of each); a 400 for anything but a small form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != _FORM_TYPE:
        raise ApiError(400, f"send the form as {_FORM_TYPE}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ApiError(400, "the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form could not be read") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
