"""The operator's explanation of a run: how it ended, or why it is fresh or stale."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from ledger import Outcome, ReasonCode, RunStatus, default_outcome
from projections.explain import Explanation, explain, next_reconcile_pass
from projections.rows import RunRow, TimelineEntry
from projections.wording import clock, duration

RUN_ID = UUID("0b6f3c1e-5d2a-4c8e-9f10-2a3b4c5d6e7f")
WORKER = "worker:web-7:4242"
T0 = datetime(2026, 3, 4, 10, 30, 0, tzinfo=UTC)  # queued
STARTED = T0 + timedelta(seconds=2)
ENDED = T0 + timedelta(minutes=3, seconds=22)
NOW = datetime(2026, 3, 4, 10, 40, 2, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


def a_run(**changes: Any) -> RunRow:
    """A running run on attempt 1 of 3 (timeout 30 s, stale after 10 min queued / 5 running)."""
    run = RunRow(
        id=RUN_ID,
        workspace="acme",
        operation_type="inventory.sync",
        initiator="system",
        idempotency_key=None,
        status=RunStatus.RUNNING,
        outcome=None,
        ended_by=None,
        reason_code=None,
        attempts=1,
        worker_id=WORKER,
        queued_at=T0,
        started_at=STARTED,
        last_activity_at=STARTED,
        completed_at=None,
        timeout=30.0,
        max_tries=3,
        stale_queued_after=600.0,
        stale_running_after=300.0,
        stale_at=None,
        heartbeats=0,
        late_signals=0,
        params_summary={},
        progress={},
        summary={},
        version=2,
        position=2,
        freshness=None,
    )
    return replace(run, **changes)


def a_queued_run(**changes: Any) -> RunRow:
    return a_run(status=RunStatus.QUEUED, attempts=0, worker_id=None, started_at=None, **changes)


def ended(reason: ReasonCode, outcome: Outcome | None = None, **changes: Any) -> RunRow:
    """A run completed with `reason`, ended at ENDED, with the reason's default outcome."""
    fields: dict[str, Any] = {
        "status": RunStatus.COMPLETED,
        "outcome": outcome or default_outcome(reason),
        "ended_by": reason.ended_by,
        "reason_code": reason,
        "completed_at": ENDED,
        "last_activity_at": ENDED,
        **changes,
    }
    return a_run(**fields)


def evidence(**changes: Any) -> dict[str, Any]:
    """What the reconciler records (workers.reconcile_rules.decide, plus checked_at)."""
    return {
        "previous_status": "running",
        "last_activity_at": STARTED.isoformat(),
        "idle_seconds": 840.0,
        "threshold_seconds": 300.0,
        "attempts": 1,
        "arq_job_state": "deferred",
        "checked_at": ENDED.isoformat(),
        "reconciler": "reconciler",
        **changes,
    }


def reconciled(reason: ReasonCode, outcome: Outcome | None = None, **found: Any) -> RunRow:
    return ended(reason, outcome, summary={"evidence": evidence(**found)})


def entry(event: str, at: datetime, **details: Any) -> TimelineEntry:
    """A timeline row as projections.timeline writes it: `attempt` comes from the details."""
    attempt = details.get("attempt")
    return TimelineEntry(RUN_ID, 0, 0, at, event, WORKER, attempt, details)


def started(at: datetime = STARTED, attempt: int = 1) -> TimelineEntry:
    return entry("started", at, attempt=attempt, worker_id=WORKER)


def heartbeat(at: datetime, **progress: Any) -> TimelineEntry:
    return entry("heartbeat", at, attempt=1, progress=progress)


def told(run: RunRow, timeline: list[TimelineEntry] | None = None) -> Explanation:
    return explain(run, timeline or [], NOW)


# -- how a run ended, one test per reason code ----------------------------------------


def test_a_succeeded_run_names_its_attempt_and_what_the_job_reported() -> None:
    run = ended(ReasonCode.JOB_SUCCEEDED, summary={"rows": 120, "skipped": 3})
    explanation = told(run, [started()])
    assert explanation.headline == "Succeeded on attempt 1 of 3."
    assert explanation.details[:2] == [
        "The job reported rows=120, skipped=3.",
        "It ended at 2026-03-04 10:33:22 UTC, 3 min 20 s after it first started "
        "(it waited 2 s for a worker).",
    ]


def test_a_partially_succeeded_run_says_only_part_of_the_work_was_done() -> None:
    run = ended(ReasonCode.JOB_PARTIALLY_SUCCEEDED, attempts=2, summary={"synced": 90})
    explanation = told(run)
    assert explanation.headline == (
        "Partially succeeded on attempt 2 of 3: the job did only part of its work."
    )
    assert "The job reported synced=90." in explanation.details


def test_a_run_the_job_failed_shows_its_summary_and_keeps_the_error_aside() -> None:
    run = ended(ReasonCode.JOB_FAILED, summary={"rejected": 4, "error": "4 rows rejected"})
    explanation = told(run)
    assert explanation.headline == "Failed on attempt 1 of 3: the job reported a failure."
    assert explanation.details[:2] == [
        "The job reported rejected=4.",
        "Its error is in the diagnostics.",
    ]
    assert explanation.diagnostics["error"] == "4 rows rejected"


def test_an_exception_is_named_by_its_type_with_the_message_in_the_diagnostics() -> None:
    error = "ValueError: bad row 7 in s3://acme/in.csv"
    explanation = told(ended(ReasonCode.JOB_EXCEPTION, summary={"error": error}))
    assert explanation.headline == "Failed on attempt 1 of 3: the job raised an exception."
    assert explanation.details[0] == "It raised ValueError; the full error is in the diagnostics."
    assert explanation.diagnostics["error"] == error
    assert "bad row" not in " ".join([explanation.headline, *explanation.details])


def test_a_timed_out_run_names_its_timeout() -> None:
    error = "TimeoutError: exceeded its 30 s timeout"
    explanation = told(ended(ReasonCode.QUEUE_TIMEOUT, summary={"error": error}))
    assert explanation.headline == (
        "Failed on attempt 1 of 3: the job ran longer than its 30 s timeout, so arq cancelled it."
    )
    assert explanation.diagnostics["error"] == error


def test_a_timeout_reads_in_minutes_when_it_is_long() -> None:
    explanation = told(ended(ReasonCode.QUEUE_TIMEOUT, timeout=90.0))
    assert "longer than its 1 min 30 s timeout" in explanation.headline


def test_exhausted_tries_compare_the_attempts_seen_with_max_tries() -> None:
    run = ended(
        ReasonCode.QUEUE_MAX_TRIES_EXCEEDED, attempts=2, summary={"error": "max 3 retries exceeded"}
    )
    explanation = told(run)
    assert explanation.headline == "Failed: the job used up its 3 tries, so arq gave up on it."
    assert explanation.details[0] == "The ledger saw 2 attempts start; max_tries is 3."
    assert explanation.diagnostics["error"] == "max 3 retries exceeded"


def test_an_expired_job_says_how_long_it_waited_and_that_it_never_started() -> None:
    run = ended(
        ReasonCode.QUEUE_EXPIRED,
        attempts=0,
        started_at=None,
        worker_id=None,
        completed_at=T0 + timedelta(days=1, minutes=5),
        summary={"error": "JobExecutionFailed: job expired"},
    )
    explanation = told(run)
    assert explanation.headline == "Failed: the job expired in arq's queue before a worker ran it."
    assert explanation.details == [
        "It expired 1 d after it was queued.",
        "It ended at 2026-03-05 10:35:00 UTC, 1 d after it was queued, without ever starting.",
    ]


def test_an_abort_while_running_is_cancelled_and_names_the_attempt() -> None:
    run = ended(ReasonCode.QUEUE_ABORTED, summary={"error": "aborted while running"})
    explanation = told(run)
    assert explanation.headline == "Cancelled: the job was aborted through arq."
    assert explanation.details[0] == "It was aborted while attempt 1 of 3 was running."


def test_an_abort_before_any_start_says_so() -> None:
    run = ended(ReasonCode.QUEUE_ABORTED, attempts=0, started_at=None, worker_id=None)
    assert told(run).details[0] == "It was aborted before any worker started it."


def test_a_worker_shutdown_ending_names_the_attempt_it_cut_short() -> None:
    explanation = told(ended(ReasonCode.QUEUE_WORKER_SHUTDOWN, attempts=3))
    assert explanation.headline == (
        "Failed on attempt 3 of 3: the worker shut down while the job was running."
    )


def test_a_missing_function_names_the_operation_and_the_fix() -> None:
    explanation = told(ended(ReasonCode.QUEUE_FUNCTION_MISSING, attempts=0, started_at=None))
    assert explanation.headline == (
        "Failed: the worker that picked it up does not serve this operation."
    )
    assert explanation.details[:2] == [
        "No function named 'inventory.sync' is registered on that worker, "
        "so arq failed the job without running it.",
        "Check the worker's --jobs module (RUNLEDGER_JOBS).",
    ]


def test_an_undecodable_job_says_it_never_ran() -> None:
    explanation = told(ended(ReasonCode.QUEUE_DESERIALIZE_ERROR, attempts=0, started_at=None))
    assert explanation.headline == "Failed: arq could not decode the stored job, so it never ran."
    assert "deserialize" in explanation.details[0]


def test_a_run_no_worker_started_in_time_compares_idle_time_with_the_threshold() -> None:
    run = reconciled(
        ReasonCode.RECONCILER_STALE_QUEUED,
        previous_status="queued",
        threshold_seconds=600.0,
        attempts=0,
        arq_job_state="queued",
    )
    explanation = told(replace(run, attempts=0, started_at=None, worker_id=None))
    assert explanation.headline == (
        "Failed: no worker started it in time, so the reconciler closed it."
    )
    assert explanation.details[:2] == [
        "No sign of life for 14 min; the threshold is 10 min.",
        "When the reconciler checked at 10:33:22 UTC, arq still had it queued.",
    ]
    assert explanation.diagnostics["arq_job_state"] == "queued"


def test_a_run_that_went_silent_while_running_names_its_last_heartbeat() -> None:
    run = replace(reconciled(ReasonCode.RECONCILER_STALE_RUNNING), heartbeats=1)
    timeline = [started(), heartbeat(T0 + timedelta(minutes=1), done=80, total=100)]
    explanation = told(run, timeline)
    assert explanation.headline == (
        "Failed on attempt 1 of 3: the run stopped showing signs of life, "
        "so the reconciler closed it."
    )
    assert explanation.details[:3] == [
        "No sign of life for 14 min; the threshold is 5 min.",
        "When the reconciler checked at 10:33:22 UTC, "
        "arq had it deferred, waiting to run it again.",
        "Its last heartbeat was at 10:31:00 UTC: 80/100.",
    ]
    assert explanation.diagnostics["evidence"]["idle_seconds"] == 840.0


def test_a_lost_job_says_arq_had_no_trace_and_gives_the_grace() -> None:
    run = reconciled(
        ReasonCode.RECONCILER_JOB_LOST,
        previous_status="queued",
        idle_seconds=40.0,
        threshold_seconds=600.0,
        attempts=0,
        arq_job_state="not_found",
        grace_seconds=10.0,
    )
    explanation = told(replace(run, attempts=0, started_at=None, worker_id=None))
    assert explanation.headline == (
        "Failed: arq lost track of the job, so the reconciler closed it."
    )
    assert explanation.details[:4] == [
        "No sign of life for 40 s; the threshold is 10 min.",
        "When the reconciler checked at 10:33:22 UTC, arq had no trace of the job.",
        "A job arq has no trace of is closed once the 10 s grace for enqueueing has passed, "
        "without waiting for the threshold.",
        "It never started: most likely the enqueue that follows `Queued` never reached arq.",
    ]


def test_a_failed_result_only_arq_knew_of_is_bridged_with_its_error() -> None:
    result = {"success": False, "job_try": 2, "error": "ZeroDivisionError: division by zero"}
    run = reconciled(
        ReasonCode.RECONCILER_QUEUE_RESULT,
        Outcome.FAILED,
        arq_job_state="complete",
        arq_result=result,
    )
    explanation = told(run)
    assert explanation.headline == (
        "Failed: arq stored a failed result that no worker reported; the reconciler recorded it."
    )
    assert explanation.details[:3] == [
        "arq's result is for try 2: the job failed.",
        "It raised ZeroDivisionError; the full error is in the diagnostics.",
        "When the reconciler checked at 10:33:22 UTC, arq had stored a result for it.",
    ]
    assert explanation.diagnostics["error"] == "ZeroDivisionError: division by zero"
    assert explanation.diagnostics["arq_result"] == result


def test_a_successful_result_only_arq_knew_of_reads_as_succeeded() -> None:
    result = {"success": True, "job_try": 1}
    run = reconciled(
        ReasonCode.RECONCILER_QUEUE_RESULT,
        Outcome.SUCCEEDED,
        arq_job_state="complete",
        arq_result=result,
    )
    explanation = told(run)
    assert explanation.headline.startswith("Succeeded: arq stored a successful result")
    assert explanation.details[0] == "arq's result is for try 1: the job succeeded."


# -- a queued or running run ---------------------------------------------------------


def test_a_fresh_queued_run_says_since_when_it_waits_and_when_it_turns_stale() -> None:
    queued_at = NOW - timedelta(minutes=2)
    explanation = told(a_queued_run(queued_at=queued_at, last_activity_at=queued_at))
    assert explanation.headline == "Waiting for a worker since 10:38:02 UTC (2 min)."
    assert explanation.details == [
        "If no worker starts it, it turns stale at 10:48:02 UTC (in 8 min; "
        "the threshold is 10 min) and will be reconciled at 10:48:30 UTC."
    ]


def test_a_fresh_running_run_shows_its_last_heartbeat_and_progress() -> None:
    beat = NOW - timedelta(seconds=12)
    run = a_run(last_activity_at=beat, heartbeats=1, progress={"done": 80, "total": 100})
    explanation = told(run, [started(), heartbeat(beat, done=80, total=100)])
    assert explanation.headline == "Running attempt 1 of 3 since 10:30:02 UTC (10 min)."
    assert explanation.details == [
        "Last heartbeat 12 s ago: 80/100 (1 heartbeat so far).",
        "Without a sign of life, it turns stale at 10:44:50 UTC (in 4 min 48 s; "
        "the threshold is 5 min) and will be reconciled at 10:45:00 UTC.",
    ]


def test_progress_without_done_and_total_reads_as_its_counters() -> None:
    beat = NOW - timedelta(seconds=5)
    run = a_run(last_activity_at=beat, heartbeats=1, progress={"phase": "load", "rows": 12.0})
    explanation = told(run, [started(), heartbeat(beat, phase="load", rows=12.0)])
    assert (
        explanation.details[0]
        == "Last heartbeat 5 s ago: phase=load, rows=12 (1 heartbeat so far)."
    )


def test_folded_heartbeats_count_every_heartbeat_they_stand_for() -> None:
    last = NOW - timedelta(seconds=12)
    folded = entry(
        "heartbeats",
        STARTED,
        count=40,
        first_at=(STARTED + timedelta(seconds=10)).isoformat(),
        last_at=last.isoformat(),
        last_progress={"done": 40, "total": 50},
    )
    run = a_run(last_activity_at=last, heartbeats=40, progress={"done": 40, "total": 50})
    explanation = told(run, [started(), folded])
    assert explanation.details[0] == "Last heartbeat 12 s ago: 40/50 (40 heartbeats so far)."


def test_a_run_whose_attempt_asked_for_a_retry_waits_for_arq() -> None:
    at = NOW - timedelta(seconds=3)
    retry = entry(
        "retry_scheduled", at, attempt=1, reason="retry.requested", defer_seconds=20.0, error=None
    )
    explanation = told(a_run(last_activity_at=at), [started(), retry])
    assert explanation.headline == "Waiting for arq to retry it: attempt 1 of 3 ended."
    assert explanation.details[0] == (
        "Attempt 1 ended because the job asked for a retry; arq will run it again from "
        "10:40:19 UTC."
    )


def test_a_stale_queued_run_predicts_when_it_will_be_reconciled() -> None:
    queued_at = NOW - timedelta(minutes=14)
    run = a_queued_run(queued_at=queued_at, last_activity_at=queued_at, stale_queued_after=300.0)
    explanation = told(run)
    assert explanation.headline == "Stale: no worker has started it in 14 min."
    assert explanation.details == [
        "No sign of life for 14 min; the threshold is 5 min; it will be reconciled at 10:40:30 UTC."
    ]


def test_a_stale_running_run_predicts_its_reconciliation_and_shows_the_last_heartbeat() -> None:
    last = NOW - timedelta(minutes=14)
    run = a_run(last_activity_at=last, heartbeats=3, progress={"done": 3, "total": 9})
    timeline = [started(), heartbeat(last, done=3, total=9)]
    explanation = explain(run, timeline, NOW, reconcile_interval=15)
    assert explanation.headline == "Stale: attempt 1 of 3 has shown no sign of life for 14 min."
    assert explanation.details == [
        "No sign of life for 14 min; the threshold is 5 min; "
        "it will be reconciled at 10:40:15 UTC.",
        "Last heartbeat 14 min ago: 3/9 (3 heartbeats so far).",
        "The reconciler leaves it alone while arq still has the job in progress.",
    ]


@pytest.mark.parametrize(
    ("moment", "interval", "after", "expected"),
    [
        ("10:42:12", 30, False, "10:42:30"),
        ("10:42:30", 30, False, "10:42:30"),  # on a boundary: that very pass
        ("10:42:30", 30, True, "10:43:00"),  # already stale: the next pass after now
        ("10:42:59.5", 15, False, "10:43:00"),
        ("10:42:01", 60, False, "10:43:00"),
        ("23:59:50", 20, False, "00:00:00"),  # into the next day
    ],
)
def test_the_reconcile_pass_is_the_next_cron_boundary(
    moment: str, interval: int, after: bool, expected: str
) -> None:
    at = datetime.fromisoformat(f"2026-03-04T{moment}+00:00")
    assert next_reconcile_pass(at, interval, after=after).strftime("%H:%M:%S") == expected


# -- what every explanation does -----------------------------------------------------


def test_late_signals_are_counted_and_said_to_change_nothing() -> None:
    run = ended(ReasonCode.JOB_SUCCEEDED, late_signals=2)
    late = [
        entry("late_signal_recorded", LATER, signal="heartbeat", attempt=1, details={}),
        entry("late_signal_recorded", LATER, signal="completed", attempt=1, details={}),
    ]
    assert told(run, late).details[-1] == (
        "2 signals (heartbeat, completed) arrived after the run ended; "
        "they were recorded and changed nothing."
    )


def test_retries_are_listed_with_their_reasons() -> None:
    retries = [
        entry("retry_scheduled", STARTED, attempt=1, reason="retry.worker_shutdown"),
        entry("retry_scheduled", STARTED, attempt=2, reason="retry.requested", defer_seconds=5.0),
    ]
    explanation = told(ended(ReasonCode.JOB_SUCCEEDED, attempts=3), retries)
    assert "2 retries scheduled: after attempt 1 (the worker shut down), after attempt 2 " in (
        " ".join(explanation.details)
    )


def test_the_last_retry_error_is_a_running_runs_diagnostic() -> None:
    retry = entry(
        "retry_scheduled",
        NOW,
        attempt=1,
        reason="retry.requested",
        error="ConnectionError: refused",
    )
    explanation = told(a_run(last_activity_at=NOW), [started(), retry])
    assert explanation.diagnostics["error"] == "ConnectionError: refused"


def test_a_completed_run_reads_the_same_whenever_it_is_explained() -> None:
    run = reconciled(ReasonCode.RECONCILER_STALE_RUNNING)
    timeline = [started(), heartbeat(STARTED, done=1, total=2)]
    assert explain(run, timeline, NOW) == explain(run, timeline, LATER)


def test_a_run_without_a_reason_code_still_gets_a_truthful_sentence() -> None:
    run = replace(ended(ReasonCode.JOB_FAILED), reason_code=None)
    explanation = told(run)
    assert explanation.headline == "Failed; the ledger recorded no reason it could explain."
    assert explanation.details[0] == "No reason code was recorded."


def test_unknown_events_and_missing_evidence_drop_sentences_not_the_explanation() -> None:
    run = ended(ReasonCode.RECONCILER_STALE_RUNNING, summary={"evidence": {}})
    timeline = [entry("checkpointed", STARTED, what=1), entry("heartbeats", STARTED, count="?")]
    explanation = told(run, timeline)
    assert explanation.headline.startswith("Failed on attempt 1 of 3: the run stopped")
    assert all(detail for detail in explanation.details)


def test_the_json_form_has_headline_details_and_diagnostics() -> None:
    document = told(ended(ReasonCode.JOB_SUCCEEDED)).to_json()
    assert list(document) == ["headline", "details", "diagnostics"]
    assert document["diagnostics"]["job_id"] == str(RUN_ID)
    assert document["diagnostics"]["worker_id"] == WORKER
    assert document["diagnostics"]["attempts"] == 1


# -- the headline is operator-safe, whatever the case --------------------------------

ERROR = "RuntimeError: upstream 10.0.0.7 said no"


def every_case() -> list[tuple[RunRow, list[TimelineEntry]]]:
    """A run ending with every reason code, and one of each non-terminal state."""
    cases = [
        (ended(reason, summary={"error": ERROR}), [started()])
        for reason in ReasonCode
        if not reason.value.startswith("reconciler.")
    ]
    arq_result = {"success": False, "job_try": 1, "error": ERROR}
    cases += [
        (reconciled(reason, Outcome.FAILED, arq_result=arq_result), [started()])
        for reason in ReasonCode
        if reason.value.startswith("reconciler.")
    ]
    retry = entry("retry_scheduled", NOW, attempt=1, reason="retry.requested", error=ERROR)
    stale = NOW - timedelta(hours=1)
    cases += [
        (a_queued_run(queued_at=NOW, last_activity_at=NOW), []),
        (a_queued_run(queued_at=stale, last_activity_at=stale), []),
        (a_run(last_activity_at=NOW), [started(), retry]),
        (a_run(last_activity_at=stale), [started(), retry]),
        (a_run(last_activity_at=NOW), []),
    ]
    return cases


@pytest.mark.parametrize(("run", "timeline"), every_case())
def test_the_headline_never_shows_an_error_a_worker_or_the_job_id(
    run: RunRow, timeline: list[TimelineEntry]
) -> None:
    explanation = explain(run, timeline, NOW)
    assert explanation.diagnostics["job_id"] == str(RUN_ID)
    if run.status is RunStatus.COMPLETED or any(e.event == "retry_scheduled" for e in timeline):
        assert explanation.diagnostics["error"] == ERROR
    for secret in (ERROR, "upstream", WORKER, "worker:", str(RUN_ID)):
        assert secret not in explanation.headline
    assert explanation.headline.endswith(".") and explanation.headline.count(". ") == 0


def test_every_reason_code_has_its_own_headline() -> None:
    headlines = {told(ended(reason)).headline for reason in ReasonCode}
    assert len(headlines) == len(ReasonCode)
    assert not any("no reason" in h for h in headlines)


# -- how durations and times read ----------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "0.4 s"),
        (0.5, "0.5 s"),
        (30.0, "30 s"),
        (45.4, "45 s"),
        (59.6, "1 min"),
        (65, "1 min 5 s"),
        (300, "5 min"),
        (840.2, "14 min"),
        (3900, "1 h 5 min"),
        (3600 * 49 + 59, "2 d 1 h"),
        (86_400 * 2 + 3600 * 3 + 60 * 15, "2 d 3 h"),
        (-3, "0 s"),
    ],
)
def test_durations_read_compactly(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_a_time_shows_its_date_only_when_it_is_not_today() -> None:
    assert clock(NOW, today=NOW) == "10:40:02 UTC"
    assert clock(NOW, today=LATER) == "2026-03-04 10:40:02 UTC"
    assert clock(NOW) == "2026-03-04 10:40:02 UTC"
