"""The activity read model (runs ended per 5 minutes, by outcome), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from ledger import ReasonCode, RunLedger, utcnow
from projections import ActivityBucket, MonitoringView, Scope
from projections import activity as run_activity
from projections.db import Connection
from projections.events import EventLog
from projections.projector import catch_up
from projections.replay import replay
from tests import ledger_calls
from tests.integration.workload import FAST, W1, mixed_workload

ALL = Scope.every_workspace()
MINUTE = timedelta(minutes=1)
# A bucket boundary an hour ago: the runs below end well inside the retention horizon.
BASE = run_activity.floor_bucket(utcnow() - timedelta(hours=1))


@pytest.fixture
def view(ledger: RunLedger) -> Iterator[MonitoringView]:
    view = MonitoringView(ledger.settings)
    yield view
    view.close()


class Clock:
    """The ledger's clock, set by the test: every event happens when the test says."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(ledger: RunLedger) -> Clock:
    clock = Clock(BASE)
    ledger.clock = clock
    return clock


def project(ledger: RunLedger, now: datetime | None = None) -> int:
    with Connection(ledger.settings) as conn:
        return catch_up(conn, EventLog(ledger.settings), batch_size=3, now=now)


def activity_rows(ledger: RunLedger) -> list[tuple[object, ...]]:
    with Connection(ledger.settings) as conn:
        return run_activity.TABLE.dump(conn)


def run_ending_at(
    ledger: RunLedger, clock: Clock, ended: datetime, workspace: str = "acme"
) -> UUID:
    """A run queued and started a minute before `ended`, completed by its job then."""
    clock.at = ended - MINUTE
    run_id = ledger.queue(operation_type="report.build", workspace=workspace, policy=FAST).run_id
    ledger_calls.start(ledger, run_id, attempt=1, worker_id=W1, actor=W1)
    clock.at = ended
    ledger_calls.complete(ledger, run_id, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, actor=W1)
    return run_id


def test_a_run_counts_once_in_the_bucket_of_its_terminal_event(
    ledger: RunLedger, clock: Clock, view: MonitoringView
) -> None:
    run_ending_at(ledger, clock, BASE + 7 * MINUTE)  # queued in one bucket, ended in the next
    clock.at = BASE + 11 * MINUTE
    failed = ledger.queue(operation_type="inventory.sync", workspace="beta", policy=FAST).run_id
    ledger_calls.start(ledger, failed, attempt=1, worker_id=W1, actor=W1)
    ledger_calls.fail_by_queue(
        ledger, failed, attempt=1, reason_code=ReasonCode.QUEUE_TIMEOUT, actor=W1
    )
    clock.at = BASE + 14 * MINUTE
    lost = ledger.queue(operation_type="inventory.sync", workspace="acme", policy=FAST).run_id
    ledger_calls.reconcile_stale(
        ledger, lost, reason_code=ReasonCode.RECONCILER_JOB_LOST, evidence={}
    )
    running = ledger.queue(operation_type="inventory.sync", workspace="acme", policy=FAST).run_id
    ledger_calls.start(ledger, running, attempt=1, worker_id=W1, actor=W1)  # not ended: not counted
    project(ledger)

    buckets = view.activity(ALL, since=BASE, until=BASE + timedelta(hours=1))

    assert buckets == [
        ActivityBucket(BASE + 5 * MINUTE, "succeeded", "job", 1),
        ActivityBucket(BASE + 10 * MINUTE, "failed", "queue", 1),
        ActivityBucket(BASE + 10 * MINUTE, "failed", "reconciler", 1),
    ]
    assert all(b.start.tzinfo is not None and b.start.utcoffset() == timedelta(0) for b in buckets)


def test_a_late_signal_after_the_run_ended_counts_nothing_more(
    ledger: RunLedger, clock: Clock, view: MonitoringView
) -> None:
    run_id = run_ending_at(ledger, clock, BASE + 2 * MINUTE)
    project(ledger)  # the run is completed in the stored rows before the late signal comes
    clock.at = BASE + 21 * MINUTE
    ledger_calls.complete(ledger, run_id, attempt=1, reason_code=ReasonCode.JOB_FAILED, actor=W1)
    clock.at = BASE + 22 * MINUTE
    ledger_calls.fail_by_queue(
        ledger, run_id, attempt=1, reason_code=ReasonCode.QUEUE_TIMEOUT, actor=W1
    )
    assert project(ledger) == 2

    assert view.activity(ALL, since=BASE, until=BASE + timedelta(hours=1)) == [
        ActivityBucket(BASE, "succeeded", "job", 1)
    ]
    run = view.get_run(ALL, run_id)
    assert run is not None and run.late_signals == 2


def test_runs_are_summed_over_the_scope_and_never_show_another_workspace(
    ledger: RunLedger, clock: Clock, view: MonitoringView
) -> None:
    for workspace in ("acme", "acme", "beta", "gamma"):
        run_ending_at(ledger, clock, BASE + 3 * MINUTE, workspace)
    project(ledger)
    until = BASE + 5 * MINUTE

    def runs(scope: Scope, workspace: str | None = None, operation_type: str | None = None) -> int:
        found = view.activity(
            scope, since=BASE, until=until, workspace=workspace, operation_type=operation_type
        )
        return sum(b.runs for b in found)

    assert runs(ALL) == 4
    assert view.activity(ALL, since=BASE, until=until) == [
        ActivityBucket(BASE, "succeeded", "job", 4)
    ]
    assert runs(Scope.of({"acme", "beta"})) == 3
    assert runs(Scope.of({"acme", "beta"}), workspace="beta") == 1
    assert runs(Scope.of({"acme"}), workspace="gamma") == 0  # a filter never widens the scope
    assert runs(Scope.of(())) == 0
    assert runs(ALL, operation_type="report.build") == 4
    assert runs(ALL, operation_type="inventory.sync") == 0


def test_since_and_until_bound_the_buckets_by_their_start(
    ledger: RunLedger, clock: Clock, view: MonitoringView
) -> None:
    for minutes in (1, 6, 11, 16):
        run_ending_at(ledger, clock, BASE + minutes * MINUTE)
    project(ledger)

    window = view.activity(ALL, since=BASE + 5 * MINUTE, until=BASE + 15 * MINUTE)
    assert [b.start for b in window] == [
        BASE + 5 * MINUTE,
        BASE + 10 * MINUTE,
    ]  # since inclusive, until exclusive
    inside = view.activity(ALL, since=BASE + 4 * MINUTE, until=BASE + 6 * MINUTE)
    assert [b.start for b in inside] == [BASE + 5 * MINUTE]  # a bucket starting at 4-6 min
    assert view.activity(ALL, since=BASE + 20 * MINUTE, until=BASE) == []


def test_a_replay_equals_the_incrementally_built_activity(ledger: RunLedger, clock: Clock) -> None:
    for minutes in range(0, 40, 7):  # the workload's runs end across several buckets
        clock.at = BASE + minutes * MINUTE
        mixed_workload(ledger)
        project(ledger)
    incremental = activity_rows(ledger)
    assert sum(int(str(row[-1])) for row in incremental) == 6 * 5  # five ended runs a round

    replay(ledger.settings, batch_size=5)

    assert activity_rows(ledger) == incremental


def test_retention_deletes_buckets_past_the_horizon_only(
    ledger: RunLedger, clock: Clock, view: MonitoringView
) -> None:
    now = utcnow()
    run_ending_at(ledger, clock, now - timedelta(days=9))  # already past it: never counted
    run_ending_at(ledger, clock, now - timedelta(days=7, minutes=30))
    run_ending_at(ledger, clock, now - timedelta(hours=2))
    project(ledger, now=now)
    since, until = now - timedelta(days=10), now + timedelta(days=3)
    assert sum(b.runs for b in view.activity(ALL, since=since, until=until)) == 2
    assert replay(ledger.settings, now=now).runs == 3
    assert sum(b.runs for b in view.activity(ALL, since=since, until=until)) == 2

    # Two days on, the projector (idle: nothing new to fold) drops the week-old bucket.
    later = now + timedelta(days=2)
    assert project(ledger, now=later) == 0
    kept = view.activity(ALL, since=since, until=until)
    assert [(b.start, b.runs) for b in kept] == [
        (run_activity.floor_bucket(now - timedelta(hours=2)), 1)
    ]
    incremental = activity_rows(ledger)
    replay(ledger.settings, now=later)
    assert activity_rows(ledger) == incremental


def test_the_cutoff_moves_by_whole_hours_and_buckets_are_five_minutes() -> None:
    now = datetime(2024, 5, 17, 13, 42, 9, tzinfo=UTC)
    assert run_activity.cutoff(now) == "2024-05-09T13:00:00.000000+00:00"
    assert run_activity.cutoff(now + timedelta(minutes=17)) == run_activity.cutoff(now)
    assert run_activity.bucket_of("2024-05-17T13:44:59.999999+00:00") == (
        "2024-05-17T13:40:00.000000+00:00"
    )
    assert run_activity.bucket_of("2024-05-17T15:45:00+02:00") == (
        "2024-05-17T13:45:00.000000+00:00"
    )


@pytest.mark.parametrize("scoped", [False, True], ids=["every-workspace", "one-workspace"])
def test_a_window_is_read_through_an_index_led_by_the_bucket_start(
    ledger: RunLedger, clock: Clock, scoped: bool
) -> None:
    run_ending_at(ledger, clock, BASE + MINUTE)
    project(ledger)
    scope = " AND workspace = ?" if scoped else ""
    query = (
        "SELECT bucket_start, outcome, ended_by, SUM(runs) FROM {s}run_activity "
        f"WHERE bucket_start >= ? AND bucket_start < ?{scope} "
        "GROUP BY bucket_start, outcome, ended_by ORDER BY bucket_start, outcome, ended_by"
    )
    with Connection(ledger.settings) as conn:
        params = [conn.time_in(BASE), conn.time_in(BASE + timedelta(days=1))]
        params += ["acme"] if scoped else []
        if conn.is_postgres:
            conn.execute("SET enable_seqscan = off")  # a tiny table: make the planner show
            plan = " ".join(str(r[0]) for r in conn.execute(f"EXPLAIN {query}", params))
            primary_key = "run_activity_pkey"
        else:
            plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {query}", params))
            primary_key = "sqlite_autoindex_run_activity_1"
    expected = "run_activity_by_workspace" if scoped else primary_key
    assert expected in plan and "bucket_start" in plan, plan
