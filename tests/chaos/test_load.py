"""Load: thousands of runs through two real `runledger worker`s on PostgreSQL, with the
projector, `runledger web` and 20 operators reading it all along.

The fleet is the real one, as subprocesses on the module's private servers
(tests/chaos/servers.py): two workers (`--max-jobs 50 --poll-delay 0.05`, each with its
committer process and the reconciler cron, every 30 s by default), `runledger project`,
`runledger web`. Two application threads queue the runs through `RunClient` as fast as
the workers take them: at most BACKLOG (400, about 3 s of work) queued and not yet
ended, so both workers are always busy and the throughput is theirs. (Dumping all the
runs at once was tried first: thousands then wait in Redis past the reconciler's 10 s
grace, and every cron pass rechecks each of them; with one event-store read per run then,
a pass of 2,164 took 29 s against its 30 s timeout; docs/reliability.md.) The operations
(tests/chaos/load_jobs.py) are short: ten runs of the mix are 6 quick ones, 1
heartbeating, 1 retried, 1 failed by its job, 1 raising.

Measured, and printed (and written to `figures.json` beside the logs):

- throughput: runs ended (and events stored) per second, from the first enqueue to the
  last run's terminal commit;
- the latency of every transition a worker records, from its hook handing it over to
  its durable commit (`RUNLEDGER_COMMIT_LATENCY_LOG`, workers/tracking.py): p50, p99,
  worst, overall and per command;
- every process's resident memory (VmRSS), sampled every second, children included,
  against the runs ended so far; after warm-up (20 % of the runs) it must stay flat:
  below +10 % at the end;
- 20 concurrent clients, each logged in through the login form, reading `/operations`
  (HTML, session cookie) and `/api/runs` (bearer token) in turn with a 0.5 s pause,
  as dashboards do: p50, p95, worst, during the load and for 5 s alone before it;
  every answer must be a 200.

Then nothing may be lost: every run queued is in the event store with exactly its
operation's record (one terminal event, the expected outcome), every transition a worker
committed was timed, the read models equal a fresh replay, every process stops in order.

Size: DEFAULT_LOAD_RUNS (3,000) runs, within CI's time; `--load-runs full` (or
RUNLEDGER_LOAD_RUNS=full) runs the issue's 10,000 (tests/chaos/conftest.py).
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import Counter
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from ledger import DatabaseSettings, RunLedger
from projections.lag import wait_until_projected
from runledger.wiring import migrate_all
from tests.chaos import load_jobs
from tests.chaos.load import (
    Backlog,
    BacklogEnqueuer,
    LatencyLog,
    Memory,
    MemorySampler,
    Readers,
    latency_figures,
    memory_figures,
    memory_table,
    reader_figures,
)
from tests.chaos.servers import (
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
from workers.tracking import COMMIT_LATENCY_VAR

pytestmark = pytest.mark.load_test  # its time limit follows --load-runs (conftest.py)

JOBS = "tests.chaos.load_jobs"
SECRET_KEY = "load-secret-key-0123456789abcdef01"
WORKER_ARGS = ("--max-jobs", "50", "--poll-delay", "0.05")
ENQUEUERS = 2
BACKLOG = 400  # runs queued and not yet ended, at most: about 3 s of the workers' work
CLIENTS = 20
READ_PAUSE = 0.5  # seconds a client waits between two answers
IDLE_SECONDS = 5.0  # the readers read alone this long before the load
WARM = 0.2  # the warm-up: memory is compared from this share of the runs on
MARKS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # the memory table's columns
GROWTH_LIMIT_PCT = 10.0
# The load's own deadline, 30 s + this per run: about 5x what it takes on a loaded
# 2-core machine, and within the time limit conftest.py sets (so a stall says so).
SECONDS_PER_RUN = 0.05


def check_the_store(ledger: RunLedger, queued: dict[UUID, str]) -> tuple[int, Counter[str]]:
    """Every run holds exactly its operation's record; the events stored, and by kind."""
    stored = events_by_run(ledger)
    assert set(stored) == set(queued), "the store holds other runs, or lacks some"
    wrong = [
        (operation_type, run_id, record_of(stored[run_id]))
        for run_id, operation_type in queued.items()
        if record_of(stored[run_id]) != load_jobs.RECORDS[operation_type]
    ]
    assert wrong == [], f"{len(wrong)} runs without their exact record: {wrong[:5]}"
    kinds = Counter(type(e).__name__ for events in stored.values() for e in events)
    return sum(kinds.values()), kinds


@pytest.fixture
def database_url(pg_server: PrivatePostgres) -> str:
    """A fresh schema on the module's private PostgreSQL, migrated."""
    schema = f"load_{uuid.uuid4().hex[:10]}"
    admin = DatabaseSettings.from_url(pg_server.url()).conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{pg_server.url()}?schema={schema}"
    list(migrate_all(DatabaseSettings.from_url(url)))
    return url


def start_fleet(fleet: Fleet, web_port: int) -> dict[str, Process]:
    """Two workers, the projector and the web, each serving; by label."""
    processes = {f"worker-{n}": fleet.spawn("worker", "worker", *WORKER_ARGS) for n in (1, 2)}
    processes["projector"] = fleet.spawn("project", "project")
    processes["web"] = fleet.spawn("web", "web", "--port", str(web_port))
    for label in ("worker-1", "worker-2"):
        wait_until(partial(serves, processes[label]), 60, f"{label} serving")
    web = f"http://127.0.0.1:{web_port}"
    wait_until(partial(healthy, web), 60, "runledger web answering")
    return processes


def serves(worker: Process) -> bool:
    return "Starting worker" in worker.output()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def stop_fleet(fleet: Fleet, processes: dict[str, Process]) -> dict[str, int]:
    """SIGTERM to each, all still running; each one's exit code."""
    assert [label for label, p in processes.items() if not p.alive()] == [], "a process died"
    return {label: fleet.terminate(process) for label, process in processes.items()}


def enqueue_all(env: dict[str, str], runs: int, backlog: Backlog) -> list[Enqueuer]:
    """ENQUEUERS application threads sharing the mix and the backlog window, started."""
    types = list(islice(cycle(load_jobs.MIX), runs))
    enqueuers: list[Enqueuer] = [
        BacklogEnqueuer(env, JOBS, types[n::ENQUEUERS], backlog) for n in range(ENQUEUERS)
    ]
    for enqueuer in enqueuers:
        enqueuer.start()
    return enqueuers


def test_load_through_two_workers_on_postgresql(
    database_url: str, redis_private: PrivateRedis, load_runs: int, chaos_logs: Path
) -> None:
    runs = load_runs
    settings = DatabaseSettings.from_url(database_url)
    latency_file = chaos_logs / "commit-latency.txt"
    env = {
        "RUNLEDGER_DATABASE_URL": database_url,
        "RUNLEDGER_REDIS_URL": redis_private.url,
        "RUNLEDGER_QUEUE_NAME": f"load:{uuid.uuid4().hex[:8]}",
        "RUNLEDGER_JOBS": JOBS,
        "RUNLEDGER_SECRET_KEY": SECRET_KEY,
        COMMIT_LATENCY_VAR: str(latency_file),
    }
    fleet = Fleet(env, chaos_logs)
    ledger = RunLedger(settings)
    log = LatencyLog(latency_file)
    threads: list[MemorySampler | Readers] = []  # stopped in any case
    try:
        code, out = fleet.run("token", "token", "create", "--operator", "load", "--workspace", "*")
        assert code == 0, out
        port = free_port()
        processes = start_fleet(fleet, port)
        sampler = MemorySampler(processes, log.read)
        readers = Readers(f"http://127.0.0.1:{port}", out.splitlines()[-1], clients=CLIENTS,
                          pause=READ_PAUSE)  # fmt: skip
        threads += [sampler, readers]
        sampler.start()
        readers.start()
        idle_from = time.monotonic()
        time.sleep(IDLE_SECONDS)  # the readers alone first: their figures without the load
        began, began_wall = time.monotonic(), time.time()
        backlog = Backlog(log.read, BACKLOG)
        enqueuers = enqueue_all(env, runs, backlog)
        wait_until(lambda: log.read() >= runs, 30 + runs * SECONDS_PER_RUN,
                   f"{runs} runs ended", every=0.2)  # fmt: skip
        ended = time.monotonic()
        queued = {run: kind for e in enqueuers for run, kind in e.finish().items()}
        enqueued = max(max(e.queued_at.values()) for e in enqueuers)
        wait_until_projected(settings, timeout=120)
        projected = time.monotonic()
        answers = readers.stop()
        samples = sampler.stop()
        exits = stop_fleet(fleet, processes)
        events, kinds = check_the_store(ledger, queued)
        rows = assert_read_models_equal_a_replay(settings)
    finally:
        for thread in threads:
            thread.stop()  # again, once done: nothing more happens
        fleet.close()
        ledger.close()
    log.read()  # what the workers wrote while they stopped (nothing, when all is well)
    load_seconds = ended - began
    memory = memory_figures(samples, runs, WARM, MARKS)
    figures: dict[str, Any] = {
        "runs": runs,
        "workers": len([p for p in processes if p.startswith("worker")]),
        "load_seconds": round(load_seconds, 1),
        "enqueue_seconds": round(enqueued - began_wall, 1),
        "runs_per_s": round(runs / load_seconds, 1),
        "events": events,
        "events_per_s": round(events / load_seconds, 1),
        "events_by_kind": dict(kinds.most_common()),
        "projected_after_last_end_s": round(projected - ended, 1),
        "commit_latency": latency_figures(log),
        "backlog_window": BACKLOG,
        "readers_idle": reader_figures(answers, (idle_from, began)),
        "readers": {
            "clients": CLIENTS,
            "pause_s": READ_PAUSE,
            **reader_figures(answers, (began, ended)),
        },
        "reader_errors": readers.errors[:10],
        "memory_samples": len(samples),
        "memory": {label: m.as_json() for label, m in memory.items()},
        "read_model_rows_equal_to_replay": rows,
        "exit_codes": exits,
        "lost": 0,  # check_the_store raised otherwise
    }
    (chaos_logs / "figures.json").write_text(json.dumps(figures, indent=2))
    (chaos_logs / "memory-samples.json").write_text(
        json.dumps([[s.at, s.ended, s.rss] for s in samples])
    )
    print(report(figures, memory, chaos_logs))

    worker_transitions = events - kinds["Queued"]
    assert sum(log.counts().values()) == worker_transitions, "a durable transition went untimed"
    assert readers.errors == [], readers.errors
    assert all(a.status == 200 for a in answers), Counter(a.status for a in answers)
    # uvicorn, once it has shut down, raises the SIGTERM it caught again.
    assert exits == {label: -signal.SIGTERM if label == "web" else 0 for label in exits}, exits
    grown = {
        label: m.growth_pct
        for label, m in memory.items()
        if m.growth_pct is not None and m.growth_pct >= GROWTH_LIMIT_PCT
    }
    assert grown == {}, f"resident memory grew {GROWTH_LIMIT_PCT} % or more after warm-up: {grown}"


def report(figures: dict[str, Any], memory: dict[str, Memory], logs: Path) -> str:
    """The block the test prints: the headline figures, then the memory table."""
    latency, readers = figures["commit_latency"], figures["readers"]
    lines = [
        "",
        f"load figures: {figures['runs']} runs through {figures['workers']} workers in "
        f"{figures['load_seconds']} s: {figures['runs_per_s']} runs/s, "
        f"{figures['events_per_s']} events/s ({figures['events']} events)",
        f"hook -> durable commit over {latency['commands']} transitions: "
        f"p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, worst {latency['max_ms']} ms",
        *[
            f"  {command}: {row['commands']} p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms"
            for command, row in latency["by_command"].items()
        ],
        *[
            f"{path} ({readers['clients']} clients): {row['answers']} answers "
            f"({row['per_s']}/s), not 200: {row['not_200']}, p50 {row['p50_ms']} ms, "
            f"p95 {row['p95_ms']} ms, worst {row['max_ms']} ms"
            for path, row in readers.items()
            if path.startswith("/")
        ],
        *[
            f"  idle, before the load: {path}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms"
            for path, row in figures["readers_idle"].items()
        ],
        f"read models caught up {figures['projected_after_last_end_s']} s after the last "
        f"run ended; {figures['read_model_rows_equal_to_replay']} rows equal to a replay; "
        f"lost: {figures['lost']}",
        f"resident memory, {figures['memory_samples']} samples (1 a second); growth from run "
        f"{round(figures['runs'] * WARM)} to run {figures['runs']}:",
        memory_table(memory),
        f"figures: {logs / 'figures.json'}",
    ]
    return "\n".join(lines)
