"""The runs-index fold agrees with the OperationRun aggregate on every field they share.

Random command sequences (hypothesis) run through the aggregate; the events it emits go
through eventsourcing's mapper and the read models' decoder into the fold, as the
projector feeds them. The run's row must then say what the aggregate's state says.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    CompleteRun,
    FailByQueue,
    IllegalTransitionError,
    OperationPolicy,
    OperationRun,
    Outcome,
    ReasonCode,
    ReconcileStale,
    RecordHeartbeat,
    RecordLateSignal,
    RetryReason,
    RunCommand,
    ScheduleRetry,
    StartRun,
)
from ledger.codes import JOB_REASONS, QUEUE_REASONS, RECONCILER_REASONS
from projections.db import iso_utc
from projections.events import decode
from projections.runs_index import RunRecord, fold

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
RUN_ID = uuid.UUID("6f1c1a52-0d7e-4c1e-9a53-7b0c2f1d9e01")
REPEAT = "repeat"  # a step that sends the previous command again, later
Step = tuple[RunCommand | str, int, timezone]

workers = st.sampled_from(["worker:h1:10", "worker:h2:20"])
attempts = st.integers(min_value=0, max_value=3)
current = st.sampled_from([1, 1, 2]) | attempts  # mostly the attempt that is running
texts = st.text(st.characters(codec="utf-8"), max_size=8)
plain = st.dictionaries(texts, st.integers(-5, 5) | texts, max_size=3)
seconds = st.integers(1, 900) | st.floats(0.5, 900.0, allow_nan=False)

policies = st.builds(
    OperationPolicy,
    timeout=st.none() | seconds,
    max_tries=st.integers(1, 6),
    stale_queued_after=seconds,
    stale_running_after=seconds,
    retry_defer=st.integers(0, 30) | st.floats(0.0, 30.0),
)
starts = st.builds(lambda w, a: StartRun(RUN_ID, w, attempt=a, worker_id=w), workers, attempts)
heartbeats = st.builds(
    lambda w, a, p: RecordHeartbeat(RUN_ID, w, attempt=a, progress=p), workers, current, plain
)
retries = st.builds(
    lambda w, a, r, d, e: ScheduleRetry(RUN_ID, w, attempt=a, reason=r, defer_seconds=d, error=e),
    workers,
    current,
    st.sampled_from(list(RetryReason)) | st.sampled_from([r.value for r in RetryReason]),
    st.floats(0.0, 60.0),
    st.none() | texts,
)
completions = st.builds(
    lambda w, a, r, s: CompleteRun(RUN_ID, w, attempt=a, reason_code=r, summary=s),
    workers,
    attempts,
    st.sampled_from(sorted(JOB_REASONS)),
    plain,
)
queue_failures = st.builds(
    lambda w, a, r, e: FailByQueue(RUN_ID, w, attempt=a, reason_code=r, error=e),
    workers,
    attempts,
    st.sampled_from(sorted(QUEUE_REASONS)),
    st.none() | texts,
)
reconciliations = st.builds(
    lambda r, o, back: ReconcileStale(
        RUN_ID,
        "reconciler",
        reason_code=r,
        evidence={"arq_job_state": "not_found"},
        outcome=o if r is ReasonCode.RECONCILER_QUEUE_RESULT else None,
        observed_last_activity_at=None if back is None else T0 + timedelta(seconds=back),
    ),
    st.sampled_from(sorted(RECONCILER_REASONS)),
    st.sampled_from([Outcome.SUCCEEDED, Outcome.FAILED]),
    st.none() | st.integers(-60, 3_000),
)
late_signals = st.builds(
    lambda w, s, a: RecordLateSignal(RUN_ID, w, signal=s, attempt=a, details={"n": a}),
    workers,
    st.sampled_from(["started", "heartbeat", "skipped"]),
    attempts,
)
live = st.one_of(starts, heartbeats, retries)
commands = st.one_of(live, completions, queue_failures, reconciliations, late_signals)
zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
delays = st.integers(-5_000_000, 600_000_000)  # microseconds; clocks of hosts disagree


def steps(of: st.SearchStrategy[RunCommand]) -> st.SearchStrategy[list[Step]]:
    """Commands, or repeats of the previous one, each after a delay that may go backwards,
    in a time zone of its own (stored times are normalised)."""
    return st.lists(st.tuples(of | st.just(REPEAT), delays, zones), max_size=15)


# A live phase first, so most sequences get far before anything ends the run.
sequences = st.tuples(steps(live), steps(commands)).map(lambda phases: phases[0] + phases[1])


@settings(max_examples=250, deadline=None)
@given(
    policy=policies,
    params=plain,
    sequence=sequences,
    redeliver=st.booleans(),
)
def test_the_fold_and_the_aggregate_agree_after_any_command_sequence(
    policy: OperationPolicy,
    params: dict[str, Any],
    sequence: list[Step],
    redeliver: bool,
) -> None:
    run = OperationRun.queue(
        run_id=RUN_ID,
        workspace="acme",
        operation_type="inventory.sync",
        policy=policy,
        actor="system",
        at=T0,
        params_summary=params,
        idempotency_key="k-1",
    )
    at, previous = T0, None
    for step, delay, zone in sequence:
        command = previous if step == REPEAT else step
        if not isinstance(command, RunCommand):
            continue  # a repeat with nothing before it
        previous, at = command, at + timedelta(microseconds=delay)
        with suppress(IllegalTransitionError):  # no real ordering: nothing appended
            command.apply(run, at.astimezone(zone))

    record = _folded(run.collect_events(), redeliver)
    assert record is not None
    assert _shared(record) == _expected(run)


def _folded(events: Sequence[Any], redeliver: bool) -> RunRecord | None:
    """The run's row after the projector's fold of `events` (each twice if `redeliver`)."""
    mapper: Mapper[uuid.UUID] = Application().mapper
    record = None
    for position, event in enumerate(events, start=1):
        stored = mapper.to_stored_event(event)
        decoded = decode(
            position, stored.originator_id, stored.originator_version, stored.topic, stored.state
        )
        for _ in range(2 if redeliver else 1):
            record = fold(record, decoded)
    return record


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def _shared(record: RunRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "workspace": record.workspace,
        "operation_type": record.operation_type,
        "initiator": record.initiator,
        "idempotency_key": record.idempotency_key,
        "params_summary": record.params_summary,
        "policy": record.policy,
        "status": record.status,
        "outcome": record.outcome,
        "ended_by": record.ended_by,
        "reason_code": record.reason_code,
        "attempts": record.attempts,
        "worker_id": record.worker_id,
        "queued_at": record.queued_at,
        "started_at": record.started_at,
        "last_activity_at": record.last_activity_at,
        "completed_at": record.completed_at,
        "stale_at": record.stale_at(),
        "progress": record.progress,
        "heartbeats": record.heartbeats,
        "late_signals": record.late_signals,
        "summary": record.summary,
        "version": record.version,
    }


def _expected(run: OperationRun) -> dict[str, Any]:
    state = run.state()
    return {
        "id": str(state.id),
        "workspace": state.workspace,
        "operation_type": state.operation_type,
        "initiator": state.initiator,
        "idempotency_key": run.idempotency_key,
        "params_summary": run.params_summary,
        # The row keeps what freshness needs, not the retry defer.
        "policy": OperationPolicy.from_dict({**state.policy.to_dict(), "retry_defer": 0.0}),
        "status": state.status,
        "outcome": state.outcome,
        "ended_by": state.ended_by,
        "reason_code": state.reason_code,
        "attempts": state.attempts,
        "worker_id": run.worker_id,
        "queued_at": _time(state.queued_at),
        "started_at": _time(state.started_at),
        "last_activity_at": _time(state.last_activity_at),
        "completed_at": _time(state.completed_at),
        "stale_at": _time(state.stale_at),
        "progress": run.progress,
        "heartbeats": run.heartbeats,
        "late_signals": len(run.late_keys),
        "summary": state.summary,
        "version": state.version,
    }
