"""Ledger append throughput: single saves and group commits, against raw inserts.

For each store (PostgreSQL, SQLite) it measures, in the same run:
  * runledger: `RunLedger.save` of new runs' `Queued` events, one run per transaction
    (single) and 10 / 100 runs per transaction (group commit);
  * raw: inserts of rows of the same size and shape straight through the driver
    (psycopg / sqlite3), one row per transaction and 10 / 100 rows per transaction.
The ratio runledger / raw for each batch size is the figure to watch.

    .venv/bin/python -m bench.ledger_append [--events 3000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from ledger import DatabaseSettings, OperationPolicy, OperationRun, RunLedger
from runledger.wiring import migrate_all

POLICY = OperationPolicy(timeout=60, max_tries=3)
BATCHES = (1, 10, 100)


def new_runs(
    n: int, *, policy: OperationPolicy = POLICY, at: datetime | None = None
) -> list[OperationRun]:
    """`n` new runs, each holding its pending `Queued` event."""
    at = at or datetime.now(UTC)
    return [
        OperationRun.queue(
            run_id=uuid.uuid4(),
            workspace="acme",
            operation_type="inventory.sync",
            policy=policy,
            actor="operator:bench",
            at=at,
            params_summary={"tenant": f"t{i % 50}"},
        )
        for i in range(n)
    ]


def rate(events: int, action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return events / (time.perf_counter() - started)


def ledger_rate(ledger: RunLedger, events: int, batch: int) -> float:
    runs = new_runs(events)
    groups = [runs[i : i + batch] for i in range(0, events, batch)]

    def save_all() -> None:
        for group in groups:
            ledger.save(*group)

    return rate(events, save_all)


def sample_rows(ledger: RunLedger, n: int) -> list[tuple[uuid.UUID, int, str, bytes]]:
    """Rows exactly as the ledger would store them (same topic, same state bytes)."""
    rows = []
    for run in new_runs(n):
        [event] = run.collect_events()
        stored = ledger.mapper.to_stored_event(event)
        rows.append((uuid.uuid4(), 1, stored.topic, stored.state))
    return rows


def raw_postgres_rate(conninfo: str, schema: str, rows: list, batch: int) -> float:
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            f"CREATE TABLE {schema}.raw_events (originator_id uuid, originator_version int, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.commit()
        sql = f"INSERT INTO {schema}.raw_events VALUES (%s, %s, %s, %s)"

        def insert_all() -> None:
            for i in range(0, len(rows), batch):
                with conn.cursor() as cur:
                    cur.executemany(sql, rows[i : i + batch])
                conn.commit()

        result = rate(len(rows), insert_all)
        conn.execute(f"DROP TABLE {schema}.raw_events")
        conn.commit()
        return result


def raw_sqlite_rate(path: str, rows: list, batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
        "state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    hex_rows = [(r[0].hex, r[1], r[2], r[3]) for r in rows]

    def insert_all() -> None:
        for i in range(0, len(hex_rows), batch):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO raw_events VALUES (?, ?, ?, ?)", hex_rows[i : i + batch])
            conn.execute("COMMIT")

    result = rate(len(rows), insert_all)
    conn.execute("DROP TABLE raw_events")
    conn.close()
    return result


@contextmanager
def postgres_store(base_url: str) -> Iterator[DatabaseSettings]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    settings = DatabaseSettings.from_url(f"{base_url}?schema={schema}")
    list(migrate_all(settings))
    try:
        yield settings
    finally:
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def sqlite_store() -> Iterator[DatabaseSettings]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = DatabaseSettings.from_url(f"sqlite:///{Path(tmp) / 'bench.db'}")
        list(migrate_all(settings))
        yield settings


def measure(settings: DatabaseSettings, events: int) -> list[tuple[int, float, float]]:
    ledger = RunLedger(settings)
    ledger_rate(ledger, 200, 10)  # warm up connections and code paths
    results = []
    for batch in BATCHES:
        n = events if batch > 1 else max(events // 3, 300)
        ours = ledger_rate(ledger, n, batch)
        rows = sample_rows(ledger, n)
        if settings.is_postgres:
            raw = raw_postgres_rate(settings.conninfo(), settings.schema, rows, batch)
        else:
            raw = raw_sqlite_rate(settings.sqlite_path, rows, batch)
        results.append((batch, ours, raw))
    ledger.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events per batched measurement")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    print(f"{'store':<10} {'per txn':>7} {'runledger ev/s':>15} {'raw ev/s':>10} {'ratio':>6}")
    for name, store in (("postgres", postgres_store(args.postgres)), ("sqlite", sqlite_store())):
        with store as settings:
            for batch, ours, raw in measure(settings, args.events):
                print(f"{name:<10} {batch:>7} {ours:>15,.0f} {raw:>10,.0f} {ours / raw:>6.2f}")


if __name__ == "__main__":
    main()
