"""The `web_tokens` table: operators' API tokens, stored only as hashes.

It lives in the ledger's database beside the read models, so `runledger migrate`
creates it with everything else and the web app needs no second store. It is declared
with the read models' `Table`, so its SQL speaks the same dialect-neutral types.
"""

from __future__ import annotations

from ledger import DatabaseSettings
from projections.db import Connection
from projections.schema import Table

TABLE = Table(
    name="web_tokens",
    columns=(
        ("id", "TEXT NOT NULL"),  # public: shown by `token list`, named by `token revoke`
        ("operator", "TEXT NOT NULL"),
        ("workspaces", "{json} NOT NULL"),  # a JSON list of names; ["*"] is every workspace
        ("capabilities", "{json} NOT NULL"),  # a JSON list, e.g. ["runs:read", "audit:read"]
        ("token_hash", "TEXT NOT NULL"),  # sha256 of the whole token, hex; never the token
        ("created_at", "{ts} NOT NULL"),
        ("last_used_at", "{ts}"),
        ("revoked_at", "{ts}"),
    ),
    # Tokens are looked up by the id parsed out of the presented token, and nothing else.
    primary_key=("id",),
)


def migrate_web(settings: DatabaseSettings) -> str:
    """The `runledger migrate` step of the web app's own tables (safe to run again)."""
    from web.login_links import TABLE as LOGIN_LINKS

    with Connection(settings) as conn, conn.transaction():
        TABLE.create(conn)
        LOGIN_LINKS.create(conn)
    return "web: ready"
