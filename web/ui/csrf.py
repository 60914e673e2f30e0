"""Cross-site request forgery: every POST must echo a secret a foreign page cannot read.

After login the secret lives in the signed session (web/ui/session.py) and each form
carries it in a hidden field. Before login there is no session, so `/login` sets a
short-lived signed cookie holding a random secret and its form echoes that (a
"double submit" whose cookie an attacker cannot mint, because it is signed). On top,
a POST whose `Origin` header names another site is refused: SameSite=Lax cookies
already keep a cross-site POST anonymous, and this refuses it outright.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request

__all__ = ["FIELD", "LOGIN_COOKIE", "LOGIN_MAX_AGE", "LoginCsrf", "matches", "same_origin"]

FIELD = "csrf"  # the hidden field's name in every form
LOGIN_COOKIE = "runledger_login"
LOGIN_MAX_AGE = 3600  # seconds a login form stays usable


def matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing value on either side never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (or from nowhere)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every client; the CSRF secret still decides
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


class LoginCsrf:
    """The login form's secret: random, carried in a signed cookie, echoed by the form."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="runledger.web.login-csrf")

    def issue(self) -> tuple[str, str]:
        """(secret for the form, value for the cookie)."""
        secret = secrets.token_urlsafe(32)
        return secret, str(self._serializer.dumps(secret))

    def secret_in(self, cookie: str | None) -> str | None:
        if not cookie or len(cookie) > 512:
            return None
        try:
            secret = self._serializer.loads(cookie)
        except BadSignature:
            return None
        return secret if isinstance(secret, str) else None
