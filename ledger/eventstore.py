"""Everything runledger relies on in eventsourcing beyond its public API, in one place.

The ledger saves, reads and decodes runs faster than the library's public paths allow
by leaning on a few of its internals: the `_record`/`_take_snapshots`/`_notify` steps
of `Application.save`, a `ProcessingEvent`, the PostgreSQL recorder's datastore, the
tables and NOTIFY channel its factories name, and the JSON layout of its transcoder.
No other shipped module touches them, and tests/unit/test_eventsourcing_internals.py
pins each one, so an eventsourcing release that changes any of them fails there, loudly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast
from uuid import UUID

import orjson
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import Mapper, Recording, StoredEvent

from ledger.prefetch import RunReader
from ledger.run import OperationRun

if TYPE_CHECKING:
    from eventsourcing.postgres import PostgresAggregateRecorder

    from ledger.settings import DatabaseSettings

# RunLedger's `name`: eventsourcing's PostgreSQL factory names the table after it.
APPLICATION_NAME = "RunLedger"
SQLITE_EVENTS_TABLE = "stored_events"  # SQLite's factory ignores the application's name
# The fields eventsourcing adds to every stored event's JSON; they are not its details.
BOOKKEEPING_FIELDS = ("originator_topic", "class_version")

# -- writing ---------------------------------------------------------------------------------


def save_runs(app: Application[UUID], runs: Sequence[OperationRun]) -> list[Recording[UUID]]:
    """`Application.save` of runs, without `ProcessingEvent.collect_events`' per-object
    runtime protocol checks (on Python 3.11 they cost more than building the event):
    the same record, snapshot and notify steps, in the same order."""
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for run in runs:
        processing.events.extend(run.collect_events())
        processing.aggregates[run.id] = run
    recordings = app._record(processing)
    app._take_snapshots(processing)
    app._notify(recordings)
    return recordings


# -- reading many runs at once ---------------------------------------------------------------


def fold_runs(mapper: Mapper[UUID], records: Iterable[StoredEvent]) -> list[OperationRun]:
    """The runs whose stored events `records` holds (each run's in version order):
    eventsourcing's `project_aggregate`, without its per-event protocol assertion."""
    stored: dict[UUID | str, list[StoredEvent]] = {}
    for record in records:
        stored.setdefault(record.originator_id, []).append(record)
    found = []
    for run_records in stored.values():
        run: OperationRun | None = None
        for record in run_records:
            event = cast("OperationRun.Event", mapper.to_domain_event(record))
            run = event.mutate(run)
        if isinstance(run, OperationRun):
            found.append(run)
    return found


def bulk_reader(app: Application[UUID]) -> RunReader | None:
    """Reads the runs of many ids in one query, or None where the store has no such read
    (SQLite: a local read per run costs no round trip)."""
    if "eventsourcing.postgres" not in sys.modules:
        return None  # no PostgreSQL recorder exists, and importing one loads psycopg
    from eventsourcing.postgres import PostgresAggregateRecorder

    if not isinstance(app.recorder, PostgresAggregateRecorder):
        return None
    return PostgresRunReader(app.recorder, app.mapper)


class PostgresRunReader:
    """One query for the stored events of many runs, through the PostgreSQL recorder's own
    connection pool and error translation, so store errors look exactly like its own.
    psycopg is imported only once such a recorder exists: `import ledger` loads no driver."""

    def __init__(self, recorder: PostgresAggregateRecorder, mapper: Mapper[UUID]) -> None:
        from psycopg.sql import SQL, Identifier

        self.mapper = mapper
        self.datastore = recorder.datastore
        self.statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )

    def __call__(self, run_ids: Sequence[UUID]) -> list[OperationRun]:
        return fold_runs(self.mapper, self.records(run_ids))

    def records(self, run_ids: Sequence[UUID]) -> list[StoredEvent]:
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


# -- the tables, as eventsourcing names them -------------------------------------------------


def events_table(settings: DatabaseSettings) -> str:
    """The event store's table, as eventsourcing's factories name it for RunLedger."""
    if settings.is_postgres:
        return f"{APPLICATION_NAME.lower()}_events"
    return SQLITE_EVENTS_TABLE


def notification_channel(settings: DatabaseSettings) -> str:
    """The PostgreSQL channel the recorder NOTIFYs after each insert."""
    return events_table(settings).replace(".", "_")


class LogStatements(NamedTuple):
    """The notification log read over a read-model connection (`{s}`: the schema)."""

    select: str  # (after, limit) -> notification id, originator id, version, topic, state
    head: str  # the last notification id
    count_after: str  # (after,) -> how many notifications follow


def log_statements(settings: DatabaseSettings) -> LogStatements:
    """The notification id is a column on PostgreSQL and the rowid on SQLite."""
    table = events_table(settings)
    if settings.is_postgres:
        return LogStatements(
            "SELECT notification_id, originator_id::text, originator_version, topic, state "
            f"FROM {{s}}{table} WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
            f"SELECT MAX(notification_id) FROM {{s}}{table}",
            f"SELECT COUNT(*) FROM {{s}}{table} WHERE notification_id > ?",
        )
    return LogStatements(
        "SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
        f"SELECT MAX(rowid) FROM {table}",
        f"SELECT COUNT(*) FROM {table} WHERE rowid > ?",
    )


# -- the stored JSON, as eventsourcing's transcoder writes it --------------------------------


def _unwrap(obj: dict[str, Any]) -> Any:
    """A transcoded value (`{"_type_": ..., "_data_": ...}`) in its JSON form."""
    if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
        return obj["_data_"]
    return obj


def _unwrap_all(value: Any) -> Any:
    """`_unwrap` applied bottom-up, as the stdlib decoder's object_hook would."""
    if isinstance(value, dict):
        return _unwrap({key: _unwrap_all(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_unwrap_all(item) for item in value]
    return value


_decoder = json.JSONDecoder(object_hook=_unwrap)
_WRAPPED = b'"_type_"'


def stored_state(state: bytes) -> dict[str, Any]:
    """A stored event's JSON with its transcoder wrappers unwrapped: ISO times, hex UUIDs
    and decimal strings, without building the domain event.

    orjson is faster than the stdlib decoder but has no object_hook (docs/benchmarks.md);
    every event wraps its timestamp, so only a state with a second wrapper is walked. JSON
    orjson refuses (NaN, integers past 64 bits, which Python's encoder writes) takes the
    stdlib."""
    try:
        data: dict[str, Any] = orjson.loads(state)
    except orjson.JSONDecodeError:
        return _decoder.decode(bytes(state).decode("utf-8"))  # type: ignore[no-any-return]
    if state.count(_WRAPPED) > 1:
        return _unwrap_all(data)  # type: ignore[no-any-return]
    stamp = data.get("timestamp")
    if isinstance(stamp, dict):
        data["timestamp"] = _unwrap(stamp)
    return data


def run_id_text(originator_id: Any) -> str:
    """A stored originator id as canonical UUID text: PostgreSQL's uuid arrives as text
    (`::text`), SQLite's as 32 hex digits, which slicing turns into text cheaper than
    UUID() does (docs/benchmarks.md)."""
    if isinstance(originator_id, str):
        if len(originator_id) == 36:
            return originator_id
        if len(originator_id) == 32:
            h = originator_id.lower()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))
