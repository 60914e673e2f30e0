"""Reading the ledger's notification log and decoding its events straight from JSON.

Replaying a million events through eventsourcing's mapper builds a domain-event object
per event; the read models only need a few fields, so they decode the stored JSON
themselves. This stays correct because it mirrors the mapper: the same topics (resolved
through eventsourcing's topic registry, so a renamed class still maps), the transcoder's
JSON layout (ledger.eventstore, which holds everything that relies on eventsourcing's
internals), and the upcasts the ledger defines (Heartbeat v1 had no `progress`, Queued
v1 no `queue_name`).
tests/unit/test_projection_events.py checks it against the mapper for every event type.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from eventsourcing.utils import get_topic, resolve_topic

from ledger import DatabaseSettings, OperationRun
from ledger.codes import upcast_retry_reason
from ledger.eventstore import BOOKKEEPING_FIELDS, log_statements, run_id_text, stored_state
from projections.db import Connection, canonical_time

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


def decode(
    position: int, originator_id: Any, version: int, topic: str, state: bytes
) -> LedgerEvent:
    data = stored_state(state)
    kind = _KIND_BY_TOPIC.get(topic) or kind_of(topic)
    at = canonical_time(data.pop("timestamp"))
    actor = str(data.pop("actor", ""))
    for key in BOOKKEEPING_FIELDS:
        if key in data:
            del data[key]
    if kind == "heartbeat":
        data.setdefault("progress", {})  # Heartbeat.upcast_v1_v2
    elif kind == "queued":
        data.setdefault("queue_name", None)  # Queued.upcast_v1_v2
    elif kind == "retry_scheduled" and "reason" in data:
        data["reason"] = upcast_retry_reason(data["reason"])  # RetryScheduled.upcast_v1_v2
    return LedgerEvent(position, run_id_text(originator_id), version, kind, at, actor, data)


class EventLog:
    """The ledger's notification log, read in position order over a read-model connection."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self._select, self._head, self._count = log_statements(settings)

    def read(self, conn: Connection, after: int, limit: int) -> list[LedgerEvent]:
        rows = conn.execute(self._select, (after, limit))
        return [decode(*row) for row in rows]

    def head(self, conn: Connection) -> int:
        rows = conn.execute(self._head)
        return int(rows[0][0] or 0)

    def count_after(self, conn: Connection, position: int) -> int:
        return int(conn.execute(self._count, (position,))[0][0])
