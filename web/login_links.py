"""One-time login links: a URL that opens a session for a token once, then never again.

`runledger demo` prints one so a newcomer is in the dashboard with one click, without
copying a token. The link's code is high-entropy and stored only as a hash beside the
token it stands for; using it is one UPDATE that succeeds for the first caller only, and
it expires unused after a while. The token itself never appears in a URL.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from projections.schema import Table
from web.tokens import Connections

TABLE = Table(
    name="web_login_links",
    columns=(
        ("code_hash", "TEXT NOT NULL"),  # sha256 of the code, hex; never the code
        ("token_id", "TEXT NOT NULL"),
        ("created_at", "{ts} NOT NULL"),
        ("expires_at", "{ts} NOT NULL"),
        ("used_at", "{ts}"),
    ),
    primary_key=("code_hash",),
)
DEFAULT_LIFETIME = timedelta(hours=1)  # made by `runledger migrate` (web/token_schema.py)
PATH = "/login/link/"


# A code in a path, as an access log line names it ("GET /login/link/<code> HTTP/1.1").
_CODE_IN_PATH = re.compile(re.escape(PATH) + r"[^/?#\s\"]+")
HIDDEN_CODE = PATH + "<code>"


class HideLoginCodes(logging.Filter):
    """Takes login links' codes out of a logger's records (`runledger web` puts it on
    uvicorn's access log). A code is a credential until it is used or expires, and
    opening a link (GET) does not spend it: a log reader must not be able to use it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CODE_IN_PATH.sub(HIDDEN_CODE, arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _CODE_IN_PATH.sub(HIDDEN_CODE, record.msg)
        return True


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class LoginLinks:
    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def create(self, token_id: str, now: datetime, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
        """A new link's code (the path is PATH + code); shown once, stored as a hash."""
        code = secrets.token_urlsafe(32)
        with self.connections.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO {s}web_login_links (code_hash, token_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (_hash(code), token_id, conn.time_in(now), conn.time_in(now + lifetime)),
            )
        return code

    def use(self, code: str, now: datetime) -> str | None:
        """The token id the code stands for, the first time it is used before it expires."""
        if not code or len(code) > 100:
            return None
        with self.connections.connection() as conn, conn.transaction():
            stamp = conn.time_in(now)
            rows = conn.execute(
                "UPDATE {s}web_login_links SET used_at = ? "
                "WHERE code_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING token_id",
                (stamp, _hash(code), stamp),
            )
        return str(rows[0][0]) if rows else None
