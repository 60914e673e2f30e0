"""One query for the stored events of many runs (PostgreSQL), for a worker's ledger.

A group-committed batch holds the `Started` of several runs the worker has never seen;
reading them one `select_events` at a time costs a round trip and a query each. This
reads them all at once, through the recorder's own connection pool and error
translation, so store errors look exactly like the recorder's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.sql import SQL, Identifier

from ledger import RunLedger


class PostgresRunReader:
    """`RunLedger.select_many` for a ledger on eventsourcing's PostgreSQL recorder."""

    def __init__(self, recorder: PostgresAggregateRecorder) -> None:
        self.datastore = recorder.datastore
        self.statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )

    def __call__(self, run_ids: Sequence[UUID]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.statement, (list(run_ids),), prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]


def use_bulk_reads(ledger: RunLedger) -> RunLedger:
    """Lets the ledger read a batch's unseen runs in one query (PostgreSQL only)."""
    if isinstance(ledger.recorder, PostgresAggregateRecorder):
        ledger.select_many = PostgresRunReader(ledger.recorder)
    return ledger
