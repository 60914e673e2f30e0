"""The reconciler's decision for one run, from the run, arq's evidence and `now`."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ledger import OperationPolicy, Outcome, ReasonCode, RunState, RunStatus
from workers.reconcile_rules import Action, ArqEvidence, ArqJobState, decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = OperationPolicy(timeout=30, stale_queued_after=600, stale_running_after=300)
GRACE = 30.0


def run(status: RunStatus = RunStatus.RUNNING, idle: float = 0.0) -> tuple[RunState, datetime]:
    state = RunState(
        id=uuid.uuid4(),
        workspace="acme",
        operation_type="inventory.sync",
        initiator="system",
        policy=POLICY,
        status=status,
        outcome=None,
        ended_by=None,
        reason_code=None,
        attempts=1 if status is RunStatus.RUNNING else 0,
        queued_at=T0,
        started_at=T0 if status is RunStatus.RUNNING else None,
        last_activity_at=T0,
        completed_at=None,
        version=2,
    )
    return state, T0 + timedelta(seconds=idle)


def test_a_job_arq_has_in_progress_is_never_touched_however_old() -> None:
    state, now = run(idle=10_000)
    decision = decide(state, ArqEvidence(ArqJobState.IN_PROGRESS), now, GRACE)
    assert decision.action is Action.SKIP and "executing" in decision.why


@pytest.mark.parametrize(
    ("success", "outcome"), [(True, Outcome.SUCCEEDED), (False, Outcome.FAILED)]
)
def test_a_stored_result_is_bridged_at_once_with_its_outcome(
    success: bool, outcome: Outcome
) -> None:
    state, now = run(idle=GRACE)
    arq = ArqEvidence(ArqJobState.COMPLETE, {"success": success, "job_try": 1})
    decision = decide(state, arq, now, GRACE)
    assert decision.action is Action.HEAL
    assert (
        decision.reason_code is ReasonCode.RECONCILER_QUEUE_RESULT and decision.outcome is outcome
    )
    assert decision.evidence["arq_result"] == {"success": success, "job_try": 1}


def test_no_trace_heals_as_job_lost_after_the_grace_without_waiting_for_the_threshold() -> None:
    state, now = run(RunStatus.QUEUED, idle=GRACE - 1)
    assert decide(state, ArqEvidence(ArqJobState.NOT_FOUND), now, GRACE).action is Action.SKIP
    state, now = run(RunStatus.QUEUED, idle=GRACE)
    decision = decide(state, ArqEvidence(ArqJobState.NOT_FOUND), now, GRACE)
    assert decision.action is Action.HEAL and decision.reason_code is ReasonCode.RECONCILER_JOB_LOST
    assert decision.evidence["grace_seconds"] == GRACE


@pytest.mark.parametrize("arq_state", [ArqJobState.QUEUED, ArqJobState.DEFERRED])
@pytest.mark.parametrize(
    ("status", "threshold", "reason"),
    [
        (RunStatus.QUEUED, 600, ReasonCode.RECONCILER_STALE_QUEUED),
        (RunStatus.RUNNING, 300, ReasonCode.RECONCILER_STALE_RUNNING),
    ],
)
def test_a_job_waiting_in_arq_is_healed_only_past_the_threshold(
    arq_state: ArqJobState, status: RunStatus, threshold: int, reason: ReasonCode
) -> None:
    state, now = run(status, idle=threshold - 0.001)
    assert decide(state, ArqEvidence(arq_state), now, GRACE).action is Action.SKIP
    state, now = run(status, idle=threshold)
    decision = decide(state, ArqEvidence(arq_state), now, GRACE)
    assert decision.action is Action.HEAL and decision.reason_code is reason
    assert decision.evidence == {
        "previous_status": str(status),
        "last_activity_at": T0.isoformat(),
        "idle_seconds": float(threshold),
        "threshold_seconds": float(threshold),
        "attempts": state.attempts,
        "arq_job_state": str(arq_state),
    }


def test_a_completed_run_is_left_alone() -> None:
    state, now = run(idle=10_000)
    done = replace(state, status=RunStatus.COMPLETED)
    assert decide(done, ArqEvidence(ArqJobState.NOT_FOUND), now, GRACE).action is Action.SKIP
