"""Reading the ledger's notification log and decoding its events straight from JSON.

Replaying a million events through eventsourcing's mapper builds a domain-event object
per event; the read models only need a few fields, so they decode the stored JSON
themselves. This stays correct because it mirrors the mapper: the same topics (resolved
through eventsourcing's topic registry, so a renamed class still maps), the same
`_type_`/`_data_` wrappers (unwrapped to their JSON form: ISO times, hex UUIDs, decimal
strings), and the upcasts the ledger defines (Heartbeat v1 had no `progress`, Queued v1
no `queue_name`).
tests/unit/test_projection_events.py checks it against the mapper for every event type.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic, resolve_topic

from ledger import DatabaseSettings, OperationRun
from projections.db import Connection, canonical_time, events_table

# The kind of each ledger event: also the timeline's `event` and the audit log's action.
KINDS: dict[type[Any], str] = {
    OperationRun.Queued: "queued",
    OperationRun.Started: "started",
    OperationRun.Heartbeat: "heartbeat",
    OperationRun.RetryScheduled: "retry_scheduled",
    OperationRun.Completed: "completed",
    OperationRun.QueueFailed: "queue_failed",
    OperationRun.ReconciledStale: "reconciled_stale",
    OperationRun.LateSignalRecorded: "late_signal_recorded",
}
_KIND_BY_TOPIC = {get_topic(cls): kind for cls, kind in KINDS.items()}
# Bookkeeping fields every stored event carries; they are not the event's details.
_BOOKKEEPING = ("timestamp", "actor", "originator_topic", "class_version")
_BOOKKEEPING_REST = _BOOKKEEPING[2:]  # decode takes the first two out itself


class LedgerEvent(NamedTuple):
    """One stored event, as the read models see it (a tuple: a million are built per replay)."""

    position: int  # the notification id: the event's place in the whole ledger
    run_id: str  # canonical UUID text
    version: int  # the event's place in its run
    kind: str
    at: str  # canonical UTC ISO-8601 (projections.db.iso_utc)
    actor: str
    data: dict[str, Any]  # the event's own fields, JSON-native


def kind_of(topic: str) -> str:
    kind = _KIND_BY_TOPIC.get(topic)
    if kind is not None:
        return kind
    try:
        cls = resolve_topic(topic)  # a registered old topic of a renamed class
    except Exception:
        cls = None
    kind = KINDS.get(cls) if cls is not None else None
    # An event type this version does not know is still shown, never silently dropped.
    kind = kind or _snake(topic.rpartition(".")[2] or topic.rpartition(":")[2])
    _KIND_BY_TOPIC[topic] = kind
    return kind


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _unwrap(obj: dict[str, Any]) -> Any:
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


def _loads(state: bytes) -> dict[str, Any]:
    """The stored JSON with its `_type_`/`_data_` wrappers unwrapped.

    orjson is 3-4x faster than the stdlib decoder but has no object_hook; every event
    wraps its timestamp, so only a state with a second wrapper is walked. JSON orjson
    refuses (NaN, integers past 64 bits, which Python's encoder writes) takes the stdlib.
    """
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


def decode(
    position: int, originator_id: Any, version: int, topic: str, state: bytes
) -> LedgerEvent:
    data = _loads(state)
    kind = _KIND_BY_TOPIC.get(topic) or kind_of(topic)
    at = canonical_time(data.pop("timestamp"))
    actor = str(data.pop("actor", ""))
    for key in _BOOKKEEPING_REST:
        if key in data:
            del data[key]
    if kind == "heartbeat":
        data.setdefault("progress", {})  # Heartbeat.upcast_v1_v2
    elif kind == "queued":
        data.setdefault("queue_name", None)  # Queued.upcast_v1_v2
    return LedgerEvent(position, _run_id(originator_id), version, kind, at, actor, data)


def _run_id(originator_id: Any) -> str:
    if isinstance(originator_id, str):
        if len(originator_id) == 36:
            return originator_id  # PostgreSQL's uuid as text
        if len(originator_id) == 32:  # SQLite's hex: slicing is 4x cheaper than UUID()
            h = originator_id.lower()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))


class EventLog:
    """The ledger's notification log, read in position order over a read-model connection."""

    def __init__(self, settings: DatabaseSettings) -> None:
        table = events_table(settings)
        if settings.is_postgres:
            self._select = (
                "SELECT notification_id, originator_id::text, originator_version, topic, state "
                f"FROM {{s}}{table} WHERE notification_id > ? ORDER BY notification_id LIMIT ?"
            )
            self._head = f"SELECT MAX(notification_id) FROM {{s}}{table}"
            self._count = f"SELECT COUNT(*) FROM {{s}}{table} WHERE notification_id > ?"
        else:
            self._select = (
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
            )
            self._head = f"SELECT MAX(rowid) FROM {table}"
            self._count = f"SELECT COUNT(*) FROM {table} WHERE rowid > ?"

    def read(self, conn: Connection, after: int, limit: int) -> list[LedgerEvent]:
        rows = conn.execute(self._select, (after, limit))
        return [decode(*row) for row in rows]

    def head(self, conn: Connection) -> int:
        rows = conn.execute(self._head)
        return int(rows[0][0] or 0)

    def count_after(self, conn: Connection, position: int) -> int:
        return int(conn.execute(self._count, (position,))[0][0])
