"""The OperationRun aggregate: every transition, and every illegal, duplicate and late one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ledger import (
    Effect,
    EndedBy,
    IllegalTransitionError,
    OperationPolicy,
    OperationRun,
    Outcome,
    ReasonCode,
    RunStatus,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WORKER = "worker:host-a:101"
OTHER_WORKER = "worker:host-b:202"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_run() -> OperationRun:
    return OperationRun.queue(
        run_id=uuid.uuid4(),
        workspace="acme",
        operation_type="inventory.sync",
        policy=OperationPolicy(timeout=60, max_tries=3),
        actor="operator:alice",
        at=T0,
        params_summary={"tenant": "t1"},
    )


def running_run(attempt: int = 1) -> OperationRun:
    run = new_run()
    run.start(attempt=attempt, worker_id=WORKER, actor=WORKER, at=at(1))
    return run


def event_names(run: OperationRun) -> list[str]:
    return [type(e).__name__ for e in run.collect_events()]


def test_a_queued_run_records_who_asked_for_what_under_which_policy() -> None:
    run = new_run()
    assert run.status is RunStatus.QUEUED
    assert run.queued_at == T0 and run.last_activity_at == T0
    assert run.policy.timeout == 60
    [queued] = run.collect_events()
    assert isinstance(queued, OperationRun.Queued)
    assert queued.actor == "operator:alice"
    assert queued.params_summary == {"tenant": "t1"}


def test_starting_moves_a_queued_run_to_running_at_attempt_one() -> None:
    run = new_run()
    effect = run.start(attempt=1, worker_id=WORKER, actor=WORKER, at=at(5))
    assert effect is Effect.APPLIED
    assert run.status is RunStatus.RUNNING
    assert run.attempts == 1 and run.started_at == at(5) and run.last_activity_at == at(5)


def test_a_repeated_start_of_the_same_attempt_changes_nothing() -> None:
    run = running_run()
    run.collect_events()
    assert run.start(attempt=1, worker_id=WORKER, actor=WORKER, at=at(9)) is Effect.UNCHANGED
    assert run.collect_events() == []
    assert run.last_activity_at == at(1)


def test_a_redelivered_attempt_starts_again_and_keeps_the_first_start_time() -> None:
    run = running_run()
    assert (
        run.start(attempt=2, worker_id=OTHER_WORKER, actor=OTHER_WORKER, at=at(70))
        is Effect.APPLIED
    )
    assert run.attempts == 2 and run.worker_id == OTHER_WORKER
    assert run.started_at == at(1) and run.last_activity_at == at(70)


def test_a_start_from_a_superseded_attempt_is_ignored() -> None:
    run = running_run(attempt=2)
    run.collect_events()
    assert run.start(attempt=1, worker_id=WORKER, actor=WORKER, at=at(9)) is Effect.UNCHANGED
    assert run.attempts == 2 and run.collect_events() == []


def test_a_heartbeat_moves_the_last_sign_of_life_and_keeps_progress() -> None:
    run = running_run()
    assert run.heartbeat(attempt=1, progress={"done": 5}, actor=WORKER, at=at(30)) is Effect.APPLIED
    assert run.last_activity_at == at(30) and run.progress == {"done": 5}


def test_a_heartbeat_of_a_superseded_attempt_is_ignored() -> None:
    run = running_run(attempt=2)
    run.collect_events()
    assert run.heartbeat(attempt=1, progress={}, actor=WORKER, at=at(30)) is Effect.UNCHANGED
    assert run.last_activity_at == at(1) and run.collect_events() == []


def test_a_queued_run_cannot_heartbeat_retry_or_complete() -> None:
    run = new_run()
    with pytest.raises(IllegalTransitionError):
        run.heartbeat(attempt=1, progress={}, actor=WORKER, at=at(1))
    with pytest.raises(IllegalTransitionError):
        run.schedule_retry(
            attempt=1, reason="retry.requested", defer_seconds=0, error=None, actor=WORKER, at=at(1)
        )
    with pytest.raises(IllegalTransitionError):
        run.complete(
            attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=WORKER, at=at(1)
        )
    assert event_names(run) == ["Queued"]


def test_a_scheduled_retry_keeps_the_run_running_and_counts_as_a_sign_of_life() -> None:
    run = running_run()
    effect = run.schedule_retry(
        attempt=1,
        reason="retry.worker_shutdown",
        defer_seconds=2.5,
        error=None,
        actor=WORKER,
        at=at(40),
    )
    assert effect is Effect.APPLIED
    assert run.status is RunStatus.RUNNING and run.last_activity_at == at(40)
    again = run.schedule_retry(
        attempt=1,
        reason="retry.worker_shutdown",
        defer_seconds=2.5,
        error=None,
        actor=WORKER,
        at=at(41),
    )
    assert again is Effect.UNCHANGED


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (ReasonCode.JOB_SUCCEEDED, Outcome.SUCCEEDED),
        (ReasonCode.JOB_PARTIALLY_SUCCEEDED, Outcome.PARTIALLY_SUCCEEDED),
        (ReasonCode.JOB_FAILED, Outcome.FAILED),
        (ReasonCode.JOB_EXCEPTION, Outcome.FAILED),
    ],
)
def test_the_job_completes_its_run_with_its_own_outcome(
    reason: ReasonCode, outcome: Outcome
) -> None:
    run = running_run()
    effect = run.complete(
        attempt=1, reason_code=reason, summary={"rows": 3}, actor=WORKER, at=at(50)
    )
    assert effect is Effect.APPLIED
    assert run.status is RunStatus.COMPLETED and run.outcome is outcome
    assert run.ended_by is EndedBy.JOB and run.reason_code is reason
    assert run.completed_at == at(50) and run.summary == {"rows": 3}


def test_a_job_cannot_complete_with_a_queue_reason() -> None:
    run = running_run()
    with pytest.raises(ValueError, match=r"queue\.timeout"):
        run.complete(
            attempt=1, reason_code=ReasonCode.QUEUE_TIMEOUT, summary={}, actor=WORKER, at=at(2)
        )
    assert run.status is RunStatus.RUNNING


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (ReasonCode.QUEUE_TIMEOUT, Outcome.FAILED),
        (ReasonCode.QUEUE_MAX_TRIES_EXCEEDED, Outcome.FAILED),
        (ReasonCode.QUEUE_EXPIRED, Outcome.FAILED),
        (ReasonCode.QUEUE_ABORTED, Outcome.CANCELLED),
        (ReasonCode.QUEUE_FUNCTION_MISSING, Outcome.FAILED),
        (ReasonCode.QUEUE_DESERIALIZE_ERROR, Outcome.FAILED),
    ],
)
def test_the_queue_fails_a_queued_or_running_run(reason: ReasonCode, outcome: Outcome) -> None:
    for run in (new_run(), running_run()):
        effect = run.fail_by_queue(
            attempt=1, reason_code=reason, error="boom", actor=WORKER, at=at(60)
        )
        assert effect is Effect.APPLIED
        assert run.status is RunStatus.COMPLETED and run.outcome is outcome
        assert run.ended_by is EndedBy.QUEUE and run.reason_code is reason
        assert run.summary == {"error": "boom"}


@pytest.mark.parametrize("started", [False, True])
def test_the_reconciler_resolves_a_stale_run_with_its_evidence(started: bool) -> None:
    run = running_run() if started else new_run()
    reason = ReasonCode.RECONCILER_STALE_RUNNING if started else ReasonCode.RECONCILER_STALE_QUEUED
    evidence = {"previous_status": str(run.status), "arq_job_state": "not_found"}
    effect = run.reconcile_stale(
        reason_code=reason, evidence=evidence, actor="reconciler", at=at(900)
    )
    assert effect is Effect.APPLIED
    assert run.status is RunStatus.COMPLETED and run.outcome is Outcome.FAILED
    assert run.ended_by is EndedBy.RECONCILER and run.summary == {"evidence": evidence}


def test_a_queue_result_reconciliation_takes_the_outcome_arq_stored() -> None:
    run = running_run()
    with pytest.raises(ValueError, match="explicit outcome"):
        run.reconcile_stale(
            reason_code=ReasonCode.RECONCILER_QUEUE_RESULT,
            evidence={},
            actor="reconciler",
            at=at(9),
        )
    run.reconcile_stale(
        reason_code=ReasonCode.RECONCILER_QUEUE_RESULT,
        evidence={"arq_job_state": "complete"},
        outcome=Outcome.SUCCEEDED,
        actor="reconciler",
        at=at(9),
    )
    assert (
        run.outcome is Outcome.SUCCEEDED and run.reason_code is ReasonCode.RECONCILER_QUEUE_RESULT
    )


def test_the_reconciler_leaves_a_run_that_showed_life_after_it_looked() -> None:
    run = running_run()
    observed = run.last_activity_at
    run.heartbeat(attempt=1, progress={}, actor=WORKER, at=at(500))
    effect = run.reconcile_stale(
        reason_code=ReasonCode.RECONCILER_STALE_RUNNING,
        evidence={},
        actor="reconciler",
        at=at(900),
        observed_last_activity_at=observed,
    )
    assert effect is Effect.UNCHANGED and run.status is RunStatus.RUNNING


def test_a_repeated_reconciliation_changes_nothing() -> None:
    run = running_run()
    run.reconcile_stale(
        reason_code=ReasonCode.RECONCILER_JOB_LOST, evidence={}, actor="reconciler", at=at(9)
    )
    run.collect_events()
    again = run.reconcile_stale(
        reason_code=ReasonCode.RECONCILER_STALE_RUNNING, evidence={}, actor="reconciler", at=at(10)
    )
    assert again is Effect.UNCHANGED and run.collect_events() == []
    assert run.reason_code is ReasonCode.RECONCILER_JOB_LOST


def test_a_duplicate_completion_changes_nothing() -> None:
    run = running_run()
    run.complete(
        attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=WORKER, at=at(5)
    )
    run.collect_events()
    again = run.complete(
        attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=WORKER, at=at(6)
    )
    assert again is Effect.UNCHANGED and run.collect_events() == []


def terminal_run() -> OperationRun:
    run = running_run()
    run.reconcile_stale(
        reason_code=ReasonCode.RECONCILER_STALE_RUNNING, evidence={}, actor="reconciler", at=at(900)
    )
    run.collect_events()
    return run


LATE_SIGNALS = {
    "started": lambda r: r.start(attempt=2, worker_id=WORKER, actor=WORKER, at=at(950)),
    "heartbeat": lambda r: r.heartbeat(attempt=1, progress={"n": 1}, actor=WORKER, at=at(950)),
    "retry_scheduled": lambda r: r.schedule_retry(
        attempt=1, reason="retry.requested", defer_seconds=1, error=None, actor=WORKER, at=at(950)
    ),
    "completed": lambda r: r.complete(
        attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=WORKER, at=at(950)
    ),
    "queue_failed": lambda r: r.fail_by_queue(
        attempt=1, reason_code=ReasonCode.QUEUE_TIMEOUT, error=None, actor=WORKER, at=at(950)
    ),
}


@pytest.mark.parametrize("signal", sorted(LATE_SIGNALS))
def test_a_signal_after_the_end_is_recorded_once_and_changes_nothing(signal: str) -> None:
    run = terminal_run()
    before = run.state()
    assert LATE_SIGNALS[signal](run) is Effect.LATE
    [late] = run.collect_events()
    assert isinstance(late, OperationRun.LateSignalRecorded)
    assert late.signal == signal and late.actor == WORKER
    assert LATE_SIGNALS[signal](run) is Effect.UNCHANGED
    assert run.collect_events() == []
    after = run.state()
    assert (after.status, after.outcome, after.ended_by, after.reason_code, after.completed_at) == (
        before.status,
        before.outcome,
        before.ended_by,
        before.reason_code,
        before.completed_at,
    )


def test_a_late_signal_can_be_recorded_explicitly_but_only_for_a_terminal_run() -> None:
    with pytest.raises(IllegalTransitionError):
        running_run().record_late_signal(
            signal="skipped", attempt=1, details={}, actor=WORKER, at=at(2)
        )
    run = terminal_run()
    effect = run.record_late_signal(
        signal="skipped", attempt=2, details={"why": "terminal"}, actor=WORKER, at=at(960)
    )
    assert effect is Effect.LATE
    assert run.record_late_signal(
        signal="skipped", attempt=2, details={}, actor=WORKER, at=at(961)
    ) is (Effect.UNCHANGED)


def test_every_event_carries_an_actor() -> None:
    run = running_run()
    run.heartbeat(attempt=1, progress={}, actor=WORKER, at=at(2))
    run.complete(attempt=1, reason_code=ReasonCode.JOB_FAILED, summary={}, actor=WORKER, at=at(3))
    run.start(attempt=2, worker_id=WORKER, actor=OTHER_WORKER, at=at(4))
    events = run.collect_events()
    assert [e.actor for e in events] == ["operator:alice", WORKER, WORKER, WORKER, OTHER_WORKER]
