"""Random command sequences keep the run's invariants (hypothesis)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    Effect,
    IllegalTransitionError,
    OperationPolicy,
    OperationRun,
    Outcome,
    ReasonCode,
    RunStatus,
)
from ledger.codes import JOB_REASONS, QUEUE_REASONS, RECONCILER_REASONS, is_valid_actor
from ledger.run import TERMINAL_EVENTS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = {RunStatus.QUEUED: 0, RunStatus.RUNNING: 1, RunStatus.COMPLETED: 2}
Command = Callable[[OperationRun, datetime], Effect]

actors = st.sampled_from(["worker:h1:10", "worker:h2:20", "reconciler", "operator:ops", "system"])
attempts = st.integers(min_value=0, max_value=4)


def _start(attempt: int, actor: str) -> Command:
    return lambda r, at: r.start(attempt=attempt, worker_id=actor, actor=actor, at=at)


def _heartbeat(attempt: int, actor: str, n: int) -> Command:
    return lambda r, at: r.heartbeat(attempt=attempt, progress={"n": n}, actor=actor, at=at)


def _retry(attempt: int, actor: str) -> Command:
    return lambda r, at: r.schedule_retry(
        attempt=attempt, reason="retry.requested", defer_seconds=1, error=None, actor=actor, at=at
    )


def _complete(attempt: int, reason: ReasonCode, actor: str) -> Command:
    return lambda r, at: r.complete(
        attempt=attempt, reason_code=reason, summary={}, actor=actor, at=at
    )


def _fail(attempt: int, reason: ReasonCode, actor: str) -> Command:
    return lambda r, at: r.fail_by_queue(
        attempt=attempt, reason_code=reason, error="e", actor=actor, at=at
    )


def _reconcile(reason: ReasonCode, observed_back: int | None) -> Command:
    def command(run: OperationRun, at: datetime) -> Effect:
        observed = None if observed_back is None else at - timedelta(seconds=observed_back)
        return run.reconcile_stale(
            reason_code=reason,
            evidence={"arq_job_state": "not_found"},
            outcome=Outcome.SUCCEEDED if reason is ReasonCode.RECONCILER_QUEUE_RESULT else None,
            observed_last_activity_at=observed,
            actor="reconciler",
            at=at,
        )

    return command


def _late(signal: str, attempt: int, actor: str) -> Command:
    return lambda r, at: r.record_late_signal(
        signal=signal, attempt=attempt, details={}, actor=actor, at=at
    )


commands = st.one_of(
    st.builds(_start, attempts, actors),
    st.builds(_heartbeat, attempts, actors, st.integers(0, 9)),
    st.builds(_retry, attempts, actors),
    st.builds(_complete, attempts, st.sampled_from(sorted(JOB_REASONS)), actors),
    st.builds(_fail, attempts, st.sampled_from(sorted(QUEUE_REASONS)), actors),
    st.builds(
        _reconcile,
        st.sampled_from(sorted(RECONCILER_REASONS)),
        st.none() | st.integers(0, 30),
    ),
    st.builds(_late, st.sampled_from(["skipped", "started"]), attempts, actors),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=25))
def test_random_command_sequences_keep_the_run_invariants(sequence: list[Command]) -> None:
    run = OperationRun.queue(
        run_id=uuid.uuid4(),
        workspace="acme",
        operation_type="t",
        policy=OperationPolicy(timeout=30),
        actor="system",
        at=T0,
    )
    events = list(run.collect_events())
    terminal_state = None
    for step, command in enumerate(sequence, start=1):
        before = run.status
        try:
            effect = command(run, T0 + timedelta(seconds=10 * step))
        except IllegalTransitionError:
            effect = None
        new = run.collect_events()
        events += new
        # Status never goes backwards.
        assert ORDER[run.status] >= ORDER[before]
        # A command appends at most one event, and only when it says it did something.
        assert len(new) == (1 if effect in (Effect.APPLIED, Effect.LATE) else 0)
        if terminal_state is not None:
            # Terminal state is immutable: only LateSignalRecorded may follow.
            assert _terminal_fields(run) == terminal_state
            assert all(isinstance(e, OperationRun.LateSignalRecorded) for e in new)
        elif run.status is RunStatus.COMPLETED:
            terminal_state = _terminal_fields(run)

    assert sum(isinstance(e, TERMINAL_EVENTS) for e in events) <= 1
    assert all(is_valid_actor(e.actor) for e in events)
    # Replaying the events rebuilds the same state.
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed is not None and replayed.state() == run.state()


def _terminal_fields(run: OperationRun) -> tuple[object, ...]:
    return (run.status, run.outcome, run.ended_by, run.reason_code, run.completed_at, run.summary)
