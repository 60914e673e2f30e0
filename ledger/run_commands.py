"""The commands of the OperationRun aggregate and their guards.

A mixin: the aggregate, its fields and its events stay in ledger/run.py, where the events'
stored topics (`ledger.run:OperationRun.<Event>`) point. Each command checks, then
triggers one event (whose `apply` mutates the run), or returns what it did instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.codes import (
    JOB_REASONS,
    QUEUE_REASONS,
    RECONCILER_REASONS,
    Outcome,
    ReasonCode,
    RetryReason,
    RunStatus,
    default_outcome,
)
from ledger.errors import IllegalTransitionError
from ledger.state import Effect


class RunCommands:
    """start, heartbeat, schedule_retry, complete, fail_by_queue, reconcile_stale and
    record_late_signal, for OperationRun."""

    if TYPE_CHECKING:  # provided by OperationRun and eventsourcing's Aggregate
        status: RunStatus
        attempts: int
        last_activity_at: datetime
        retried_attempts: set[int]
        terminal_key: str | None
        late_keys: set[str]
        Started: type[Any]
        Heartbeat: type[Any]
        RetryScheduled: type[Any]
        Completed: type[Any]
        QueueFailed: type[Any]
        ReconciledStale: type[Any]
        LateSignalRecorded: type[Any]

        @property
        def id(self) -> UUID: ...

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    def start(self, *, attempt: int, worker_id: str, actor: str, at: datetime) -> Effect:
        if self.is_terminal:
            return self._record_late("started", attempt, {"worker_id": worker_id}, actor, at)
        if attempt <= self.attempts:
            return Effect.UNCHANGED  # a repeated start, or one superseded by a redelivery
        self.trigger_event(
            self.Started, attempt=attempt, worker_id=worker_id, actor=actor, timestamp=at
        )
        return Effect.APPLIED

    def heartbeat(
        self, *, attempt: int, progress: dict[str, Any], actor: str, at: datetime
    ) -> Effect:
        if self.is_terminal:
            return self._record_late("heartbeat", attempt, {"progress": progress}, actor, at)
        self.check_has_started("heartbeat")
        if attempt != self.attempts:
            return Effect.UNCHANGED  # from an attempt a redelivery has superseded
        self.trigger_event(
            self.Heartbeat, attempt=attempt, progress=dict(progress), actor=actor, timestamp=at
        )
        return Effect.APPLIED

    def schedule_retry(
        self,
        *,
        attempt: int,
        reason: RetryReason | str,
        defer_seconds: float,
        error: str | None,
        actor: str,
        at: datetime,
    ) -> Effect:
        reason = RetryReason(reason).value  # a string of the vocabulary, or ValueError
        if self.is_terminal:
            details = {"reason": reason, "error": error}
            return self._record_late("retry_scheduled", attempt, details, actor, at)
        self.check_has_started("schedule a retry of")
        if attempt < self.attempts or attempt in self.retried_attempts:
            return Effect.UNCHANGED
        self.trigger_event(
            self.RetryScheduled,
            attempt=attempt,
            reason=reason,
            defer_seconds=float(defer_seconds),
            error=error,
            actor=actor,
            timestamp=at,
        )
        return Effect.APPLIED

    def complete(
        self,
        *,
        attempt: int,
        reason_code: ReasonCode,
        summary: dict[str, Any],
        actor: str,
        at: datetime,
    ) -> Effect:
        self.check_reason(reason_code, JOB_REASONS)
        key = f"completed:{attempt}:{reason_code}"
        if self.is_terminal:
            details = {"reason_code": str(reason_code)}
            return self._record_late("completed", attempt, details, actor, at, key)
        self.check_has_started("complete")
        self.trigger_event(
            self.Completed,
            attempt=attempt,
            outcome=str(default_outcome(reason_code)),
            reason_code=str(reason_code),
            summary=dict(summary),
            actor=actor,
            timestamp=at,
        )
        return Effect.APPLIED

    def fail_by_queue(
        self, *, attempt: int, reason_code: ReasonCode, error: str | None, actor: str, at: datetime
    ) -> Effect:
        self.check_reason(reason_code, QUEUE_REASONS)
        key = f"queue_failed:{attempt}:{reason_code}"
        if self.is_terminal:
            details = {"reason_code": str(reason_code), "error": error}
            return self._record_late("queue_failed", attempt, details, actor, at, key)
        self.trigger_event(
            self.QueueFailed,
            attempt=attempt,
            outcome=str(default_outcome(reason_code)),
            reason_code=str(reason_code),
            error=error,
            actor=actor,
            timestamp=at,
        )
        return Effect.APPLIED

    def reconcile_stale(
        self,
        *,
        reason_code: ReasonCode,
        evidence: dict[str, Any],
        actor: str,
        at: datetime,
        outcome: Outcome | None = None,
        observed_last_activity_at: datetime | None = None,
    ) -> Effect:
        """Force-resolve a stale run. A terminal run, or one that showed a sign of life
        after the reconciler looked (`observed_last_activity_at`), is left alone."""
        self.check_reason(reason_code, RECONCILER_REASONS)
        if self.is_terminal:
            return Effect.UNCHANGED
        if observed_last_activity_at and self.last_activity_at > observed_last_activity_at:
            return Effect.UNCHANGED
        resolved = outcome or default_outcome(reason_code)
        if resolved is None:
            raise ValueError(f"{reason_code} needs an explicit outcome")
        self.trigger_event(
            self.ReconciledStale,
            outcome=str(resolved),
            reason_code=str(reason_code),
            evidence=dict(evidence),
            actor=actor,
            timestamp=at,
        )
        return Effect.APPLIED

    def record_late_signal(
        self, *, signal: str, attempt: int, details: dict[str, Any], actor: str, at: datetime
    ) -> Effect:
        if not self.is_terminal:
            raise IllegalTransitionError(self.id, f"record a late {signal} for", self.status)
        return self._record_late(signal, attempt, details, actor, at)

    # -- guards and helpers -----------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.status is RunStatus.COMPLETED

    def check_has_started(self, command: str) -> None:
        if self.status is RunStatus.QUEUED:
            raise IllegalTransitionError(self.id, command, self.status)

    @staticmethod
    def check_reason(reason: ReasonCode, allowed: frozenset[ReasonCode]) -> None:
        if ReasonCode(reason) not in allowed:
            raise ValueError(f"reason {reason} is not one of {sorted(allowed)}")

    def _record_late(
        self,
        signal: str,
        attempt: int,
        details: dict[str, Any],
        actor: str,
        at: datetime,
        key: str | None = None,
    ) -> Effect:
        key = key or f"{signal}:{attempt}"
        if key == self.terminal_key or key in self.late_keys:
            return Effect.UNCHANGED
        self.trigger_event(
            self.LateSignalRecorded,
            signal=signal,
            attempt=attempt,
            key=key,
            details=dict(details),
            actor=actor,
            timestamp=at,
        )
        return Effect.LATE
