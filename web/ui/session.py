"""The HTML views' session: a signed, dated cookie naming the token it was opened with.

The cookie holds the token's public id, the operator, a CSRF secret and when it was
issued, signed with `RUNLEDGER_SECRET_KEY` (itsdangerous): it cannot be forged or
edited, and it is refused past `MAX_AGE` by the server's own clock (not only by the
browser's Max-Age). It never holds the token itself. The token behind it is re-read on
every request (see web/ui/access.py), so revoking a token ends its sessions at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "COOKIE",
    "MAX_AGE",
    "Session",
    "SessionCodec",
    "clear_cookie",
    "is_https",
    "set_cookie",
]

COOKIE = "runledger_session"
MAX_AGE = 12 * 3600  # seconds: a working day, then log in again
_CLOCK_SKEW = 60  # seconds a cookie's issue time may lie in the server's future
_SALT = "runledger.web.session"
_VERSION = 1


@dataclass(frozen=True)
class Session:
    """Who logged in, with which token, and the secret their forms must echo back."""

    token_id: str
    operator: str
    csrf: str
    issued_at: float  # seconds since the epoch

    @classmethod
    def open(cls, token_id: str, operator: str, now: datetime) -> Session:
        """A fresh session (a new CSRF secret each login, so no session is ever reused)."""
        return cls(token_id, operator, secrets.token_urlsafe(32), now.timestamp())


class SessionCodec:
    """Signs sessions into cookie values and reads them back, refusing any doubt."""

    def __init__(self, secret_key: str, max_age: int = MAX_AGE) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)
        self.max_age = max_age

    def dumps(self, session: Session) -> str:
        payload = [_VERSION, session.token_id, session.operator, session.csrf, session.issued_at]
        return str(self._serializer.dumps(payload))

    def loads(self, text: str | None, now: datetime) -> Session | None:
        """The session in a cookie value; None when it is absent, tampered or expired."""
        if not text or len(text) > 4096:
            return None
        try:
            payload: Any = self._serializer.loads(text)
        except BadSignature:
            return None
        session = _session_of(payload)
        if session is None:
            return None
        age = now.timestamp() - session.issued_at
        if not -_CLOCK_SKEW <= age <= self.max_age:
            return None
        return session


def _session_of(payload: Any) -> Session | None:
    if not isinstance(payload, list) or len(payload) != 5 or payload[0] != _VERSION:
        return None
    _, token_id, operator, csrf, issued_at = payload
    texts = all(isinstance(value, str) and value for value in (token_id, operator, csrf))
    if not texts or not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        return None
    return Session(token_id, operator, csrf, float(issued_at))


def is_https(request: Request) -> bool:
    """True when the browser reached us over https (directly, or through a proxy that says
    so). It only decides the cookie's Secure flag: a lie can only make it stricter."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int = MAX_AGE
) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no cross-site POST carries it), Secure
    behind https, and dated."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=is_https(request))
