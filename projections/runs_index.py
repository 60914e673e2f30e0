"""The runs index: one row per run, folded from its events exactly as the aggregate does.

Besides what the monitoring views show, each row keeps the policy thresholds freshness
needs and a precomputed `stale_at` (when the run turns stale if nothing happens; NULL
once completed). Partial indexes over the queued/running rows keep the reconciler's
queries proportional to the active runs, not to every run ever recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

import orjson

from ledger import EndedBy, OperationPolicy, RunStatus, policy_from_snapshot, stale_at
from projections.db import Connection, iso_utc
from projections.events import LedgerEvent
from projections.schema import Index, Table

ACTIVE = "status IN ('queued', 'running')"  # repeated verbatim in queries: see queries.py
COMPLETED = "status = 'completed'"  # likewise (run_list.py)

TABLE = Table(
    name="runs_index",
    columns=(
        ("id", "{uuid} NOT NULL"),
        ("workspace", "TEXT NOT NULL"),
        ("operation_type", "TEXT NOT NULL"),
        ("initiator", "TEXT NOT NULL"),
        ("idempotency_key", "TEXT"),
        ("status", "TEXT NOT NULL"),
        ("outcome", "TEXT"),
        ("ended_by", "TEXT"),
        ("reason_code", "TEXT"),
        ("attempts", "INTEGER NOT NULL"),
        ("worker_id", "TEXT"),
        ("queued_at", "{ts} NOT NULL"),
        ("started_at", "{ts}"),
        ("last_activity_at", "{ts} NOT NULL"),
        ("completed_at", "{ts}"),
        ("timeout", "{float}"),
        ("max_tries", "INTEGER NOT NULL"),
        ("stale_queued_after", "{float} NOT NULL"),
        ("stale_running_after", "{float} NOT NULL"),
        ("stale_at", "{ts}"),
        ("heartbeats", "INTEGER NOT NULL"),
        ("late_signals", "INTEGER NOT NULL"),
        ("params_summary", "{json} NOT NULL"),
        ("progress", "{json} NOT NULL"),
        ("summary", "{json} NOT NULL"),
        ("version", "{bigint} NOT NULL"),
        ("position", "{bigint} NOT NULL"),
    ),
    primary_key=("id",),
    indexes=(
        Index("by_queued", "queued_at DESC, id DESC"),
        Index("by_workspace", "workspace, queued_at DESC, id DESC"),
        Index("by_workspace_status", "workspace, status, queued_at DESC, id DESC"),
        # One per filter of the list, each in the list's order (run_list.py).
        Index("completed_by_queued", "queued_at DESC, id DESC", COMPLETED),
        Index("active_by_queued", "queued_at DESC, id DESC", ACTIVE),
        Index("by_type", "operation_type, queued_at DESC, id DESC"),
        Index("by_outcome", "outcome, queued_at DESC, id DESC"),
        Index("by_ended_by", "ended_by, queued_at DESC, id DESC"),
        Index("by_reason", "reason_code, queued_at DESC, id DESC"),
        Index("active_by_activity", "last_activity_at, id", ACTIVE),
        Index("active_by_stale_at", "stale_at, id", ACTIVE),
        # The stale count narrowed to a workspace or a type (the index page's chips):
        # read from the index alone, not by visiting every stale run's row to filter it.
        Index("active_by_workspace_stale_at", "workspace, stale_at", ACTIVE),
        Index("active_by_type_stale_at", "operation_type, stale_at", ACTIVE),
        # The active runs again, for the freshness filters: `stale_at` is NULL exactly
        # when a run is completed, and `stale_at <= ?` implies this predicate (run_list.py).
        Index("live_by_queued", "queued_at DESC, id DESC", "stale_at IS NOT NULL"),
    ),
)
COLUMNS = TABLE.column_names
_JSON_COLUMNS = ("params_summary", "progress", "summary")
_VALUES = attrgetter(*COLUMNS)  # `stale_at` is a method: its getter result is replaced
_STALE_AT = COLUMNS.index("stale_at")
_JSON_INDEXES = tuple(COLUMNS.index(name) for name in _JSON_COLUMNS)


@dataclass(slots=True)
class RunRecord:
    """A run's row while it is being folded; times are canonical UTC ISO text."""

    id: str
    workspace: str
    operation_type: str
    initiator: str
    idempotency_key: str | None
    status: str
    outcome: str | None
    ended_by: str | None
    reason_code: str | None
    attempts: int
    worker_id: str | None
    queued_at: str
    started_at: str | None
    last_activity_at: str
    completed_at: str | None
    timeout: float | None
    max_tries: int
    stale_queued_after: float
    stale_running_after: float
    heartbeats: int = 0
    late_signals: int = 0
    params_summary: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    position: int = 0

    def stats_key(self) -> tuple[str, str, str, str, str]:
        return (
            self.workspace,
            self.operation_type,
            self.status,
            self.outcome or "",
            self.reason_code or "",
        )

    @property
    def policy(self) -> OperationPolicy:
        """The run's policy, as far as the row keeps it (what freshness needs)."""
        return policy_from_snapshot(
            {
                "timeout": self.timeout,
                "max_tries": self.max_tries,
                "stale_queued_after": self.stale_queued_after,
                "stale_running_after": self.stale_running_after,
            }
        )

    def stale_at(self) -> str | None:
        """`stale_at` as the aggregate's state computes it (ledger.lifecycle.stale_at)."""
        last = datetime.fromisoformat(self.last_activity_at)
        deadline = stale_at(RunStatus(self.status), last, self.policy)
        return None if deadline is None else iso_utc(deadline)

    def to_row(self) -> tuple[Any, ...]:
        values = list(_VALUES(self))  # every column in order; two kinds are then replaced
        values[_STALE_AT] = self.stale_at()
        for index in _JSON_INDEXES:
            values[index] = canonical_json(values[index])
        return tuple(values)

    @classmethod
    def from_row(cls, conn: Connection, row: Sequence[Any]) -> RunRecord:
        values = dict(zip(COLUMNS, row, strict=True))
        del values["stale_at"]  # derived
        values["id"] = str(values["id"])
        for name in ("queued_at", "started_at", "last_activity_at", "completed_at"):
            moment = conn.time_out(values[name])
            values[name] = None if moment is None else iso_utc(moment)
        for name in _JSON_COLUMNS:
            values[name] = conn.json_out(values[name])
        return cls(**values)


# The fallback encoder, built once: json.dumps with non-default options builds one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: one text per value, whichever path wrote it.

    orjson is much faster than the stdlib encoder (docs/benchmarks.md, "Replay"); what it
    refuses (integers past 64 bits, non-string keys) takes the stdlib, whose output has
    the same form.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _ENCODER.encode(value)


def queued(event: LedgerEvent) -> RunRecord:
    data = event.data
    policy = policy_from_snapshot(data["policy"])
    return RunRecord(
        id=event.run_id,
        workspace=data["workspace"],
        operation_type=data["operation_type"],
        initiator=data["initiator"],
        idempotency_key=data.get("idempotency_key"),
        status=RunStatus.QUEUED.value,
        outcome=None,
        ended_by=None,
        reason_code=None,
        attempts=0,
        worker_id=None,
        queued_at=event.at,
        started_at=None,
        last_activity_at=event.at,
        completed_at=None,
        timeout=policy.timeout,
        max_tries=policy.max_tries,
        stale_queued_after=policy.stale_queued_after,
        stale_running_after=policy.stale_running_after,
        params_summary=dict(data.get("params_summary") or {}),
        version=event.version,
        position=event.position,
    )


_ENDED_BY = {"completed": EndedBy.JOB, "queue_failed": EndedBy.QUEUE}


def fold(run: RunRecord | None, event: LedgerEvent) -> RunRecord | None:
    """The run after `event`, mirroring OperationRun's apply methods."""
    if event.kind == "queued":
        return run if run is not None else queued(event)
    if run is None or event.version <= run.version:
        return run  # an event already folded in (or of a run whose creation is unknown)
    data = event.data
    if event.kind == "started":
        run.status = RunStatus.RUNNING.value
        run.attempts = int(data["attempt"])
        run.worker_id = data["worker_id"]
        run.started_at = run.started_at or event.at
        run.last_activity_at = event.at
    elif event.kind == "heartbeat":
        run.last_activity_at = event.at
        run.progress = dict(data["progress"])
        run.heartbeats += 1
    elif event.kind == "retry_scheduled":
        run.last_activity_at = event.at
    elif event.kind in ("completed", "queue_failed", "reconciled_stale"):
        _end(run, event)
    elif event.kind == "late_signal_recorded":
        run.late_signals += 1
    run.version = event.version
    run.position = event.position
    return run


def _end(run: RunRecord, event: LedgerEvent) -> None:
    data = event.data
    run.status = RunStatus.COMPLETED.value
    run.outcome = data["outcome"]
    run.ended_by = _ENDED_BY.get(event.kind, EndedBy.RECONCILER).value
    run.reason_code = data["reason_code"]
    run.completed_at = event.at
    if event.kind == "completed":
        run.summary = dict(data["summary"])
    elif event.kind == "queue_failed":
        run.summary = {"error": data["error"]} if data.get("error") else {}
    else:
        run.summary = {"evidence": data["evidence"]}


# -- storage --------------------------------------------------------------------------------


def load(conn: Connection, run_ids: Iterable[str], suffix: str = "") -> dict[str, RunRecord]:
    ids = list(run_ids)
    found: dict[str, RunRecord] = {}
    cols = ", ".join(COLUMNS)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        statement = f"SELECT {cols} FROM {{s}}{TABLE.name}{suffix} WHERE id IN ({marks})"
        for row in conn.execute(statement, chunk):
            record = RunRecord.from_row(conn, row)
            found[record.id] = record
    return found


def _upsert_sql(suffix: str) -> str:
    cols = ", ".join(COLUMNS)
    marks = ", ".join("?" * len(COLUMNS))
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
    return (
        f"INSERT INTO {{s}}{TABLE.name}{suffix} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def upsert(conn: Connection, runs: Iterable[RunRecord], suffix: str = "") -> None:
    conn.executemany(_upsert_sql(suffix), [run.to_row() for run in runs])


def insert_all(conn: Connection, runs: Iterable[RunRecord], suffix: str = "") -> None:
    """Bulk-writes runs into an empty table (replay's shadow copy)."""
    conn.bulk_insert(f"{TABLE.name}{suffix}", COLUMNS, (run.to_row() for run in runs))
