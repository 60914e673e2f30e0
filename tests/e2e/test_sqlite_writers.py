"""Several processes writing one SQLite ledger at once: three `runledger worker`s (each
with its committer process, and its reconciler cron catching the read models up every
second), a `runledger project`, a `runledger replay` swapping the read models in
mid-stream, `runledger enqueue`s and two application threads, over 200 runs.

They all take turns on the one file's write lock: none may lose a transition, record
one twice, die, or give up on a lock that another process holds; and the read models
built meanwhile must equal a replay.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import threading
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from uuid import UUID

import pytest

from ledger import DatabaseSettings, RunLedger
from projections.db import Connection
from projections.lag import wait_until_projected
from projections.projector import READ_MODELS
from projections.replay import replay
from tests.e2e.cli import ROOT, RUNLEDGER, cli_env, wait_for
from tests.integration.worker_helpers import timeline
from workers import QueueSettings, RunClient, load_operations

JOBS = "tests.e2e_busy_jobs"
EXTRA_ENV = {"RUNLEDGER_RECONCILE_INTERVAL": "1"}
pytestmark = pytest.mark.timeout(150)

STARTED = [("Queued",), ("Started", 1)]
# Each operation's whole record, heartbeats aside (how many a job writes is its timing).
RECORDS: dict[str, list[tuple[object, ...]]] = {
    "busy.succeed": [*STARTED, ("Completed", 1, "job.succeeded")],
    "busy.partial": [*STARTED, ("Completed", 1, "job.partially_succeeded")],
    "busy.fail": [*STARTED, ("Completed", 1, "job.failed")],
    "busy.explode": [*STARTED, ("Completed", 1, "job.exception")],
    "busy.heartbeat": [*STARTED, ("Completed", 1, "job.succeeded")],
    "busy.nap": [*STARTED, ("Completed", 1, "job.succeeded")],
    "busy.retry": [
        *STARTED,
        ("RetryScheduled", 1, "retry.requested"),
        ("Started", 2),
        ("Completed", 2, "job.succeeded"),
    ],
    "busy.always_retry": [
        *STARTED,
        ("RetryScheduled", 1, "retry.requested"),
        ("Started", 2),
        ("RetryScheduled", 2, "retry.requested"),
        ("QueueFailed", 3, "queue.max_tries_exceeded"),
    ],
    "busy.hang": [*STARTED, ("QueueFailed", 1, "queue.timeout")],  # after its 2 s timeout
}
QUICK = [name for name in RECORDS if name != "busy.hang"]
TERMINAL_EVENTS = {"Completed", "QueueFailed", "ReconciledStale"}
RUNS_PER_THREAD = 97
BY_CLI = ["busy.succeed", "busy.retry", "busy.explode", "busy.hang", "busy.hang", "busy.hang"]

LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$", re.MULTILINE)


def trouble(log: str) -> list[str]:
    """What a process logged that it should not have: any warning or error but arq's notes
    on the jobs that end badly on purpose here (`! job_id:function …`), and above all a
    lock given up on (`database is locked`), wherever it shows."""
    unexpected = [
        m.group(0) for m in LOG_LINE.finditer(log) if not (m[2] == "arq.worker" and " ! " in m[3])
    ]
    return unexpected + [line for line in log.splitlines() if "database is locked" in line]


def several(count: int, offset: int) -> list[str]:
    """`count` operation types, every quick ending in turn."""
    return list(islice(cycle(QUICK), offset, offset + count))


class Processes:
    """`runledger` processes of this test, each logging to a file of its own (a pipe
    that nobody reads while they run would fill up and stall them)."""

    def __init__(self, env: dict[str, str], logs: Path, started: list[subprocess.Popen[str]]):
        self.env, self.logs, self.started = env, logs, started
        self.paths: dict[int, Path] = {}

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        path = self.logs / f"{len(self.paths)}-{args[0]}.log"
        with path.open("w") as log:
            process = subprocess.Popen(
                [RUNLEDGER, *args],
                env=cli_env(**self.env),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
            )
        self.paths[process.pid] = path
        self.started.append(process)  # killed at the end if still running
        return process

    def log(self, process: subprocess.Popen[str]) -> str:
        return self.paths[process.pid].read_text()

    def logged(self, process: subprocess.Popen[str], text: str) -> bool:
        return text in self.log(process)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: its writers take turns on a file lock, with waits of runledger's and
    eventsourcing's choosing. (On PostgreSQL, the server queues them on a table lock.)"""
    return sqlite_url


@pytest.fixture
def processes(
    env: dict[str, str], workers: list[subprocess.Popen[str]], tmp_path: Path
) -> Processes:
    return Processes(env, tmp_path, workers)


class Enqueuer(threading.Thread):
    """An application thread queueing runs through a RunClient of its own."""

    def __init__(self, env: dict[str, str], types: list[str]) -> None:
        super().__init__(daemon=True)
        self.env, self.types = env, types
        self.queued: dict[UUID, str] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.enqueue_all())
        except BaseException as error:
            self.error = error

    async def enqueue_all(self) -> None:
        queue = QueueSettings(self.env["RUNLEDGER_REDIS_URL"], self.env["RUNLEDGER_QUEUE_NAME"])
        ledger = RunLedger(DatabaseSettings.from_url(self.env["RUNLEDGER_DATABASE_URL"]))
        operations = load_operations(JOBS)
        try:
            async with RunClient(ledger, queue.client(), operations) as client:
                for start in range(0, len(self.types), 8):  # eight at a time, as a web app
                    chunk = self.types[start : start + 8]
                    ids = await asyncio.gather(
                        *(client.enqueue(t, workspace="acme") for t in chunk)
                    )
                    self.queued.update(zip(ids, chunk, strict=True))
        finally:
            ledger.close()


def dump(settings: DatabaseSettings) -> dict[str, list[tuple[object, ...]]]:
    with Connection(settings) as conn:
        return {table.name: table.dump(conn) for table in READ_MODELS}


def enqueue_from_everywhere(env: dict[str, str], processes: Processes) -> dict[UUID, str]:
    """Two application threads and a `runledger enqueue` per BY_CLI entry, all at once;
    returns the operation type of each run queued."""
    threads = [Enqueuer(env, several(RUNS_PER_THREAD, offset)) for offset in (0, 4)]
    for thread in threads:
        thread.start()
    cli = [(processes.spawn("enqueue", t, "--workspace", "beta"), t) for t in BY_CLI]
    queued: dict[UUID, str] = {}
    for process, operation_type in cli:
        stdout, _ = process.communicate(timeout=60)
        assert process.returncode == 0, processes.log(process)
        queued[UUID(stdout.splitlines()[-1])] = operation_type
    for thread in threads:
        thread.join(timeout=60)
        assert thread.error is None, thread.error
        queued.update(thread.queued)
    return queued


def test_several_processes_writing_at_once_lose_and_repeat_nothing(
    env: dict[str, str], env_ledger: RunLedger, processes: Processes
) -> None:
    serving = [processes.spawn("worker", "--poll-delay", "0.05") for _ in range(3)]
    serving.append(processes.spawn("project", "--poll-interval", "0.05"))
    for worker in serving[:3]:  # every worker is polling before the first run is queued
        wait_for(partial(processes.logged, worker, "Starting worker"), 60, "a worker up")

    rebuild = processes.spawn("replay", "--quiet", "--batch-size", "50")
    queued = enqueue_from_everywhere(env, processes)
    assert len(queued) == 2 * RUNS_PER_THREAD + len(BY_CLI) == 200
    open_runs = set(queued)

    def every_run_ended() -> bool:
        open_runs.difference_update([r for r in open_runs if env_ledger.state(r).is_terminal])
        return not open_runs

    wait_for(every_run_ended, 60, "an ending for every run")
    for run_id, operation_type in queued.items():
        record = [row for row in timeline(env_ledger, run_id) if row[0] != "Heartbeat"]
        assert record == RECORDS[operation_type], (operation_type, run_id)
        assert sum(row[0] in TERMINAL_EVENTS for row in record) == 1
    wait_until_projected(env_ledger.settings, timeout=30)
    rebuild.communicate(timeout=30)
    assert rebuild.returncode == 0, processes.log(rebuild)
    assert trouble(processes.log(rebuild)) == []

    assert [p.poll() for p in serving] == [None] * 4, "a worker or the projector died"
    for process in serving:
        process.send_signal(signal.SIGTERM)
    for process in serving:
        process.wait(timeout=30)
        log = processes.log(process)
        assert process.returncode == 0, log
        assert trouble(log) == [], log

    live = dump(env_ledger.settings)
    assert len(live["runs_index"]) == len(queued)
    replay(env_ledger.settings)
    assert dump(env_ledger.settings) == live
