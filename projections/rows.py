"""The typed rows the read API returns (what the web app and the reconciler consume)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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

    @property
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
class RunFilters:
    """Filters of `list_runs`. `workspaces=None` means every workspace; an empty set none."""

    workspaces: frozenset[str] | None = None
    status: RunStatus | None = None
    operation_type: str | None = None
    outcome: Outcome | None = None
    ended_by: EndedBy | None = None
    reason_code: ReasonCode | None = None
    freshness: Freshness | None = None  # stale/fresh at the query's `now`


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunRow]
    next_cursor: str | None  # pass back as `cursor` for the next (older) page


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None  # pass back as `before` for the next (older) page
