"""Who is asking, and may they: the one resolver every API route goes through.

A request without a valid bearer token is a 401 (with `WWW-Authenticate`); a token
without the capability a route needs is a 403 naming it. What a token may *see* is its
`Scope`, which the read API applies itself: a run of another workspace is a 404, exactly
like a run that does not exist.
"""

from __future__ import annotations

from starlette.requests import Request

from web.context import context_of
from web.errors import ApiError
from web.tokens import Principal

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="runledger"'}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def api_principal(request: Request, capability: str) -> Principal:
    """The token's principal, if it may use `capability`; else a 401 or a 403."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "send a token: Authorization: Bearer <token>", headers=dict(_CHALLENGE))
    context = context_of(request)
    principal = context.tokens.authenticate(token, context.clock())
    if principal is None:
        raise ApiError(
            401, "the token is not valid (revoked, or never issued)", headers=dict(_CHALLENGE)
        )
    if not principal.can(capability):
        raise ApiError(403, f"this token lacks the {capability} capability")
    return principal
