"""The read contract every view stands on: scope, cursors, folded timelines, exact counts.

On SQLite and PostgreSQL, over projected read models.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from ledger import DatabaseSettings, OperationRun, ReasonCode, RunLedger, utcnow
from projections import (
    AuditFilters,
    InvalidCursorError,
    MonitoringView,
    RunFilters,
    Scope,
    audit,
)
from projections.db import Connection
from tests.integration.read_helpers import ALL, project
from tests.integration.workload import FAST, W1, mixed_workload


def long_running_job(ledger: RunLedger, beats: int) -> UUID:
    """A run that heartbeats `beats` times, retries once, then heartbeats and succeeds."""
    at = utcnow() - timedelta(hours=1)
    run = OperationRun.queue(
        run_id=uuid4(), workspace="acme", operation_type="long.job", policy=FAST,
        actor="system", at=at,
    )  # fmt: skip
    run.start(attempt=1, worker_id=W1, actor=W1, at=at)
    for n in range(beats):
        run.heartbeat(attempt=1, progress={"done": n + 1, "total": beats}, actor=W1, at=at)
    run.schedule_retry(
        attempt=1, reason="retry.requested", defer_seconds=0, error=None, actor=W1, at=at
    )
    run.start(attempt=2, worker_id=W1, actor=W1, at=at)
    run.heartbeat(attempt=2, progress={"done": 1}, actor=W1, at=at)
    run.heartbeat(attempt=2, progress={"done": 2}, actor=W1, at=at)
    run.complete(attempt=2, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=W1, at=at)
    ledger.save(run)
    return run.id


def test_a_run_outside_the_scope_is_none_everywhere_exactly_like_an_unknown_one(
    ledger: RunLedger, view: MonitoringView
) -> None:
    runs = mixed_workload(ledger)
    project(ledger)
    beta_run = runs["queue_failed"]  # in workspace beta
    acme = Scope.of({"acme"})
    assert view.get_run(ALL, beta_run) is not None
    assert view.get_run(acme, beta_run) is None
    assert view.timeline(acme, beta_run) is None
    assert view.timeline(acme, uuid4()) is None
    entry = view.audit(ALL, AuditFilters(run_id=beta_run)).entries[0]
    assert view.audit_entry(acme, entry.position) is None
    assert view.audit_entry(Scope.of({"beta"}), entry.position) == entry
    assert view.audit(acme, AuditFilters(run_id=beta_run)).entries == []
    assert view.list_runs(acme, RunFilters(workspace="beta")).runs == []
    assert view.counts(acme, workspace="beta").total == 0
    assert view.get_run(Scope.of(()), runs["queued"]) is None


def test_runs_page_older_and_newer_without_gaps_or_repeats(
    ledger: RunLedger, view: MonitoringView
) -> None:
    mixed_workload(ledger, rounds=3)
    project(ledger)
    everything = [r.id for r in view.list_runs(ALL, limit=200).runs]
    pages, cursor = [], None
    while True:
        page = view.list_runs(ALL, limit=4, cursor=cursor)
        pages.append(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [r.id for p in pages for r in p.runs] == everything
    assert pages[0].prev_cursor is None
    back = view.list_runs(ALL, limit=4, cursor=pages[2].prev_cursor)
    assert [r.id for r in back.runs] == [r.id for r in pages[1].runs]
    assert back.next_cursor is not None and back.prev_cursor is not None


@pytest.mark.parametrize(
    "cursor", ["", "nonsense", "eyJ4IjoxfQ", "WyJhIiwibyIsMV0", "WyJyIiwieCIsIjIwMjYiLCJ4Il0"]
)
def test_a_cursor_this_listing_did_not_hand_out_is_refused_by_name(
    ledger: RunLedger, view: MonitoringView, cursor: str
) -> None:
    with pytest.raises(InvalidCursorError) as refused:
        view.list_runs(ALL, cursor=cursor or "=")
    assert refused.value.parameter == "cursor"


def test_limits_are_clamped_to_one_to_two_hundred(ledger: RunLedger, view: MonitoringView) -> None:
    mixed_workload(ledger, rounds=30)  # 210 runs
    project(ledger)
    assert len(view.list_runs(ALL, limit=0).runs) == 1
    assert len(view.list_runs(ALL, limit=10_000).runs) == 200


def test_ten_thousand_heartbeats_fold_into_one_entry_and_every_other_event_stays(
    ledger: RunLedger, view: MonitoringView
) -> None:
    run_id = long_running_job(ledger, beats=10_000)
    project(ledger)
    page = view.timeline(ALL, run_id)
    assert page is not None and page.next_cursor is None
    assert page.events == 10_007
    kinds = [e.event for e in page.entries]
    assert kinds == [
        "queued", "started", "heartbeats", "retry_scheduled", "started", "heartbeats",
        "completed",
    ]  # fmt: skip
    folded = page.entries[2]
    assert folded.details["count"] == 10_000
    assert folded.details["last_progress"] == {"done": 10_000, "total": 10_000}
    assert page.entries[5].details["count"] == 2


def test_an_unfolded_timeline_pages_through_every_event(
    ledger: RunLedger, view: MonitoringView
) -> None:
    run_id = long_running_job(ledger, beats=450)
    project(ledger)
    versions, cursor = [], None
    while True:
        page = view.timeline(ALL, run_id, cursor=cursor, fold_heartbeats=False)
        assert page is not None
        versions += [e.version for e in page.entries]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert versions == list(range(1, 458))
    small = view.timeline(ALL, run_id, limit=3)
    assert small is not None and [e.event for e in small.entries] == [
        "queued", "started", "heartbeats",
    ]  # fmt: skip
    rest = view.timeline(ALL, run_id, cursor=small.next_cursor)
    assert rest is not None and rest.entries[0].event == "retry_scheduled"


def test_counts_are_exact_per_state_and_count_stale_runs_now(
    ledger: RunLedger, view: MonitoringView
) -> None:
    runs = mixed_workload(ledger, rounds=2)
    project(ledger)
    counts = view.counts(ALL)
    assert counts.total == 14
    assert counts.by_status == {"queued": 2, "running": 2, "completed": 10}
    assert counts.by_outcome == {"succeeded": 2, "failed": 6, "partially_succeeded": 2}
    assert counts.failed_by == {"queue": 2, "reconciler": 4}
    assert counts.by_ended_by == {"job": 4, "queue": 2, "reconciler": 4}
    assert counts.stale == 0
    running = view.get_run(ALL, runs["running"])
    assert running is not None and running.stale_at is not None
    later = view.counts(ALL, now=running.stale_at + timedelta(seconds=1))
    assert later.stale == 2  # both rounds' running runs, not the queued ones (600 s)
    assert view.counts(Scope.of({"beta"})).by_status == {"completed": 6}
    assert view.counts(ALL, operation_type="report.build").total == 6


def test_the_audit_log_filters_by_operation_type_actor_and_time(
    ledger: RunLedger, view: MonitoringView
) -> None:
    mixed_workload(ledger)
    project(ledger)
    reports = view.audit(ALL, AuditFilters(operation_type="report.build"), limit=200).entries
    assert reports and {e.operation_type for e in reports} == {"report.build"}
    reconciler = view.audit(ALL, AuditFilters(actor="reconciler")).entries
    assert {e.action for e in reconciler} == {"run.reconciled_stale"}
    newest = view.audit(ALL, limit=1).entries[0]
    assert view.audit(ALL, AuditFilters(since=newest.at + timedelta(seconds=1))).entries == []
    assert (
        newest
        in view.audit(ALL, AuditFilters(until=newest.at + timedelta(seconds=1)), limit=200).entries
    )


def test_migrate_adds_the_audit_logs_operation_type_and_replay_fills_it(
    ledger: RunLedger, view: MonitoringView
) -> None:
    from projections.migrate import migrate_read_models
    from projections.replay import replay

    mixed_workload(ledger)
    project(ledger)
    with Connection(ledger.settings, autocommit=True) as conn:  # as an older version made it
        for name in audit.TABLE.index_names():
            conn.execute(f"DROP INDEX {{s}}{name}")
        conn.execute("ALTER TABLE {s}audit_log DROP COLUMN operation_type")
        old = {"workspace": "workspace", "run": "run_id", "actor": "actor", "action": "action"}
        for suffix, column in old.items():  # ordered by position alone
            conn.execute(
                f"CREATE INDEX audit_log_by_{suffix} ON {{s}}audit_log ({column}, position DESC)"
            )
        conn.execute("CREATE INDEX audit_log_by_at ON {s}audit_log (at)")
    said = migrate_read_models(ledger.settings)
    assert "audit_log.operation_type" in said and "runledger replay" in said
    assert audit_indexes(ledger.settings) == set(audit.TABLE.index_names())
    assert view.audit(ALL, AuditFilters(operation_type="report.build")).entries == []
    replay(ledger.settings)
    assert view.audit(ALL, AuditFilters(operation_type="report.build")).entries
    assert migrate_read_models(ledger.settings) == "read models: ready"
    assert audit_indexes(ledger.settings) == set(audit.TABLE.index_names())


def audit_indexes(settings: DatabaseSettings) -> set[str]:
    """The audit log's secondary indexes, as the database lists them."""
    with Connection(settings) as conn:
        if conn.is_postgres:
            rows = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = ? AND tablename = ?",
                (conn.schema, "audit_log"),
            )
        else:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log'"
            )
    return {str(name) for (name,) in rows} - {"audit_log_pkey", "sqlite_autoindex_audit_log_1"}


def test_concurrent_readers_each_get_a_connection_of_their_own(
    ledger: RunLedger, view: MonitoringView
) -> None:
    import threading

    readers = 5
    together = threading.Barrier(readers, timeout=10)
    answers: list[object] = []

    def read() -> None:
        with view.connections.connection() as conn:
            together.wait()  # every reader holds its connection at the same moment
            answers.append(conn.execute("SELECT 1")[0][0])

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert answers == [1] * readers
