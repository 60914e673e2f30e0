"""What the reconciler does with one run: a pure decision from the run, arq's record and `now`.

arq's own record of the job is the evidence that decides the reason:

| arq says                          | decision                                                    |
|-----------------------------------|-------------------------------------------------------------|
| in progress (key alive)           | skip: the job is executing                                  |
| result stored                     | heal now: `reconciler.queue_result`, arq's success/failure  |
| no trace, idle past the grace     | heal now: `reconciler.job_lost`                             |
| queued or deferred                | heal only past the threshold: `reconciler.stale_queued` /   |
|                                   | `reconciler.stale_running`; before it, arq may redeliver    |

The grace covers the gap between appending `Queued` and enqueueing the arq job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from ledger import Outcome, ReasonCode, RunState, stale_reason, stale_threshold

# Long enough for the client's enqueue that follows `Queued` (milliseconds when Redis is
# up); a run still without any arq trace after it was never enqueued.
DEFAULT_GRACE_SECONDS = 10.0


class ArqJobState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    QUEUED = "queued"
    DEFERRED = "deferred"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class ArqEvidence:
    """What arq's Redis says about one job, as recorded in the ReconciledStale event."""

    state: ArqJobState
    result: dict[str, Any] | None = None  # for COMPLETE: success, job_try, times, error

    @property
    def succeeded(self) -> bool:
        return bool(self.result and self.result.get("success"))

    def as_evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {"arq_job_state": str(self.state)}
        if self.result is not None:
            evidence["arq_result"] = self.result
        return evidence


class Action(StrEnum):
    HEAL = "heal"
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    run_id: UUID
    action: Action
    why: str
    reason_code: ReasonCode | None = None
    outcome: Outcome | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def decide(run: RunState, arq: ArqEvidence, now: datetime, grace: float) -> Decision:
    """Heal or skip one run, with the evidence a heal records."""
    if run.is_terminal:
        return Decision(run.id, Action.SKIP, "already completed")
    threshold = stale_threshold(run.status, run.policy)
    assert threshold is not None  # queued or running
    idle = (now - run.last_activity_at).total_seconds()
    evidence = {
        "previous_status": str(run.status),
        "last_activity_at": run.last_activity_at.isoformat(),
        "idle_seconds": round(idle, 3),
        "threshold_seconds": threshold,
        "attempts": run.attempts,
        **arq.as_evidence(),
    }

    def heal(reason: ReasonCode, why: str, outcome: Outcome | None = None) -> Decision:
        return Decision(run.id, Action.HEAL, why, reason, outcome, evidence)

    if arq.state is ArqJobState.IN_PROGRESS:
        return Decision(run.id, Action.SKIP, "arq has the job in progress: it is executing")
    if arq.state is ArqJobState.COMPLETE:
        outcome = Outcome.SUCCEEDED if arq.succeeded else Outcome.FAILED
        return heal(ReasonCode.RECONCILER_QUEUE_RESULT, "arq stored a result", outcome)
    if arq.state is ArqJobState.NOT_FOUND:
        if idle < grace:
            return Decision(run.id, Action.SKIP, "no arq trace yet, within the enqueue grace")
        evidence["grace_seconds"] = grace
        return heal(ReasonCode.RECONCILER_JOB_LOST, "arq has no trace of the job")
    if idle < threshold:
        return Decision(run.id, Action.SKIP, f"{arq.state} in arq, not past the threshold")
    return heal(stale_reason(run.status), f"{arq.state} in arq past the threshold")
