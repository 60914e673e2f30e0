"""The typed rows the read API returns (what the web app and the reconciler consume)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID

from ledger import EndedBy, Freshness, OperationPolicy, Outcome, ReasonCode, RunStatus


@dataclass(frozen=True)
class RunRow:
    """One run of the runs index; `freshness` is computed when the row is read."""

    id: UUID
    workspace: str
    operation_type: str
    initiator: str
    idempotency_key: str | None
    status: RunStatus
    outcome: Outcome | None
    ended_by: EndedBy | None
    reason_code: ReasonCode | None
    attempts: int
    worker_id: str | None
    queued_at: datetime
    started_at: datetime | None
    last_activity_at: datetime
    completed_at: datetime | None
    timeout: float | None
    max_tries: int
    stale_queued_after: float
    stale_running_after: float
    stale_at: datetime | None
    heartbeats: int
    late_signals: int
    params_summary: dict[str, Any]
    progress: dict[str, Any]
    summary: dict[str, Any]
    version: int
    position: int
    freshness: Freshness | None

    @cached_property  # read many times per run by an explanation; built once
    def policy(self) -> OperationPolicy:
        return OperationPolicy(
            timeout=self.timeout,
            max_tries=self.max_tries,
            stale_queued_after=self.stale_queued_after,
            stale_running_after=self.stale_running_after,
        )


@dataclass(frozen=True)
class ReconcileCandidate:
    """A queued or running run that has shown no sign of life since a given time."""

    run_id: UUID
    status: RunStatus
    operation_type: str
    workspace: str
    attempts: int
    queued_at: datetime
    last_activity_at: datetime
    stale_queued_after: float
    stale_running_after: float
    stale_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    run_id: UUID
    version: int
    position: int
    at: datetime
    event: str  # queued, started, heartbeat, retry_scheduled, completed, ...
    actor: str
    attempt: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditEntry:
    position: int  # its id: stable, ordered, usable in a URL
    at: datetime
    actor: str
    action: str  # run.queued, run.started, ... run.reconciled_stale
    workspace: str
    operation_type: str
    run_id: UUID
    details: dict[str, Any]


@dataclass(frozen=True)
class StatsRow:
    workspace: str
    operation_type: str
    status: RunStatus
    outcome: Outcome | None
    reason_code: ReasonCode | None
    runs: int


@dataclass(frozen=True)
class ActivityBucket:
    """Runs that ended in one 5-minute bucket (UTC) with one outcome and one ended_by."""

    start: datetime
    outcome: str  # succeeded, partially_succeeded, failed, cancelled
    ended_by: str  # job, queue, reconciler
    runs: int


@dataclass(frozen=True)
class RunFilters:
    """Filters of `list_runs` (each None = not filtered). Who may see what is the Scope's
    business, not a filter's: `workspace` only narrows the caller's scope."""

    workspace: str | None = None
    operation_type: str | None = None
    status: RunStatus | None = None
    outcome: Outcome | None = None
    freshness: Freshness | None = None  # stale/fresh at the query's `now`
    ended_by: EndedBy | None = None
    reason_code: ReasonCode | None = None
    queued_after: datetime | None = None  # inclusive
    queued_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditFilters:
    """Filters of `audit` (each None = not filtered); `since` inclusive, `until` exclusive."""

    workspace: str | None = None
    operation_type: str | None = None
    run_id: UUID | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunRow]
    next_cursor: str | None  # the next (older) page
    prev_cursor: str | None = None  # the previous (newer) page, when this one is not the first


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None  # the next (older) page
    prev_cursor: str | None = None  # the previous (newer) page


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]  # oldest first; runs of heartbeats folded when asked
    next_cursor: str | None  # the rest of the timeline
    events: int  # how many events the run has in all


@dataclass(frozen=True)
class Counts:
    """Exact run counts within a scope, for the index's filter chips.

    From the stats read model (its size grows with the kinds of runs, never with their
    number) and, for `stale`, the partial index over active runs.
    """

    total: int
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    by_ended_by: dict[str, int]
    by_reason_code: dict[str, int]
    failed_by: dict[str, int]  # failed runs per ended_by: job, queue, reconciler
    stale: int  # queued or running runs past their threshold now
