"""Operators' API tokens: shown once in clear, stored only as a hash, checked in constant time.

A token reads `rlt_<id>_<secret>`. The id is public (it names the token in `runledger
token list` and `revoke`) and lets authentication load exactly one row; the secret is
256 random bits, so a plain SHA-256 of the token is as strong as a slow password hash
would be, and costs a request nothing. The database never holds the token itself: a
copy of the table lets no one in.

Every way a presented token can fail (it does not parse, its id is unknown, its secret
is wrong, it was revoked) answers the same `None`, so a caller cannot probe which
tokens exist.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ledger import LedgerError
from projections.db import Connection, Row
from projections.scope import EVERY_WORKSPACE, Scope
from web.token_schema import TABLE, migrate_web

__all__ = [
    "AUDIT_READ",
    "CAPABILITIES",
    "LAST_USED_RESOLUTION",
    "RUNS_READ",
    "Connections",
    "Principal",
    "TokenError",
    "TokenInfo",
    "TokenStore",
    "migrate_web",
]

RUNS_READ = "runs:read"
AUDIT_READ = "audit:read"
CAPABILITIES = (RUNS_READ, AUDIT_READ)

# last_used_at is recorded to this resolution, so that authenticating (every API request)
# writes at most once a minute per token instead of turning each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_TOKEN = re.compile(r"rlt_(tok_[0-9a-f]{10})_([A-Za-z0-9_-]{43})")
# Compared against when the id is unknown, so that case costs what a wrong secret costs.
_NO_SUCH_HASH = hashlib.sha256(b"no such token").hexdigest()
_COLUMNS = ", ".join(TABLE.column_names)
_HASH_AT = TABLE.column_names.index("token_hash")


class Connections(Protocol):
    """Where the store gets autocommit connections: `projections.pool.ReadConnections`."""

    def connection(self) -> AbstractContextManager[Connection]: ...


class TokenError(LedgerError):
    """A token cannot be made as asked: no operator, no workspace, an unknown capability."""


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for: an operator, in some workspaces, with some capabilities."""

    token_id: str
    operator: str
    scope: Scope
    capabilities: frozenset[str]

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: everything but the token and its hash."""

    id: str
    operator: str
    workspaces: tuple[str, ...]
    capabilities: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operator": self.operator,
            "workspaces": list(self.workspaces),
            "capabilities": list(self.capabilities),
            "created_at": _iso(self.created_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


class TokenStore:
    """Creates, lists, revokes and authenticates tokens in the ledger's database."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    def create(
        self,
        operator: str,
        workspaces: Iterable[str],
        capabilities: Iterable[str],
        now: datetime,
    ) -> tuple[TokenInfo, str]:
        """A new token and its info; the returned token is the only copy there will be.

        No capability given grants all of them, so `token create` without
        `--capability` makes a token that can read everything in its workspaces.
        """
        info = TokenInfo(
            id=f"tok_{secrets.token_hex(5)}",
            operator=check_operator(operator),
            workspaces=check_workspaces(workspaces),
            capabilities=check_capabilities(capabilities),
            created_at=now,
            last_used_at=None,
            revoked_at=None,
        )
        token = f"rlt_{info.id}_{secrets.token_urlsafe(32)}"
        with self._connections.connection() as conn, conn.transaction():
            conn.execute(
                f"INSERT INTO {{s}}{TABLE.name} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.id,
                    info.operator,
                    json.dumps(list(info.workspaces)),
                    json.dumps(list(info.capabilities)),
                    _hash(token),
                    conn.time_in(now),
                    None,
                    None,
                ),
            )
        return info, token

    def list(self) -> builtins.list[TokenInfo]:
        """Every token, oldest first, revoked ones included (they say when)."""
        with self._connections.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM {{s}}{TABLE.name} ORDER BY created_at, id")
            return [_info(conn, row) for row in rows]

    def get(self, token_id: str) -> TokenInfo | None:
        """One token's info by its public id (what `token revoke` names), or None."""
        with self._connections.connection() as conn:
            row = _load(conn, token_id)
            return None if row is None else _info(conn, row)

    def revoke(self, token_id: str, now: datetime) -> bool:
        """Revokes at once (the next authenticate fails); False when no token has that id.

        Revoking a revoked token keeps the first revocation's time.
        """
        with self._connections.connection() as conn, conn.transaction():
            conn.execute(
                f"UPDATE {{s}}{TABLE.name} SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (conn.time_in(now), token_id),
            )
            return _load(conn, token_id) is not None

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        """The principal a presented token speaks for, or None, whatever is wrong with it."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        with self._connections.connection() as conn:
            row = _load(conn, match.group(1))
            stored = _NO_SUCH_HASH if row is None else str(row[_HASH_AT])
            if not hmac.compare_digest(stored, _hash(token)) or row is None:
                return None
            info = _info(conn, row)
            if info.is_revoked:
                return None
            if _is_due(info.last_used_at, now):
                _record_use(conn, info.id, now)
        return Principal(
            token_id=info.id,
            operator=info.operator,
            scope=Scope.of(info.workspaces),
            capabilities=frozenset(info.capabilities),
        )


def check_operator(operator: str) -> str:
    name = operator.strip()
    if not name:
        raise TokenError("a token needs an operator name", hint="pass --operator NAME")
    _check_printable("operator name", name)
    return name


def check_workspaces(workspaces: Iterable[str]) -> tuple[str, ...]:
    """The workspaces a token grants, sorted; `*` (every workspace) stands alone."""
    names = [name.strip() for name in workspaces]
    if not names:
        raise TokenError("a token needs at least one workspace", hint="pass --workspace W")
    if not all(names):
        raise TokenError(
            "a workspace name cannot be empty",
            hint=f"name a workspace, or {EVERY_WORKSPACE!r} for every workspace",
        )
    for name in names:
        _check_printable("workspace name", name)
    if EVERY_WORKSPACE in names:
        return (EVERY_WORKSPACE,)
    return tuple(sorted(set(names)))


def check_capabilities(capabilities: Iterable[str]) -> tuple[str, ...]:
    """The capabilities a token grants, in `CAPABILITIES` order; none given grants all."""
    wanted = {name.strip() for name in capabilities}
    unknown = sorted(wanted - set(CAPABILITIES))
    if unknown:
        raise TokenError(
            f"unknown capability {', '.join(map(repr, unknown))}",
            hint=f"choose from {', '.join(CAPABILITIES)}",
        )
    return tuple(c for c in CAPABILITIES if c in wanted) if wanted else CAPABILITIES


def _check_printable(what: str, name: str) -> None:
    # A newline or escape sequence in a name would forge lines of `token list` and logs.
    if not name.isprintable():
        raise TokenError(f"the {what} {name!r} holds control characters")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _load(conn: Connection, token_id: str) -> Row | None:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM {{s}}{TABLE.name} WHERE id = ?", (token_id,))
    return rows[0] if rows else None


def _info(conn: Connection, row: Row) -> TokenInfo:
    token_id, operator, workspaces, capabilities, _token_hash, created, used, revoked = row
    created_at = conn.time_out(created)
    assert created_at is not None  # NOT NULL in the table
    return TokenInfo(
        id=token_id,
        operator=operator,
        workspaces=tuple(conn.json_out(workspaces)),
        capabilities=tuple(conn.json_out(capabilities)),
        created_at=created_at,
        last_used_at=conn.time_out(used),
        revoked_at=conn.time_out(revoked),
    )


def _is_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


def _record_use(conn: Connection, token_id: str, now: datetime) -> None:
    # The condition repeats the check, so concurrent requests of one token write once.
    with conn.transaction():
        conn.execute(
            f"UPDATE {{s}}{TABLE.name} SET last_used_at = ? "
            "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
            (conn.time_in(now), token_id, conn.time_in(now - LAST_USED_RESOLUTION)),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
