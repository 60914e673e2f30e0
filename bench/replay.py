"""Events/s of `runledger replay` beside eventsourcing's stock one-transaction-per-event runner.

    .venv/bin/python bench/replay.py [--events N] [--stock-events N] [--stores postgresql,sqlite]

For each store it writes N ledger events (runs of 4-6 events: queued, started,
heartbeats, retry, completed / queue-failed / reconciled, late signals), then times the
real `runledger replay` command, then the stock `eventsourcing.projection.ProjectionRunner`
(one transaction per event, writing one row and its tracking) on the first
`--stock-events` of the same events, in the same run. SQLite has no subscription, so its
stock baseline drives the same Projection from `select_notifications`, still one
transaction per event. Prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from ledger import DatabaseSettings, OperationPolicy, OperationRun, ReasonCode, RunLedger, utcnow
from ledger.eventstore import events_table
from projections.db import Connection
from runledger.wiring import migrate_all

POSTGRES = os.environ.get(
    "RUNLEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
RUNLEDGER = str(Path(sys.executable).with_name("runledger"))
POLICY = OperationPolicy(timeout=60, max_tries=3)
W = "worker:bench:1"


def one_run(n: int, at: Any) -> OperationRun:
    run = OperationRun.queue(
        run_id=uuid.uuid4(),
        workspace=f"ws{n % 7}",
        operation_type=f"op.{n % 5}",
        policy=POLICY,
        actor="system",
        at=at,
        params_summary={"n": n},
    )
    run.start(attempt=1, worker_id=W, actor=W, at=at)
    run.heartbeat(attempt=1, progress={"done": n % 10}, actor=W, at=at)
    ending = n % 4
    if ending == 0:
        run.complete(
            attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={"n": n}, actor=W, at=at
        )
    elif ending == 1:
        run.schedule_retry(
            attempt=1, reason="retry.requested", defer_seconds=1, error=None, actor=W, at=at
        )
        run.fail_by_queue(
            attempt=1, reason_code=ReasonCode.QUEUE_TIMEOUT, error="TimeoutError()", actor=W, at=at
        )
        run.complete(attempt=1, reason_code=ReasonCode.JOB_FAILED, summary={}, actor=W, at=at)
    elif ending == 2:
        run.reconcile_stale(
            reason_code=ReasonCode.RECONCILER_STALE_RUNNING,
            evidence={"arq": "queued"},
            actor="reconciler",
            at=at,
        )
    return run  # ending 3: still running


def generate(settings: DatabaseSettings, size: int) -> int:
    """Writes about `size` events, many runs per multi-row insert (COPY on PostgreSQL)."""
    mapper = RunLedger(settings).mapper
    table = events_table(settings)
    start, written, n = utcnow() - timedelta(days=1), 0, 0
    with Connection(settings, autocommit=True) as conn:
        while written < size:
            rows = []
            while len(rows) < 20_000 and written + len(rows) < size:
                run = one_run(n, start + timedelta(milliseconds=n))
                for event in run.collect_events():
                    s = mapper.to_stored_event(event)
                    oid = s.originator_id if settings.is_postgres else s.originator_id.hex
                    rows.append((oid, s.originator_version, s.topic, s.state))
                n += 1
            with conn.transaction():
                conn.bulk_insert(
                    table, ("originator_id", "originator_version", "topic", "state"), rows
                )
            written += len(rows)
            print(f"\r  wrote {written:,} events", end="", file=sys.stderr)
    print(file=sys.stderr)
    return written


def time_replay(settings: DatabaseSettings) -> float:
    env = {**os.environ, "RUNLEDGER_DATABASE_URL": settings.url}
    started = time.perf_counter()
    done = subprocess.run(
        [RUNLEDGER, "replay", "--quiet"], check=False, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr)
    print("  " + done.stdout.strip(), file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stock-events", type=int, default=20_000)
    parser.add_argument("--stores", default="postgresql,sqlite")
    args = parser.parse_args()
    results = []
    for store in args.stores.split(","):
        settings, cleanup = fresh_store(store)
        try:
            list(migrate_all(settings))
            events = generate(settings, args.events)
            replay_seconds = time_replay(settings)
            stock_events, stock_seconds = stock_runner(settings, args.stock_events)
        finally:
            cleanup()
        replay_rate, stock_rate = events / replay_seconds, stock_events / stock_seconds
        results.append((store, events, replay_rate, stock_events, stock_rate))
    print("| store | events | runledger replay | stock ProjectionRunner (events) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for store, events, rate, stock_events, stock_rate in results:
        print(
            f"| {store} | {events:,} | {rate:,.0f} events/s | {stock_rate:,.0f} events/s "
            f"({stock_events:,}) | {rate / stock_rate:.1f}x |"
        )


def fresh_store(store: str) -> tuple[DatabaseSettings, Any]:
    if store == "sqlite":
        folder = tempfile.TemporaryDirectory()
        return DatabaseSettings.from_url(f"sqlite:///{folder.name}/bench.db"), folder.cleanup
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    settings = DatabaseSettings.from_url(f"{POSTGRES}?schema={schema}")

    def drop() -> None:
        with Connection(settings, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return settings, drop


def stock_runner(settings: DatabaseSettings, subset: int) -> tuple[int, float]:
    from bench.stock_projection import run_stock

    return run_stock(settings, subset)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    random.seed(1)
    main()
