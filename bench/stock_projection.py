"""The baseline: eventsourcing's stock projection machinery, one transaction per event."""

from __future__ import annotations

import os
import time
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

from ledger import DatabaseSettings, RunLedger

_ROW = "(run_id, version, kind, at, actor)"


class StockPostgresView(PostgresTrackingRecorder):
    """One timeline row per event plus the tracking position, in one transaction."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.table = SQL("{0}.stock_timeline").format(Identifier(self.datastore.schema))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (run_id uuid, version bigint, kind text, "
                "at timestamptz, actor text, PRIMARY KEY (run_id, version))"
            ).format(self.table)
        )

    def record(self, event: Any, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("INSERT INTO {0} VALUES (%s, %s, %s, %s, %s)").format(self.table),
                _values(event),
                prepare=True,
            )
            self._insert_tracking(curs, tracking)


class StockSQLiteView(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS stock_timeline (run_id TEXT, version INTEGER, "
            "kind TEXT, at TEXT, actor TEXT, PRIMARY KEY (run_id, version))",
        ]

    def record(self, event: Any, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            run_id, version, kind, at, actor = _values(event)
            c.execute(
                "INSERT INTO stock_timeline VALUES (?, ?, ?, ?, ?)",
                (str(run_id), version, kind, at.isoformat(), actor),
            )
            self._insert_tracking(c, tracking)


class StockProjection(Projection[Any]):
    name = "stock"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.record(domain_event, tracking)


class StockLedger(RunLedger):
    """RunLedger as ProjectionRunner constructs applications: from an env mapping."""

    name = "RunLedger"

    def __init__(self, env: Any = None) -> None:
        super().__init__(env=dict(env or {}))


def _values(event: Any) -> tuple[Any, ...]:
    return (
        event.originator_id,
        event.originator_version,
        type(event).__name__,
        event.timestamp,
        event.actor,
    )


def run_stock(settings: DatabaseSettings, subset: int) -> tuple[int, float]:
    """Projects the first `subset` events the stock way; returns (events, seconds)."""
    os.environ["RUNLEDGER_DATABASE_URL"] = settings.url
    env = settings.eventsourcing_env(create_table=True)
    if settings.is_postgres:
        return _postgres(env, subset)
    return _sqlite(env, subset)


def _postgres(env: dict[str, str], subset: int) -> tuple[int, float]:
    started = time.perf_counter()
    runner = ProjectionRunner(
        application_class=StockLedger,
        projection_class=StockProjection,
        view_class=StockPostgresView,
        env=env,
    )
    with runner:
        runner.wait(subset, timeout=3600)  # the view's tracking reached the subset's end
        seconds = time.perf_counter() - started
    return subset, seconds


def _sqlite(env: dict[str, str], subset: int) -> tuple[int, float]:
    # eventsourcing's SQLite recorder has no subscribe(): drive the same projection from
    # the notification log, still one transaction per event.
    app = RunLedger()
    view = InfrastructureFactory.construct(env=env).tracking_recorder(StockSQLiteView)
    projection = StockProjection(view=view)
    started, done, position = time.perf_counter(), 0, 0
    while done < subset:
        page = app.recorder.select_notifications(
            position, min(500, subset - done), inclusive_of_start=False
        )
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            projection.process_event(event, Tracking(app.name, notification.id))
            position = notification.id
        done += len(page)
    return done, time.perf_counter() - started
