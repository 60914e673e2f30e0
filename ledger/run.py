"""The OperationRun aggregate: one background run, its events and its state.

Every command (ledger/run_commands.py) is idempotent. A repeated signal that changes
nothing appends nothing; a signal that reaches a run after it ended is recorded once as
`LateSignalRecorded` and never changes the run's state; a signal that no real ordering
can produce raises `IllegalTransitionError`. Time is always given (`at`): the aggregate
never reads a clock. The events stay here, nested in the aggregate: their stored topic
is `ledger.run:OperationRun.<Event>`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.codes import EndedBy, Outcome, ReasonCode, RunStatus, upcast_retry_reason
from ledger.policy import OperationPolicy, policy_from_snapshot
from ledger.run_commands import RunCommands
from ledger.state import Effect, RunState


class OperationRun(RunCommands, Aggregate):
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
        # v1 wrote reason codes and look-alikes ("job.retry"); v2 a RetryReason.
        class_version = 2
        attempt: int
        reason: str  # a RetryReason's value
        defer_seconds: float
        error: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = upcast_retry_reason(state["reason"])

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
        self.policy = policy_from_snapshot(policy)
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
