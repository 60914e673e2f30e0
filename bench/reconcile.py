"""Reconciler cost: one pass over 10k runs and over 1M runs, each with 1k stale.

The cost of a pass must follow the number of stale runs, not the number of runs ever
recorded: the printed ratio (1M pass / 10k pass) is the figure, target <= 2.

Per size, in a fresh PostgreSQL schema (or SQLite file with --sqlite):
  * 1,000 stale runs go through the real path: `Queued` events in the ledger two hours
    ago, projected into the runs index by the catch-up runner; arq has no trace of them,
    so the pass appends `reconciler.job_lost` for each;
  * the other runs are completed history: one real run is completed and projected, and
    its runs-index row is copied under new ids (COPY) to reach the total, so that 1M
    runs take seconds to set up instead of replaying 2M events. The reconciler only ever
    sees that history through the index, which is what this measures.
The timed pass is the production one (`open_reconciler`: catch-up, candidate query, event
store reloads, one Redis pipeline, batched appends).

    .venv/bin/python -m bench.reconcile [--sizes 10000 1000000] [--stale 1000] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from bench.ledger_append import new_runs, postgres_store, sqlite_store
from ledger import (
    CompleteRun,
    DatabaseSettings,
    OperationPolicy,
    ReasonCode,
    RunLedger,
    StartRun,
)
from projections.db import Connection
from projections.runner import CatchUpRunner
from projections.runs_index import COLUMNS
from workers.reconcile_cron import open_reconciler
from workers.settings import QueueSettings

POLICY = OperationPolicy(timeout=60, max_tries=1, stale_queued_after=600, stale_running_after=300)
WORKER = "worker:bench:1"


def seed(settings: DatabaseSettings, total: int, stale: int) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    ledger = RunLedger(settings, clock=lambda: past)
    runs = new_runs(stale, policy=POLICY, at=past)
    for start in range(0, stale, 100):
        ledger.save(*runs[start : start + 100])
    done = ledger.queue(operation_type="bench.job", workspace="acme", policy=POLICY).run_id
    ledger.execute(StartRun(done, WORKER, attempt=1, worker_id=WORKER))
    ledger.execute(CompleteRun(done, WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED))
    ledger.close()
    CatchUpRunner(settings).run_once()
    with Connection(settings) as conn:
        [template] = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {{s}}runs_index WHERE id = ?",
            (done if conn.is_postgres else str(done),),
        )
        history = total - stale - 1
        with conn.transaction():
            conn.bulk_insert("runs_index", COLUMNS, _copies(template, history, conn.is_postgres))
        conn.execute("ANALYZE" if not conn.is_postgres else "ANALYZE {s}runs_index")


def _copies(template: tuple[object, ...], n: int, postgres: bool) -> Iterator[tuple[object, ...]]:
    # JSON columns come back decoded; COPY wants their text.
    template = tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in template)
    for _ in range(n):
        new_id = uuid.uuid4()
        yield (new_id if postgres else str(new_id), *template[1:])


async def timed_pass(settings: DatabaseSettings, queue: QueueSettings) -> tuple[float, int]:
    async with open_reconciler(settings, queue) as reconciler:
        started = time.perf_counter()
        report = await reconciler.run_once()
        elapsed = time.perf_counter() - started
    return elapsed, sum(1 for h in report.healed if h.applied)


@contextmanager
def store(sqlite: bool, postgres_url: str) -> Iterator[DatabaseSettings]:
    with sqlite_store() if sqlite else postgres_store(postgres_url) as settings:
        yield settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--stale", type=int, default=1000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    queue = QueueSettings(args.redis, f"bench-reconcile-{uuid.uuid4().hex[:8]}")

    print(f"{'runs':>10} {'stale':>6} {'setup s':>8} {'pass s':>8} {'healed':>7}")
    timings = []
    for size in args.sizes:
        with store(args.sqlite, args.postgres) as settings:
            started = time.perf_counter()
            seed(settings, size, args.stale)
            setup = time.perf_counter() - started
            elapsed, healed = asyncio.run(timed_pass(settings, queue))
            timings.append(elapsed)
            print(f"{size:>10,} {args.stale:>6} {setup:>8.1f} {elapsed:>8.3f} {healed:>7}")
    if len(timings) > 1:
        print(f"ratio {args.sizes[-1]:,} / {args.sizes[0]:,} runs: {timings[-1] / timings[0]:.2f}")


if __name__ == "__main__":
    main()
