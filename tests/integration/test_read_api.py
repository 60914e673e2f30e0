"""The read API over projected read models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from ledger import (
    EndedBy,
    Freshness,
    Outcome,
    ReasonCode,
    RunLedger,
    RunStatus,
    utcnow,
)
from projections import AuditFilters, MonitoringView, RunFilters, Scope
from projections.db import Connection
from tests.integration.read_helpers import ALL, project
from tests.integration.workload import FAST, mixed_workload


def test_a_run_shows_how_it_ended_and_its_timeline(ledger: RunLedger, view: MonitoringView) -> None:
    runs = mixed_workload(ledger)
    project(ledger, batch_size=7)

    failed = view.get_run(ALL, runs["queue_failed"])
    assert failed is not None
    assert (failed.status, failed.outcome, failed.ended_by) == (
        RunStatus.COMPLETED,
        Outcome.FAILED,
        EndedBy.QUEUE,
    )
    assert failed.reason_code is ReasonCode.QUEUE_TIMEOUT
    assert failed.summary == {"error": "TimeoutError()"}
    assert failed.late_signals == 1 and failed.freshness is None and failed.stale_at is None
    page = view.timeline(ALL, runs["queue_failed"], fold_heartbeats=False)
    assert page is not None
    events = [e.event for e in page.entries]
    assert events == ["queued", "started", "queue_failed", "late_signal_recorded"]

    retried = view.get_run(ALL, runs["retried"])
    assert retried is not None and retried.attempts == 2 and retried.worker_id.endswith("202")
    assert retried.summary == {"rows": 9} and retried.ended_by is EndedBy.JOB


def test_freshness_is_computed_at_query_time(ledger: RunLedger, view: MonitoringView) -> None:
    runs = mixed_workload(ledger)
    project(ledger, batch_size=7)
    running = view.get_run(ALL, runs["running"])
    assert running is not None and running.freshness is Freshness.FRESH
    assert running.progress == {"done": 2, "total": 4} and running.heartbeats == 2
    assert running.stale_at == running.last_activity_at + timedelta(seconds=120)

    later = running.stale_at
    assert view.get_run(ALL, runs["running"], now=later).freshness is Freshness.STALE  # type: ignore[union-attr]
    stale = view.list_runs(ALL, RunFilters(freshness=Freshness.STALE), now=later)
    assert {r.id for r in stale.runs} == {runs["running"]}


def test_runs_are_listed_newest_first_by_page_and_filtered(
    ledger: RunLedger, view: MonitoringView
) -> None:
    mixed_workload(ledger, rounds=2)
    project(ledger, batch_size=7)

    seen, cursor = [], None
    while True:
        page = view.list_runs(Scope.of({"acme"}), limit=3, cursor=cursor)
        seen += page.runs
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 8 and len({r.id for r in seen}) == 8
    assert all(r.workspace == "acme" for r in seen)
    assert [r.queued_at for r in seen] == sorted((r.queued_at for r in seen), reverse=True)

    reconciled = view.list_runs(ALL, RunFilters(ended_by=EndedBy.RECONCILER))
    assert {r.reason_code for r in reconciled.runs} == {
        ReasonCode.RECONCILER_STALE_RUNNING,
        ReasonCode.RECONCILER_JOB_LOST,
    }
    assert view.list_runs(Scope.of(())).runs == []


def test_reconcile_candidates_are_idle_active_runs_oldest_first(
    ledger: RunLedger, view: MonitoringView
) -> None:
    runs = mixed_workload(ledger, rounds=2)
    project(ledger, batch_size=7)

    everything = view.reconcile_candidates(ALL, utcnow() + timedelta(seconds=1), limit=100)
    assert {c.status for c in everything} == {RunStatus.QUEUED, RunStatus.RUNNING}
    assert len(everything) == 4  # one queued and one running run per round
    assert [c.last_activity_at for c in everything] == sorted(
        c.last_activity_at for c in everything
    )
    oldest = everything[0]
    assert oldest.stale_queued_after == FAST.stale_queued_after
    assert oldest.stale_at == oldest.last_activity_at + timedelta(seconds=600)

    assert view.reconcile_candidates(ALL, oldest.last_activity_at, limit=100) == [oldest]
    assert len(view.reconcile_candidates(ALL, utcnow(), limit=2)) == 2
    assert runs["queued"] in {c.run_id for c in everything}


def test_reconcile_candidates_read_only_the_partial_index_of_active_runs(
    ledger: RunLedger,
) -> None:
    mixed_workload(ledger)
    project(ledger, batch_size=7)
    with Connection(ledger.settings) as conn:
        query = (
            "SELECT id FROM {s}runs_index WHERE status IN ('queued', 'running') "
            "AND last_activity_at <= ? ORDER BY last_activity_at, id LIMIT ?"
        )
        params = (conn.time_in(utcnow()), 10)
        if conn.is_postgres:
            conn.execute("SET enable_seqscan = off")  # a tiny table: make the planner show
            plan = " ".join(str(r[0]) for r in conn.execute(f"EXPLAIN {query}", params))
        else:
            plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {query}", params))
    assert "runs_index_active_by_activity" in plan


def test_audit_lists_every_event_newest_first_and_opens_one_entry(
    ledger: RunLedger, view: MonitoringView
) -> None:
    runs = mixed_workload(ledger)
    total = project(ledger, batch_size=7)

    entries, cursor = [], None
    while True:
        page = view.audit(ALL, limit=5, cursor=cursor)
        entries += page.entries
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(entries) == total
    assert len({e.position for e in entries}) == total
    order = [(e.at, e.position) for e in entries]  # newest first, the position breaking ties
    assert order == sorted(order, reverse=True)
    actions = {e.action for e in entries}
    assert {
        "run.queued",
        "run.heartbeat",
        "run.retry_scheduled",
        "run.reconciled_stale",
        "run.late_signal_recorded",
        "run.queue_failed",
        "run.completed",
    } <= actions

    stale = view.audit(
        ALL, AuditFilters(run_id=runs["stale"], action="run.reconciled_stale")
    ).entries
    assert len(stale) == 1 and stale[0].actor == "reconciler" and stale[0].workspace == "beta"
    assert stale[0].details["evidence"] == {"previous_status": "running", "arq": "queued"}
    assert view.audit_entry(ALL, stale[0].position) == stale[0]
    assert view.audit(Scope.of({"nobody"})).entries == []


def test_stats_count_runs_per_type_status_outcome_and_reason(
    ledger: RunLedger, view: MonitoringView
) -> None:
    mixed_workload(ledger, rounds=3)
    project(ledger, batch_size=7)
    counts = {
        (s.workspace, s.operation_type, s.status, s.outcome, s.reason_code): s.runs
        for s in view.stats(ALL)
    }
    assert sum(counts.values()) == 21
    assert counts[("acme", "inventory.sync", RunStatus.QUEUED, None, None)] == 3
    assert counts[("acme", "inventory.sync", RunStatus.RUNNING, None, None)] == 3
    key = ("beta", "inventory.sync", RunStatus.COMPLETED, Outcome.FAILED, ReasonCode.QUEUE_TIMEOUT)
    assert counts[key] == 3
    assert {s.workspace for s in view.stats(Scope.of({"beta"}))} == {"beta"}
