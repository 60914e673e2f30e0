"""Infrastructure faults under a running fleet, on servers of this module's own.

- PostgreSQL restarted (a crash-like `immediate` stop, a few seconds down, then started)
  in the middle of a load: a stream of enqueues, two workers, the projector and
  `runledger web`. No event is lost (every run's record is exactly what its operation
  records), every process recovers by itself without a restart, and `/healthz` answers
  503 throughout the outage (polled while PostgreSQL is down) and 200 after.
- Redis killed and started again empty (no persistence): the runs whose jobs vanished
  end as `reconciler.job_lost` within the grace period plus one reconcile interval of
  the loss; the runs mid-job end as their jobs say; the workers stay up and serve the
  runs queued afterwards (and, up close, a worker's poll survives the outage and its
  claims give their job slots back).
- The SQLite file held locked for 10 s by another process (`BEGIN EXCLUSIVE`, then a
  sleep) while runs are queued, worked and projected: the writers wait, nothing is lost,
  no process dies.

The shared PostgreSQL and Redis are never touched: other people's tests are using them.
Each test prints its figures (docs/reliability.md): run `pytest -s` to see them.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from arq.connections import create_pool

from ledger import DatabaseSettings, RunLedger
from projections.lag import wait_until_projected
from runledger.wiring import migrate_all
from tests.chaos import fault_jobs
from tests.chaos.servers import (
    DATABASE_PASSWORD,
    Enqueuer,
    Fleet,
    PrivatePostgres,
    PrivateRedis,
    Process,
    assert_read_models_equal_a_replay,
    events_by_run,
    free_port,
    record_of,
    wait_until,
)
from workers import QueueSettings, WorkerSettings, build_worker, load_operations
from workers.reconcile_rules import DEFAULT_GRACE_SECONDS
from workers.worker import REDIS_UNAVAILABLE

JOBS = "tests.chaos.fault_jobs"
pytestmark = pytest.mark.timeout(180)  # each test takes 5 to 60 s
INTERVAL = 5  # RUNLEDGER_RECONCILE_INTERVAL
SECRET_KEY = "chaos-secret-key-0123456789abcdef"

OUTAGE = 10.0  # seconds PostgreSQL stays down
ANSWERS_WITHIN = 10.0  # /healthz must answer (503) within this, never hang
RECOVERS_WITHIN = 30.0
LOCK_SECONDS = 10.0
# A run whose job vanished ends within the grace and one interval of the loss; beyond
# that, the pass itself and the worker's Redis backoff (at most 2 s) take a little.
JOB_LOST_BOUND = DEFAULT_GRACE_SECONDS + INTERVAL
JOB_LOST_SLACK = 5.0


def assert_nothing_lost(ledger: RunLedger, queued: dict[UUID, str]) -> int:
    """Every run holds exactly its operation's record; returns how many events."""
    stored = events_by_run(ledger)
    assert set(stored) == set(queued), "the store holds other runs, or lacks some"
    wrong = [
        (operation_type, run_id, record_of(stored[run_id], heartbeats=False))
        for run_id, operation_type in queued.items()
        if record_of(stored[run_id], heartbeats=False) != fault_jobs.RECORDS[operation_type]
    ]
    assert wrong == [], f"{len(wrong)} runs without their exact record: {wrong[:5]}"
    return sum(len(events) for events in stored.values())


def wait_for_endings(ledger: RunLedger, runs: set[UUID], timeout: float) -> None:
    open_runs = set(runs)

    def every_run_ended() -> bool:
        open_runs.difference_update([r for r in open_runs if ledger.state(r).is_terminal])
        return not open_runs

    wait_until(every_run_ended, timeout, "an ending for every run", every=0.5)


def scan_for_the_password(logs: Path) -> str:
    from tests.chaos.secrets_scan import describe_scan, scan_for_secrets

    result = scan_for_secrets([logs], {"database password": DATABASE_PASSWORD})
    assert result["hits"]["database password"] == 0, result["where"]
    return str(describe_scan("the fault test's logs", result))


def report(name: str, figures: dict[str, Any], logs: Path) -> None:
    (logs / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"\n{name} figures: {json.dumps(figures)}\nlogs: {logs}")


@pytest.fixture
def fleet_env(redis_private: PrivateRedis) -> dict[str, str]:
    return {
        "RUNLEDGER_REDIS_URL": redis_private.url,
        "RUNLEDGER_QUEUE_NAME": f"faults:{uuid.uuid4().hex[:8]}",
        "RUNLEDGER_JOBS": JOBS,
        "RUNLEDGER_RECONCILE_INTERVAL": str(INTERVAL),
        "RUNLEDGER_SECRET_KEY": SECRET_KEY,
    }


@pytest.fixture
def fleet(fleet_env: dict[str, str], chaos_logs: Path) -> Iterator[Fleet]:
    made = Fleet(fleet_env, chaos_logs)
    try:
        yield made
    finally:
        made.close()


def start_serving(fleet: Fleet, *, web_port: int | None = None) -> list[Process]:
    """Two workers and the projector (and `runledger web` on `web_port`), serving."""
    serving = [fleet.spawn("worker", "worker", "--poll-delay", "0.1") for _ in range(2)]
    serving.append(fleet.spawn("project", "project", "--poll-interval", "0.2"))
    if web_port is not None:
        serving.append(fleet.spawn("web", "web", "--port", str(web_port)))
    for worker in serving[:2]:
        wait_until(partial(is_serving, worker), 60, "a worker serving")
    return serving


def is_serving(process: Process) -> bool:
    return "Starting worker" in process.output()


def stop_serving(fleet: Fleet, serving: list[Process]) -> None:
    """SIGTERM to each: all still running, each stopping in order. (uvicorn, once it has
    shut down, raises the SIGTERM it caught again: `runledger web` then ends by it.)"""
    assert [p.role for p in serving if not p.alive()] == [], "a process died"
    codes = [(p.role, fleet.terminate(p)) for p in serving]
    orderly = [(role, -signal.SIGTERM if role == "web" else 0) for role, _ in codes]
    assert codes == orderly, codes
    assert all("Finished server process" in p.output() for p in serving if p.role == "web")


# -- PostgreSQL restart ---------------------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    at: float  # seconds since the outage began
    status: int | None  # None: no HTTP answer at all
    seconds: float


def poll_health(url: str, began: float) -> Poll:
    started = time.monotonic()
    try:
        status: int | None = httpx.get(f"{url}/healthz", timeout=ANSWERS_WITHIN).status_code
    except httpx.HTTPError:
        status = None
    return Poll(started - began, status, time.monotonic() - started)


def test_a_postgresql_restart_mid_load_loses_no_event_and_every_process_recovers(
    pg_server: PrivatePostgres, fleet: Fleet, chaos_logs: Path
) -> None:
    schema = f"faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DatabaseSettings.from_url(pg_server.url()).conninfo(),
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{pg_server.url()}?schema={schema}"
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    fleet.env["RUNLEDGER_DATABASE_URL"] = url
    code, out = fleet.run("token", "token", "create", "--operator", "chaos", "--workspace", "*")
    assert code == 0, out
    token = out.splitlines()[-1]
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    serving = start_serving(fleet, web_port=port)
    wait_until(lambda: poll_health(web, 0).status == 200, 30, "runledger web answering")
    ledger = RunLedger(settings)
    enqueuer = Enqueuer(fleet.env, JOBS, list(islice(cycle(fault_jobs.MIX), 120)), rate=4.0)
    try:
        enqueuer.start()
        wait_until(lambda: len(enqueuer.queued) >= 30, 60, "the load under way")

        began = time.monotonic()
        pg_server.stop("immediate")
        # A probe every 0.5 s, each on its own (a probe may take seconds to say 503).
        with ThreadPoolExecutor(max_workers=32) as probes:
            asked = []
            while time.monotonic() - began < OUTAGE:
                asked.append(probes.submit(poll_health, web, began))
                time.sleep(0.5)
            pg_server.start()
            back_at, back_wall = time.monotonic(), time.time()
            polls = [probe.result() for probe in asked]
        # The probes answered while PostgreSQL was down (the others may have seen it back).
        down = [p for p in polls if p.at + p.seconds < back_at - began]
        wait_until(lambda: poll_health(web, began).status == 200, RECOVERS_WITHIN,
                   "/healthz answering 200 again, with no restart")  # fmt: skip
        healthy_after = time.monotonic() - back_at

        queued = enqueuer.finish(timeout=120)
        wait_for_endings(ledger, set(queued), 90)
        events = assert_nothing_lost(ledger, queued)
        wait_until_projected(settings, timeout=60)  # the projector reconnected
        headers = {"Authorization": f"Bearer {token}"}
        stats = httpx.get(f"{web}/api/stats", headers=headers, timeout=10).json()
        shown = sum(row["runs"] for row in stats["rows"] if row["status"] == "completed")
        health = httpx.get(f"{web}/healthz", timeout=10).json()
        stop_serving(fleet, serving)
        rows = assert_read_models_equal_a_replay(settings)
    finally:
        ledger.close()
    scan = scan_for_the_password(chaos_logs)
    warnings = sum(p.output().count(" WARNING ") for p in serving)
    resumed = min(at for at in enqueuer.queued_at.values() if at > back_wall)

    report("postgresql restart", {
        "runs": len(queued),
        "events": events,
        "lost": 0,
        "outage_seconds": round(back_at - began, 1),
        "healthz_polls_while_down": len(down),
        "healthz_503_while_down": sum(p.status == 503 for p in down),
        "healthz_slowest_answer_while_down_s": round(max(p.seconds for p in down), 3),
        "healthz_200_after_start_s": round(healthy_after, 1),
        "enqueues_tried_again": len(enqueuer.failures),
        "slowest_enqueue_s": round(enqueuer.slowest, 1),
        "enqueues_resumed_after_start_s": round(resumed - back_wall, 1),
        "processes_restarted": 0,
        "warnings_logged": warnings,
        "runs_the_web_shows_completed": shown,
        "read_model_rows_equal_to_replay": rows,
    }, chaos_logs)  # fmt: skip
    print(scan)
    assert len(down) >= 3, polls
    assert [p.status for p in down] == [503] * len(down), down
    assert max(p.seconds for p in down) < ANSWERS_WITHIN
    assert shown == len(queued)
    assert health["status"] == "ok" and health["projection"]["events_behind"] == 0, health
    assert enqueuer.slowest >= OUTAGE / 2, "no enqueue met the outage: the test proved nothing"


# -- Redis restart, its data gone -----------------------------------------------------------


def test_a_redis_restart_that_loses_every_job_ends_those_runs_as_job_lost(
    redis_private: PrivateRedis, fleet: Fleet, chaos_logs: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    fleet.env["RUNLEDGER_DATABASE_URL"] = url
    serving = start_serving(fleet)
    ledger = RunLedger(settings)
    try:
        before = _enqueue(fleet.env, fault_jobs.MIX)  # a normal load, ended normally
        wait_for_endings(ledger, set(before), 60)
        # Waiting in Redis when it goes: deferred jobs, and jobs running at that moment.
        waiting = _enqueue(fleet.env, ["fault.quick"] * 20, defer_by=300)
        running = _enqueue(fleet.env, ["fault.slow", "fault.heartbeat"] * 2)
        wait_until(lambda: all(ledger.state(r).status == "running" for r in running), 30,
                   "the slow runs running")  # fmt: skip
        lost_at = time.time()
        redis_private.kill()
        time.sleep(1.0)
        redis_private.start()
        wait_for_endings(ledger, set(waiting) | set(running), JOB_LOST_BOUND + 30)
        after = _enqueue(fleet.env, fault_jobs.MIX)  # the workers serve again
        wait_for_endings(ledger, set(after), 60)
        stored = events_by_run(ledger)
        stop_serving(fleet, serving)
    finally:
        ledger.close()

    lost = {r: record_of(stored[r], heartbeats=False) for r in waiting}
    assert all(rec == [("Queued",), ("ReconciledStale", None, "reconciler.job_lost")]
               for rec in lost.values()), lost  # fmt: skip
    for run_id, operation_type in {**before, **running, **after}.items():
        assert record_of(stored[run_id], heartbeats=False) == fault_jobs.RECORDS[operation_type], (
            run_id
        )
    took = [stored[r][-1].timestamp.timestamp() - lost_at for r in waiting]
    evidence = stored[next(iter(waiting))][-1].evidence
    outages = [p.output().count("Redis unavailable") for p in serving[:2]]
    report("redis restart", {
        "runs_whose_jobs_vanished": len(waiting),
        "ended_job_lost": len(lost),
        "loss_to_end_median_s": round(statistics.median(took), 2),
        "loss_to_end_worst_s": round(max(took), 2),
        "bound_grace_plus_interval_s": JOB_LOST_BOUND,
        "runs_mid_job_ended_by_their_job": len(running),
        "runs_before_and_after": len(before) + len(after),
        "workers_that_logged_the_outage": sum(1 for n in outages if n),
        "processes_restarted": 0,
        "evidence": {k: evidence[k] for k in ("arq_job_state", "grace_seconds", "idle_seconds")},
    }, chaos_logs)  # fmt: skip
    assert max(took) <= JOB_LOST_BOUND + JOB_LOST_SLACK, took
    assert evidence["arq_job_state"] == "not_found"


async def test_a_worker_polls_through_a_redis_outage_and_keeps_every_job_slot(
    redis_private: PrivateRedis, tmp_path: Path
) -> None:
    """What keeps the workers above alive, up close: a poll that meets a Redis outage
    returns (logged) instead of ending the worker, and a claim cut short by it gives its
    job slot back (arq takes the slot first: every outage would leak one per chain)."""
    settings = DatabaseSettings.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    list(migrate_all(settings))
    ledger = RunLedger(settings)
    queue = QueueSettings(redis_private.url, f"faults:{uuid.uuid4().hex[:8]}")
    worker = build_worker(load_operations(JOBS), WorkerSettings(ledger.settings, queue),
                          clock=ledger.clock, cron_jobs=[], max_jobs=4,
                          poll_delay=0.05, handle_signals=False)  # fmt: skip
    worker._pool = await create_pool(queue.redis_settings(), default_queue_name=queue.queue_name)
    free = worker.sem._value  # arq's semaphore: max_jobs + 1
    try:
        redis_private.kill()
        with pytest.raises(REDIS_UNAVAILABLE):
            await worker.start_jobs([b"job-a", b"job-b", b"job-c"])  # two chains cut short
        assert (worker.job_counter, worker.sem._value) == (0, free)  # every slot back
        await worker._poll_iteration()  # returns: the worker lives on
        await worker._poll_iteration()
        assert worker._redis_down_since is not None
        redis_private.start()
        await worker._poll_iteration()
        assert worker._redis_down_since is None  # polling as usual again
    finally:
        if not redis_private.answers():
            redis_private.start()
        await worker.close()
        ledger.close()


def _enqueue(
    env: dict[str, str], types: list[str], *, defer_by: float | None = None
) -> dict[UUID, str]:
    enqueuer = Enqueuer(env, JOBS, types, rate=50.0, defer_by=defer_by)
    enqueuer.start()
    return enqueuer.finish()


# -- SQLite held locked ---------------------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", time.time(), flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", time.time(), flush=True)
"""


def test_a_sqlite_file_locked_for_10_s_makes_writers_wait_and_loses_nothing(
    fleet: Fleet, chaos_logs: Path, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.db"
    settings = DatabaseSettings.from_url(f"sqlite:///{path}")
    list(migrate_all(settings))
    fleet.env["RUNLEDGER_DATABASE_URL"] = settings.url
    serving = start_serving(fleet)
    ledger = RunLedger(settings)
    enqueuer = Enqueuer(fleet.env, JOBS, list(islice(cycle(fault_jobs.MIX), 80)), rate=4.0)
    try:
        enqueuer.start()
        wait_until(lambda: len(enqueuer.queued) >= 20, 60, "the load under way")
        holder = subprocess.run(
            [sys.executable, "-c", LOCK_HOLDER, str(path), str(LOCK_SECONDS)],
            capture_output=True, text=True, timeout=90, check=True,
        )  # fmt: skip
        (_, locked_at), (_, released_at) = (line.split() for line in holder.stdout.splitlines())
        queued = enqueuer.finish(timeout=120)
        wait_for_endings(ledger, set(queued), 90)
        events = assert_nothing_lost(ledger, queued)
        wait_until_projected(settings, timeout=60)
        stop_serving(fleet, serving)
        rows = assert_read_models_equal_a_replay(settings)
    finally:
        ledger.close()
    logs = "".join(p.output() for p in serving)
    report("sqlite locked", {
        "runs": len(queued),
        "events": events,
        "lost": 0,
        "lock_held_s": round(float(released_at) - float(locked_at), 1),
        "slowest_enqueue_s": round(enqueuer.slowest, 1),
        "enqueues_tried_again": len(enqueuer.failures),
        "database_is_locked_errors": logs.count("database is locked"),
        "processes_restarted": 0,
        "read_model_rows_equal_to_replay": rows,
    }, chaos_logs)  # fmt: skip
    assert enqueuer.slowest >= LOCK_SECONDS / 2, "no enqueue met the lock: nothing was proved"
