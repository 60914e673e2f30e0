"""Every filter of the read API is served by an index, at 100k runs and 500k audit entries.

The SQL checked is the read API's own: `MonitoringView` runs on a connection that asks
PostgreSQL for each statement's plan (`EXPLAIN (FORMAT JSON)`, same text, same
parameters) before running it. A plan fails when it reads `runs_index` or `audit_log`
sequentially, or sorts more than 5 % of the table: such a query costs what the history
costs, not what the page shows, and times out at millions of runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from bench.seed import Seeded, seed
from ledger import DatabaseSettings, EndedBy, Freshness, Outcome, ReasonCode, RunStatus
from projections import AuditFilters, MonitoringView, RunFilters, Scope
from projections.db import Connection, Row
from tests.conftest import postgres_schema

RUNS, AUDIT_ENTRIES = 100_000, 500_000
SORTED_SHARE = 0.05  # a Sort over more of a table than this is a full-table sort
SCOPES = {
    "every workspace": Scope.every_workspace(),
    "one workspace": Scope.of(["umbrella"]),  # the smallest: 10 % of the runs
    "two workspaces": Scope.of(["initech", "umbrella"]),
}
WORKSPACE = "umbrella"  # in every scope above, so no case is answered without a query


@dataclass
class Explained:
    sql: str  # as PostgreSQL got it
    params: list[Any]
    plan: dict[str, Any]
    text: str = ""  # as the read API wrote it (`?` placeholders, `{s}` schema)


@dataclass
class Store:
    settings: DatabaseSettings
    seeded: Seeded
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows


class ExplainingConnection(Connection):
    """Asks PostgreSQL for each SELECT's plan before running it, and keeps the plans."""

    def __init__(self, settings: DatabaseSettings) -> None:
        super().__init__(settings, autocommit=True)
        self.explained: list[Explained] = []

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[Row]:
        if text.lstrip().upper().startswith("SELECT"):
            [(document,)] = super().execute(f"EXPLAIN (FORMAT JSON) {text}", params)
            plan = document[0]["Plan"]
            self.explained.append(Explained(self.sql(text), list(params), plan, text))
        return super().execute(text, params)


class ExplainingView(MonitoringView):
    """The read API, every query of which borrows the one explaining connection."""

    def __init__(self, settings: DatabaseSettings, conn: ExplainingConnection) -> None:
        self.settings, self.conn = settings, conn  # no pool: MonitoringView's is not opened
        self.connections = self  # type: ignore[assignment]

    @contextmanager
    def connection(self, wait: float | None = None) -> Iterator[Connection]:
        yield self.conn

    def plans_of(self, query: Callable[[], object]) -> list[Explained]:
        self.conn.explained.clear()
        query()
        assert self.conn.explained, "the read API ran no query"
        return list(self.conn.explained)


@pytest.fixture(scope="module")
def store(postgres_server: str) -> Iterator[Store]:
    """One seeded schema for the module (seeding once takes seconds; per test, minutes)."""
    with postgres_schema(postgres_server) as url:
        settings = DatabaseSettings.from_url(url)
        seeded = seed(settings, RUNS, AUDIT_ENTRIES)
        yield Store(settings, seeded, {"runs_index": RUNS, "audit_log": AUDIT_ENTRIES})


@pytest.fixture(scope="module")
def view(store: Store) -> Iterator[ExplainingView]:
    with ExplainingConnection(store.settings) as conn:
        yield ExplainingView(store.settings, conn)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def whole_table_work(explained: Explained, rows: dict[str, int]) -> list[str]:
    """What in a plan grows with a whole table: sequential scans and sorts of its rows."""
    found = []
    for node in nodes(explained.plan):
        kind, table = node["Node Type"], node.get("Relation Name")
        if kind == "Seq Scan" and table in rows:
            found.append(f"Seq Scan on {table}")
        if kind in ("Sort", "Incremental Sort"):
            below = {n.get("Relation Name") for n in nodes(node)} & set(rows)
            sorted_rows = sum(child["Plan Rows"] for child in node.get("Plans", ()))
            limit = min((rows[t] for t in below), default=0) * SORTED_SHARE
            if below and sorted_rows > limit:
                found.append(f"Sort of {sorted_rows:,} rows of {', '.join(sorted(below))}")
    return found


def assert_index_served(plans: list[Explained], rows: dict[str, int]) -> None:
    for explained in plans:
        problems = whole_table_work(explained, rows)
        assert not problems, (
            f"{'; '.join(problems)} in\n{explained.sql}\nparams {explained.params}\n"
            f"plan {explained.plan}"
        )


# -- the runs list -------------------------------------------------------------------------

RunCase = Callable[[datetime], RunFilters]
RUN_FILTERS: dict[str, RunCase] = {
    "no filter": lambda now: RunFilters(),
    "workspace": lambda now: RunFilters(workspace=WORKSPACE),
    "operation_type": lambda now: RunFilters(operation_type="media.transcode"),
    **{f"status={s}": (lambda now, s=s: RunFilters(status=s)) for s in RunStatus},
    **{f"outcome={o}": (lambda now, o=o: RunFilters(outcome=o)) for o in Outcome},
    **{f"freshness={f}": (lambda now, f=f: RunFilters(freshness=f)) for f in Freshness},
    **{f"ended_by={e}": (lambda now, e=e: RunFilters(ended_by=e)) for e in EndedBy},
    **{f"reason_code={r}": (lambda now, r=r: RunFilters(reason_code=r)) for r in ReasonCode},
    "queued_after": lambda now: RunFilters(queued_after=now - timedelta(days=1)),
    "queued_before": lambda now: RunFilters(queued_before=now - timedelta(days=20)),
    "queued between": lambda now: RunFilters(
        queued_after=now - timedelta(days=8), queued_before=now - timedelta(days=7)
    ),
}


@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("filter_name", RUN_FILTERS)
def test_every_runs_filter_is_served_by_an_index(
    view: ExplainingView, store: Store, filter_name: str, scope_name: str
) -> None:
    now = store.seeded.now
    filters = RUN_FILTERS[filter_name](now)
    plans = view.plans_of(lambda: view.list_runs(SCOPES[scope_name], filters, now=now))
    assert_index_served(plans, store.rows)


@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("filter_name", ["no filter", "workspace", "status=completed"])
def test_a_page_deep_in_the_runs_list_is_served_by_an_index(
    view: ExplainingView, store: Store, filter_name: str, scope_name: str
) -> None:
    now, scope = store.seeded.now, SCOPES[scope_name]
    filters = RUN_FILTERS[filter_name](now)
    cursor = None
    for _ in range(20):  # 20 pages of 50 in
        cursor = view.list_runs(scope, filters, cursor=cursor, now=now).next_cursor
        assert cursor is not None
    plans = view.plans_of(lambda: view.list_runs(scope, filters, cursor=cursor, now=now))
    assert_index_served(plans, store.rows)
    newer = view.list_runs(scope, filters, cursor=cursor, now=now).prev_cursor
    plans = view.plans_of(lambda: view.list_runs(scope, filters, cursor=newer, now=now))
    assert_index_served(plans, store.rows)


# -- the audit log ---------------------------------------------------------------------------

AuditCase = Callable[[datetime, Store], AuditFilters]
AUDIT_FILTERS: dict[str, AuditCase] = {
    "no filter": lambda now, store: AuditFilters(),
    "workspace": lambda now, store: AuditFilters(workspace=WORKSPACE),
    "operation_type": lambda now, store: AuditFilters(operation_type="media.transcode"),
    "run_id": lambda now, store: AuditFilters(run_id=store_run(store)),
    "actor=reconciler": lambda now, store: AuditFilters(actor="reconciler"),
    "actor=worker": lambda now, store: AuditFilters(actor="worker:host-c:103"),
    "action=run.reconciled_stale": lambda now, store: AuditFilters(action="run.reconciled_stale"),
    "action=run.heartbeat": lambda now, store: AuditFilters(action="run.heartbeat"),
    "since": lambda now, store: AuditFilters(since=now - timedelta(days=1)),
    "until": lambda now, store: AuditFilters(until=now - timedelta(days=20)),
    "since and until": lambda now, store: AuditFilters(
        since=now - timedelta(days=8), until=now - timedelta(days=7)
    ),
}


def store_run(store: Store) -> uuid.UUID:
    with Connection(store.settings) as conn:
        [(run_id,)] = conn.execute(
            "SELECT id FROM {s}runs_index WHERE workspace = ? ORDER BY id LIMIT 1", (WORKSPACE,)
        )
    return uuid.UUID(str(run_id))


@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("filter_name", AUDIT_FILTERS)
def test_every_audit_filter_is_served_by_an_index(
    view: ExplainingView, store: Store, filter_name: str, scope_name: str
) -> None:
    filters = AUDIT_FILTERS[filter_name](store.seeded.now, store)
    plans = view.plans_of(lambda: view.audit(SCOPES[scope_name], filters))
    assert_index_served(plans, store.rows)


@pytest.mark.parametrize("scope_name", SCOPES)
def test_a_page_deep_in_the_audit_log_is_served_by_an_index(
    view: ExplainingView, store: Store, scope_name: str
) -> None:
    scope, cursor = SCOPES[scope_name], None
    for _ in range(20):
        cursor = view.audit(scope, cursor=cursor).next_cursor
        assert cursor is not None
    plans = view.plans_of(lambda: view.audit(scope, cursor=cursor))
    assert_index_served(plans, store.rows)


@pytest.mark.parametrize("filter_name", ["since", "until", "since and until"])
@pytest.mark.parametrize("scope_name", SCOPES)
def test_entries_within_a_time_window_are_read_without_walking_the_rest_of_the_log(
    view: ExplainingView, store: Store, scope_name: str, filter_name: str
) -> None:
    """The log is ordered by `(at, position)`, so a window's first page starts inside an
    index: neither the newer entries nor the other workspaces' are read and dropped."""
    filters = AUDIT_FILTERS[filter_name](store.seeded.now, store)
    [explained] = view.plans_of(lambda: view.audit(SCOPES[scope_name], filters))
    assert_index_served([explained], store.rows)
    [(document,)] = view.conn.execute(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {explained.text}", explained.params
    )
    skipped = sum(node.get("Rows Removed by Filter", 0) for node in nodes(document[0]["Plan"]))
    assert skipped <= 100 * 51, f"{skipped:,} entries read and dropped for one page"


# -- counts and metrics ----------------------------------------------------------------------


@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("narrowed", ["", "workspace", "operation_type"])
def test_counts_read_the_stats_and_the_active_runs_only(
    view: ExplainingView, store: Store, narrowed: str, scope_name: str
) -> None:
    scope, now = SCOPES[scope_name], store.seeded.now
    by = {"workspace": {"workspace": WORKSPACE}, "operation_type": {"operation_type": "crm.sync"}}
    plans = view.plans_of(lambda: view.counts(scope, now=now, **by.get(narrowed, {})))
    assert len(plans) == 2  # the stats group-by, the stale count
    assert_index_served(plans, store.rows)


def test_the_metrics_read_the_stats_and_the_active_runs_only(
    view: ExplainingView, store: Store
) -> None:
    plans = view.plans_of(lambda: view.metrics(now=store.seeded.now))
    assert_index_served(plans, store.rows)


def test_the_seeded_counts_agree_with_the_runs_index(view: ExplainingView, store: Store) -> None:
    counts = view.counts(Scope.every_workspace(), now=store.seeded.now)
    with Connection(store.settings) as conn:
        [(stale,)] = conn.execute(
            "SELECT COUNT(*) FROM {s}runs_index WHERE stale_at <= ?", (store.seeded.now,)
        )
    assert counts.total == RUNS and counts.stale == stale > 0
