"""Where to go after logging in: only ever a path on this site.

`next` comes from a URL anyone can craft, so it is an open-redirect vector:
`//evil.example`, `https://evil.example`, `/\\evil.example` (which browsers read as
`//evil.example`), or a value carrying CR/LF to forge headers. Anything that is not a
plain local path falls back to the operations index.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.requests import Request

__all__ = ["DEFAULT_NEXT", "login_url", "safe_next"]

DEFAULT_NEXT = "/operations"
_MAX_LENGTH = 2000
_NOT_AFTER_LOGIN = ("/login", "/logout")


def safe_next(text: str | None) -> str:
    """`text` when it is a local path (with its query), else `DEFAULT_NEXT`."""
    if not text or len(text) > _MAX_LENGTH or not text.startswith("/"):
        return DEFAULT_NEXT
    if text.startswith("//") or "\\" in text or not text.isprintable() or " " in text:
        return DEFAULT_NEXT
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    if parts.path in _NOT_AFTER_LOGIN:
        return DEFAULT_NEXT
    return text


def login_url(request: Request) -> str:
    """`/login?next=<this page>`, for a request that needs a session."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(safe_next(here), safe='')}"
