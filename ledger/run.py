"""The OperationRun aggregate: one background run, its events and its lifecycle guards.

Every command is idempotent. A repeated signal that changes nothing appends nothing; a
signal that reaches a run after it ended is recorded once as `LateSignalRecorded` and
never changes the run's state; a signal that no real ordering can produce raises
`IllegalTransitionError`. Time is always given (`at`): the aggregate never reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.codes import (
    JOB_REASONS,
    QUEUE_REASONS,
    RECONCILER_REASONS,
    EndedBy,
    Outcome,
    ReasonCode,
    RunStatus,
    default_outcome,
)
from ledger.errors import IllegalTransitionError
from ledger.policy import OperationPolicy
from ledger.state import Effect, RunState


class OperationRun(Aggregate):
    """One run of an operation, from `Queued` to a terminal state."""

    class Event(Aggregate.Event):
        actor: str

    class Queued(Aggregate.Created):
        # v1 did not name the arq queue (the reconciler then assumes its own); see upcast.
        class_version = 2
        workspace: str
        operation_type: str
        initiator: str
        params_summary: dict[str, Any]
        policy: dict[str, Any]
        idempotency_key: str | None
        actor: str
        queue_name: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["queue_name"] = None

    class Started(Event):
        attempt: int
        worker_id: str

        def apply(self, run: OperationRun) -> None:
            run.status = RunStatus.RUNNING
            run.attempts = self.attempt
            run.worker_id = self.worker_id
            run.started_at = run.started_at or self.timestamp
            run.last_activity_at = self.timestamp

    class Heartbeat(Event):
        # v1 heartbeats carried no progress counters; see upcast_v1_v2.
        class_version = 2
        attempt: int
        progress: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["progress"] = {}

        def apply(self, run: OperationRun) -> None:
            run.last_activity_at = self.timestamp
            run.progress = dict(self.progress)
            run.heartbeats += 1

    class RetryScheduled(Event):
        attempt: int
        reason: str
        defer_seconds: float
        error: str | None

        def apply(self, run: OperationRun) -> None:
            run.last_activity_at = self.timestamp
            run.retried_attempts.add(self.attempt)

    class Completed(Event):
        attempt: int
        outcome: str
        reason_code: str
        summary: dict[str, Any]

        def apply(self, run: OperationRun) -> None:
            run.end(self, EndedBy.JOB, self.summary, f"completed:{self.attempt}:{self.reason_code}")

    class QueueFailed(Event):
        attempt: int
        outcome: str
        reason_code: str
        error: str | None

        def apply(self, run: OperationRun) -> None:
            summary = {"error": self.error} if self.error else {}
            run.end(self, EndedBy.QUEUE, summary, f"queue_failed:{self.attempt}:{self.reason_code}")

    class ReconciledStale(Event):
        outcome: str
        reason_code: str
        evidence: dict[str, Any]

        def apply(self, run: OperationRun) -> None:
            run.end(self, EndedBy.RECONCILER, {"evidence": self.evidence}, "reconciled")

    class LateSignalRecorded(Event):
        signal: str
        attempt: int
        key: str
        details: dict[str, Any]

        def apply(self, run: OperationRun) -> None:
            run.late_keys.add(self.key)

    def __init__(
        self,
        workspace: str,
        operation_type: str,
        initiator: str,
        params_summary: dict[str, Any],
        policy: dict[str, Any],
        idempotency_key: str | None,
        actor: str,
        queue_name: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.operation_type = operation_type
        self.initiator = initiator
        self.params_summary = dict(params_summary)
        self.policy = OperationPolicy.from_dict(policy)
        self.idempotency_key = idempotency_key
        self.queue_name = queue_name  # the arq queue its job went to (None: not recorded)
        self.status = RunStatus.QUEUED
        self.outcome: Outcome | None = None
        self.ended_by: EndedBy | None = None
        self.reason_code: ReasonCode | None = None
        self.attempts = 0
        self.worker_id: str | None = None
        self.queued_at: datetime = self.created_on
        self.started_at: datetime | None = None
        self.last_activity_at: datetime = self.created_on
        self.completed_at: datetime | None = None
        self.progress: dict[str, Any] = {}
        self.heartbeats = 0
        self.retried_attempts: set[int] = set()
        self.summary: dict[str, Any] = {}
        self.terminal_key: str | None = None
        self.late_keys: set[str] = set()

    @classmethod
    def queue(
        cls,
        *,
        run_id: UUID,
        workspace: str,
        operation_type: str,
        policy: OperationPolicy,
        actor: str,
        at: datetime,
        initiator: str = "system",
        params_summary: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        queue_name: str | None = None,
    ) -> OperationRun:
        """A new run, created by its `Queued` event."""
        return cls._create(
            cls.Queued,
            id=run_id,
            timestamp=at,
            workspace=workspace,
            operation_type=operation_type,
            initiator=initiator,
            params_summary=dict(params_summary or {}),
            policy=policy.to_dict(),
            idempotency_key=idempotency_key,
            actor=actor,
            queue_name=queue_name,
        )

    # -- commands -------------------------------------------------------------------------

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
        reason: str,
        defer_seconds: float,
        error: str | None,
        actor: str,
        at: datetime,
    ) -> Effect:
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

    def end(
        self,
        event: OperationRun.Completed | OperationRun.QueueFailed | OperationRun.ReconciledStale,
        ended_by: EndedBy,
        summary: dict[str, Any],
        terminal_key: str,
    ) -> None:
        """Applies a terminal event (called from the events' apply methods only)."""
        self.status = RunStatus.COMPLETED
        self.outcome = Outcome(event.outcome)
        self.ended_by = ended_by
        self.reason_code = ReasonCode(event.reason_code)
        self.completed_at = event.timestamp
        self.summary = summary
        self.terminal_key = terminal_key

    def state(self) -> RunState:
        return RunState(
            id=self.id,
            workspace=self.workspace,
            operation_type=self.operation_type,
            initiator=self.initiator,
            policy=self.policy,
            status=self.status,
            outcome=self.outcome,
            ended_by=self.ended_by,
            reason_code=self.reason_code,
            attempts=self.attempts,
            queued_at=self.queued_at,
            started_at=self.started_at,
            last_activity_at=self.last_activity_at,
            completed_at=self.completed_at,
            version=self.version,
            summary=dict(self.summary),
            queue_name=self.queue_name,
        )


TERMINAL_EVENTS = (OperationRun.Completed, OperationRun.QueueFailed, OperationRun.ReconciledStale)

__all__ = ["TERMINAL_EVENTS", "Effect", "OperationRun", "RunState"]
