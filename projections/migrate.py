"""The `runledger migrate` step that creates the read models' tables."""

from __future__ import annotations

from ledger import DatabaseSettings
from projections.db import Connection
from projections.projector import create_tables


def migrate_read_models(settings: DatabaseSettings) -> str:
    with Connection(settings) as conn:
        added = create_tables(conn)
    if added:
        return (
            f"read models: ready; added {', '.join(added)}: "
            "run `runledger replay` to fill them from the events"
        )
    return "read models: ready"
