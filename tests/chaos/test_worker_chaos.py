"""Chaos, worker crashes: runs of mixed operations through two `runledger worker`s that are
SIGKILLed at random every 2 to 5 s and restarted, a `runledger project` SIGKILLed and
restarted too, the reconciler running all along (each worker's cron every 5 s, and
`runledger reconcile` every 15 s), on PostgreSQL and on SQLite.

A kill falls due at random and takes a worker in the middle of a job, when one is within
2 s of it (a crash under load: a kill of an idle worker orphans nothing and proves
nothing). Half of the kills take the worker alone (its committer process drains what it
had and exits), half take its whole process group, committer included (an OOM kill of a
container): commands sent but not committed are then lost with it, and arq's
redelivery must make up for them. A worker is killed only while the other one serves
(on a loaded machine a worker takes seconds to start). Once every run is queued and
started, a last kill takes both workers down for longer than the stale threshold ("the
blackout"): no worker is left to redeliver and no cron runs, so `runledger reconcile`
passes (every 5 s meanwhile) must end the runs they held, with `ReconciledStale`; then
the workers come back and finish the rest.

At the end it checks the event store itself, through its notification log:

- every run queued is there, and no other;
- every run is terminal, with exactly one terminal event and nothing after it but
  late signals;
- every attempt without an ending of its own was run by a killed worker, and is
  explained: by a later attempt, or by a `ReconciledStale` carrying its evidence;
- every job execution (tests/chaos_jobs.py logs each one) had its `Started` durable
  first and ran before its run's terminal event: no job ran after its run was over;
- every run ended the way its operation ends, or by a path chaos explains (tries used
  up by kills, the reconciler past the threshold); never `job_lost` or `queue_result`,
  which would mean the ledger missed what arq knew;
- the read models equal a fresh replay; no process died but those it killed; the logs
  hold no database password.

It prints (and writes to `figures.json` beside the logs) the figures in
docs/reliability.md, among them the worst and the median time from a run's orphaning
(its worker's kill) to its terminal event, against its threshold plus one interval.

Sizes: 300 runs on PostgreSQL and 100 on SQLite by default; `--chaos-runs full` (or
RUNLEDGER_CHAOS_RUNS=full) runs the issue's 1,000 and 300 (tests/chaos/conftest.py).
Set RUNLEDGER_CHAOS_SEED to replay a run's choice of victims.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import signal
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from arq.jobs import Job, JobStatus

from ledger import DatabaseSettings, RunLedger
from runledger.wiring import migrate_all
from tests import chaos_jobs
from tests.chaos.servers import (
    DATABASE_PASSWORD,
    TERMINAL,
    Enqueuer,
    Fleet,
    PrivatePostgres,
    PrivateRedis,
    Process,
    assert_read_models_equal_a_replay,
    events_by_run,
    wait_until,
)
from workers import QueueSettings, RunClient, WorkerSettings, build_worker, load_operations

JOBS = "tests.chaos_jobs"
INTERVAL = 5  # RUNLEDGER_RECONCILE_INTERVAL: each worker's reconciler cron
RECONCILE_CLI_EVERY = 15.0  # and a `runledger reconcile` pass this often,
RECONCILE_CLI_BLACKOUT = 5.0  # and this often while no worker (so no cron) runs
WORKERS = 2
KILL_EVERY = (2.0, 5.0)  # seconds between two worker SIGKILLs, at random
KILL_AT_LEAST_EVERY = 10.0  # however slowly restarted workers come back
# A kill that falls due waits this long at most for a worker to be in the middle of a job:
# one whose job began less than BUSY_FOR ago (the slow and heartbeating jobs take 1.2 s).
KILL_WAITS_FOR_A_JOB = 2.0
BUSY_FOR = 1.0
PROJECTOR_KILL_EVERY = (6.0, 12.0)
# Runs queued per second; a larger run is queued faster, within about 100 s.
RATE = {"postgresql": 6.0, "sqlite": 3.0}
ENQUEUE_WITHIN = 100.0
# Kills go on after the last enqueue until the queue has drained (on a busy machine the
# workers trail the enqueues), for at most this long: a run still waiting at the
# blackout would be healed as stale_queued, having never run.
DRAIN_WITHIN = 60.0
THRESHOLD = float(chaos_jobs.POLICY["stale_running_after"])
BOUND = THRESHOLD + INTERVAL  # a run's orphaning to its end, at most (the contract)
# Beyond the bound: the pass that heals a run takes time too (its process starts, reads
# the read models, then the store), on a shared 2-CPU machine.
PASS_SLACK = 10.0

ENDINGS = {"Completed", "QueueFailed", "RetryScheduled"}  # of one attempt
# How chaos may end a run, whatever its operation: tries used up by kills, a try cut by
# its timeout on a loaded machine, the reconciler healing one past its threshold.
CHAOS_ENDINGS = {
    "queue.max_tries_exceeded",
    "queue.timeout",
    "reconciler.stale_running",
    "reconciler.stale_queued",
}
EVIDENCE = {"previous_status", "last_activity_at", "idle_seconds", "threshold_seconds",
            "attempts", "arq_job_state"}  # fmt: skip


@dataclass(frozen=True)
class Kill:
    pid: int
    at: float  # unix time the SIGKILL was sent
    with_committer: bool
    mid_job: bool = False  # the worker's last job began less than BUSY_FOR before


class Chaos:
    """Two workers and a projector, killed at random and restarted, until told to stop."""

    def __init__(self, fleet: Fleet, rng: random.Random, executions: Path) -> None:
        self.fleet, self.rng, self.executions = fleet, rng, executions
        self.workers = [self._worker() for _ in range(WORKERS)]
        self.projector = self._projector()
        self.kills: dict[int, Kill] = {}
        self.projector_kills = 0
        self.died: list[str] = []  # processes that exited without being killed

    def _worker(self) -> Process:
        return self.fleet.spawn("worker", "worker", "--poll-delay", "0.1")

    def _projector(self) -> Process:
        return self.fleet.spawn("project", "project", "--poll-interval", "0.2")

    def run(self, until: Callable[[], bool], check_every: float = 1.0) -> None:
        """Kills until `until()` (asked every `check_every` seconds) says enough."""
        now = time.monotonic()
        next_kill = now + self.rng.uniform(*KILL_EVERY)
        next_projector_kill = now + self.rng.uniform(*PROJECTOR_KILL_EVERY)
        next_check = now + check_every
        while True:
            time.sleep(0.05)
            self._notice_deaths()
            now = time.monotonic()
            if now >= next_check:
                if until():
                    return
                next_check = time.monotonic() + check_every
            if now >= next_kill and self._kill_a_worker(now - next_kill >= KILL_WAITS_FOR_A_JOB):
                next_kill = now + self.rng.uniform(*KILL_EVERY)
            if now >= next_projector_kill:
                self.fleet.kill(self.projector)
                self.projector_kills += 1
                self.projector = self._projector()
                next_projector_kill = now + self.rng.uniform(*PROJECTOR_KILL_EVERY)

    def blackout(self) -> float:
        """Kills both workers, committers included, and starts none: when it was."""
        at = time.time()
        for worker in self.workers:
            at = self.fleet.kill(worker, group=True)
            self.kills[worker.pid] = Kill(worker.pid, at, with_committer=True)
        self.workers = []
        return at

    def restore(self) -> None:
        self.workers = [self._worker() for _ in range(WORKERS)]

    def _kill_a_worker(self, idle_too: bool) -> bool:
        """Kills one of the workers, once both serve (the blackout aside, one is always
        left: on a loaded machine a worker takes seconds to start, and killing the only
        one serving again and again would starve the queue instead of testing it): one in
        the middle of a job, or, when `idle_too`, any."""
        serving = [slot for slot, w in enumerate(self.workers) if serves(w)]
        if len(serving) < WORKERS:
            return False
        busy = self._busy()
        mid_job = [slot for slot in serving if self.workers[slot].pid in busy]
        if not mid_job and not idle_too:
            return False
        slot = self.rng.choice(mid_job or serving)
        victim = self.workers[slot]
        with_committer = self.rng.random() < 0.5
        at = self.fleet.kill(victim, group=with_committer)
        self.kills[victim.pid] = Kill(victim.pid, at, with_committer, bool(mid_job))
        self.workers[slot] = self._worker()
        return True

    def _busy(self) -> set[int]:
        """The pids of the workers whose last job began less than BUSY_FOR ago."""
        since = time.time() - BUSY_FOR
        runs = read_executions(self.executions).values()
        return {pid for execution in runs for _, at, pid in execution if at >= since}

    def _notice_deaths(self) -> None:
        for slot, worker in enumerate(self.workers):
            if not worker.alive():
                self.died.append(f"worker {worker.pid}: {worker.output()[-1500:]}")
                self.workers[slot] = self._worker()
        if not self.projector.alive():
            self.died.append(f"projector {self.projector.pid}: {self.projector.output()[-1500:]}")
            self.projector = self._projector()

    def stop(self) -> list[tuple[str, int]]:
        """SIGTERM to everything still running, once serving; each one's exit code.
        (A worker still importing has no signal handler yet: SIGTERM would just kill it.)"""
        self._notice_deaths()
        for worker in self.workers:
            wait_until(partial(serves, worker), 60, "a worker serving")
        serving = [*self.workers, self.projector]
        return [(p.role, self.fleet.terminate(p)) for p in serving]


class ReconcilePasses(threading.Thread):
    """`runledger reconcile --json` every `every` seconds, beside the crons."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(daemon=True, name="reconcile-passes")
        self.fleet = fleet
        self.every = RECONCILE_CLI_EVERY
        self.stopping = threading.Event()
        self.passes = self.healed = 0
        self.failures: list[str] = []

    def run(self) -> None:
        last = time.monotonic()
        while not self.stopping.wait(0.2):
            if time.monotonic() - last < self.every:
                continue
            last = time.monotonic()  # a fixed pace, however long a pass takes
            code, out = self.fleet.run("reconcile", "reconcile", "--json", timeout=60)
            if code != 0:
                self.failures.append(f"exit {code}")
                continue
            report = json.loads(out)
            self.passes += 1
            self.healed += sum(1 for h in report["healed"] if h["applied"])


@dataclass
class Findings:
    """What the event store says, run by run."""

    problems: list[str] = field(default_factory=list)
    endings: Counter[str] = field(default_factory=Counter)
    orphaned_attempts: int = 0
    explained_by_attempt: int = 0
    explained_by_reconciler: int = 0
    orphan_to_end: dict[str, list[float]] = field(default_factory=dict)  # by terminal event
    late_signals: int = 0
    executions: int = 0
    reran: int = 0  # runs whose job ran more than once (a killed try, then another)
    events: int = 0

    def problem(self, run_id: UUID, text: str) -> None:
        self.problems.append(f"{run_id}: {text}")


def read_executions(path: Path) -> dict[UUID, list[tuple[int, float, int]]]:
    """Each run's job executions: (attempt, unix time it began, worker pid)."""
    executions: dict[UUID, list[tuple[int, float, int]]] = {}
    if path.exists():
        for line in path.read_text().split("\n")[:-1]:  # not a last line still being written
            run_id, attempt, at, pid = line.split()
            executions.setdefault(UUID(run_id), []).append((int(attempt), float(at), int(pid)))
    return executions


def pid_of(worker_id: str) -> int:
    return int(worker_id.rsplit(":", 1)[1])


def examine(
    run_id: UUID,
    operation_type: str,
    events: list[Any],
    executions: list[tuple[int, float, int]],
    kills: dict[int, Kill],
    found: Findings,
) -> None:
    names = [type(e).__name__ for e in events]
    found.events += len(events)
    found.late_signals += names.count("LateSignalRecorded")
    ends = [i for i, name in enumerate(names) if name in TERMINAL]
    if len(ends) != 1:
        found.problem(run_id, f"{len(ends)} terminal events: {names}")
        return
    terminal = events[ends[0]]
    if any(name != "LateSignalRecorded" for name in names[ends[0] + 1 :]):
        found.problem(run_id, f"changed after its terminal event: {names}")
    found.endings[terminal.reason_code] += 1
    if terminal.reason_code not in {chaos_jobs.OWN_ENDINGS[operation_type], *CHAOS_ENDINGS}:
        found.problem(run_id, f"{operation_type} ended {terminal.reason_code}: {names}")
    started = {e.attempt: e for e in events if type(e).__name__ == "Started"}
    _examine_orphans(run_id, events, terminal, started, kills, found)
    _examine_executions(run_id, terminal, started, executions, found)


def _examine_orphans(
    run_id: UUID,
    events: list[Any],
    terminal: Any,
    started: dict[int, Any],
    kills: dict[int, Kill],
    found: Findings,
) -> None:
    ended = {e.attempt for e in events if type(e).__name__ in ENDINGS}
    orphaned: list[Kill] = []
    for attempt, start in started.items():
        if attempt in ended:
            continue
        kill = kills.get(pid_of(start.worker_id))
        if kill is None:
            found.problem(run_id, f"attempt {attempt} of {start.worker_id}, a worker never "
                                  "killed, has no ending: a transition was lost")  # fmt: skip
            continue
        found.orphaned_attempts += 1
        orphaned.append(kill)
        later = any(
            getattr(e, "attempt", 0) > attempt
            for e in events
            if type(e).__name__ not in ("Heartbeat", "LateSignalRecorded")
        )
        evidence = getattr(terminal, "evidence", None) or {}
        if later:
            found.explained_by_attempt += 1
        elif evidence.keys() >= EVIDENCE and evidence["attempts"] >= attempt:
            found.explained_by_reconciler += 1
        else:
            found.problem(run_id, f"killed attempt {attempt} is not explained")
    if orphaned:
        last = max(orphaned, key=lambda k: k.at)
        took = found.orphan_to_end.setdefault(type(terminal).__name__, [])
        took.append(terminal.timestamp.timestamp() - last.at)


def _examine_executions(
    run_id: UUID,
    terminal: Any,
    started: dict[int, Any],
    executions: list[tuple[int, float, int]],
    found: Findings,
) -> None:
    found.executions += len(executions)
    found.reran += len(executions) > 1
    ended_at = terminal.timestamp.timestamp()
    attempts = [attempt for attempt, _, _ in executions]
    if len(set(attempts)) != len(attempts):
        found.problem(run_id, f"an attempt's job ran twice: {sorted(attempts)}")
    for attempt, at, _ in executions:
        start = started.get(attempt)
        if start is None or at < start.timestamp.timestamp():
            found.problem(run_id, f"attempt {attempt}'s job ran before its Started was durable")
        if at >= ended_at:
            found.problem(run_id, f"attempt {attempt}'s job ran {at - ended_at:.3f} s after "
                                  f"the run's {type(terminal).__name__}")  # fmt: skip
    if type(terminal).__name__ == "Completed" and terminal.attempt not in attempts:
        found.problem(run_id, f"Completed by attempt {terminal.attempt}, whose job never ran")


def scan_logs_for_the_password(logs: Path) -> str:
    """The secrets scan of tests/chaos/secrets_scan.py (another suite's), when present."""
    if importlib.util.find_spec("tests.chaos.secrets_scan") is None:
        return "secrets scan: tests/chaos/secrets_scan.py is not there; skipped"
    from tests.chaos.secrets_scan import describe_scan, scan_for_secrets

    result = scan_for_secrets([logs], {"database password": DATABASE_PASSWORD})
    assert result["files"] > 0
    assert result["hits"]["database password"] == 0, result["where"]
    return str(describe_scan("the chaos run's logs", result))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, store: str, tmp_path: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    server: PrivatePostgres = request.getfixturevalue("pg_server")
    schema = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = DatabaseSettings.from_url(server.url()).conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{server.url()}?schema={schema}"


@pytest.mark.parametrize(
    "store",
    [
        pytest.param("postgresql", marks=pytest.mark.chaos_store("postgresql")),
        pytest.param("sqlite", marks=pytest.mark.chaos_store("sqlite")),
    ],
)
def test_runs_survive_workers_and_the_projector_killed_at_random(
    store: str,
    database_url: str,
    redis_private: PrivateRedis,
    chaos_runs: dict[str, int],
    chaos_logs: Path,
) -> None:
    runs = chaos_runs[store]
    seed = int(os.environ.get("RUNLEDGER_CHAOS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    settings = DatabaseSettings.from_url(database_url)
    list(migrate_all(settings))
    executions_file = chaos_logs / "executions.txt"
    env = {
        "RUNLEDGER_DATABASE_URL": database_url,
        "RUNLEDGER_REDIS_URL": redis_private.url,
        "RUNLEDGER_QUEUE_NAME": f"chaos:{uuid.uuid4().hex[:8]}",
        "RUNLEDGER_JOBS": JOBS,
        "RUNLEDGER_RECONCILE_INTERVAL": str(INTERVAL),
        chaos_jobs.EXECUTIONS_VAR: str(executions_file),
    }
    fleet = Fleet(env, chaos_logs)
    ledger = RunLedger(settings)
    passes = ReconcilePasses(fleet)
    try:
        began = time.monotonic()
        chaos = Chaos(fleet, rng, executions_file)
        wait_until(lambda: any(serves(w) for w in chaos.workers), 60, "a worker serving")
        rate = max(RATE[store], runs / ENQUEUE_WITHIN)
        types = list(islice(cycle(chaos_jobs.MIX), runs))
        enqueuer = Enqueuer(env, JOBS, types, rate=rate)
        enqueuer.start()
        passes.start()
        open_runs: set[UUID] = set()
        tracked = threading.Event()  # open_runs holds every run queued
        enqueued: list[float] = []  # when the last run was queued

        def every_run_ended() -> bool:
            open_runs.difference_update([r for r in open_runs if ledger.state(r).is_terminal])
            return not open_runs

        def queued_and_drained() -> bool:
            """Every run queued, and (but for a few, or after a while) started."""
            if enqueuer.is_alive():
                return False
            if not tracked.is_set():
                open_runs.update(enqueuer.finish())
                tracked.set()
                enqueued.append(time.monotonic())
            every_run_ended()
            waiting = [r for r in open_runs if ledger.state(r).status == "queued"]
            return len(waiting) <= 3 or time.monotonic() - enqueued[0] > DRAIN_WITHIN

        chaos.run(until=queued_and_drained)
        queued = enqueuer.finish()
        chaos_seconds = time.monotonic() - began
        assert len(queued) == runs

        # The blackout: what the workers held, only the reconciler passes can end.
        wait_until(lambda: running(ledger, open_runs), 20, "a run running", every=0.2)
        passes.every = RECONCILE_CLI_BLACKOUT
        chaos.blackout()
        held = running(ledger, open_runs)
        wait_until(lambda: not running(ledger, held), BOUND + PASS_SLACK + 10,
                   "the reconciler ending the runs the blackout orphaned", every=1)  # fmt: skip
        blackout_seconds = time.monotonic() - began - chaos_seconds
        passes.every = RECONCILE_CLI_EVERY
        chaos.restore()
        # Every run ends, with the workers, the crons and the CLI passes left alone.
        wait_until(every_run_ended, BOUND + 40, f"an ending for every run ({store})", every=1)
        settle_seconds = time.monotonic() - began - chaos_seconds - blackout_seconds
        passes.stopping.set()
        passes.join(timeout=90)
        exits = chaos.stop()
        code, out = fleet.run("project", "project", "--once")
        assert code == 0, out

        kills = chaos.kills
        executions = read_executions(executions_file)
        stored = events_by_run(ledger)
        assert set(stored) == set(queued), "the store holds other runs, or lacks some"
        found = Findings()
        for run_id, operation_type in queued.items():
            examine(run_id, operation_type, stored[run_id], executions.get(run_id, []),
                    kills, found)  # fmt: skip
        rows = assert_read_models_equal_a_replay(settings)
        scan = scan_logs_for_the_password(chaos_logs) if store == "postgresql" else ""
    finally:
        passes.stopping.set()
        fleet.close()
        ledger.close()

    figures = {
        "store": store,
        "seed": seed,
        "runs": runs,
        "enqueue_rate_per_s": round(rate, 2),
        "enqueue_seconds": round(enqueued[0] - began, 1),
        "chaos_seconds": round(chaos_seconds, 1),
        "blackout_seconds": round(blackout_seconds, 1),
        "blackout_held_runs": len(held),
        "settle_seconds": round(settle_seconds, 1),
        "worker_kills": len(kills),
        "seconds_between_kills_mean": round(chaos_seconds / max(1, len(kills)), 1),
        "worker_kills_with_committer": sum(k.with_committer for k in kills.values()),
        "worker_kills_mid_job": sum(k.mid_job for k in kills.values()),
        "projector_kills": chaos.projector_kills,
        "cli_reconcile_passes": passes.passes,
        "cli_reconcile_healed": passes.healed,
        "events": found.events,
        "executions": found.executions,
        "runs_whose_job_ran_again": found.reran,
        "late_signals": found.late_signals,
        "orphaned_attempts": found.orphaned_attempts,
        "explained_by_a_later_attempt": found.explained_by_attempt,
        "explained_by_reconciled_stale": found.explained_by_reconciler,
        "orphaned_runs": sum(map(len, found.orphan_to_end.values())),
        "orphan_to_end_s": {
            ending: _spread(took) for ending, took in sorted(found.orphan_to_end.items())
        },
        "orphan_to_end_bound_s": BOUND,
        "endings": dict(found.endings.most_common()),
        "read_model_rows_equal_to_replay": rows,
        "lost": len(found.problems),
    }
    (chaos_logs / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"\nchaos figures ({store}): {json.dumps(figures)}\n{scan}\nlogs: {chaos_logs}")

    assert chaos.died == [], "processes died without being killed:\n" + "\n".join(chaos.died)
    assert exits == [(p, 0) for p, _ in exits], exits
    assert passes.failures == [], passes.failures
    assert found.problems == [], f"{len(found.problems)} problems:\n" + "\n".join(
        found.problems[:30]
    )
    # 2 to 5 s apart, and only while both workers serve: on a loaded machine a restarted
    # worker takes seconds to serve again, so the pace slows, but the chaos goes on.
    assert len(kills) >= chaos_seconds / KILL_AT_LEAST_EVERY, "the chaos stalled"
    assert found.explained_by_attempt > 0, "no kill was made up by arq: nothing was proved"
    assert found.explained_by_reconciler > 0, "the blackout orphaned no run: nothing was proved"
    worst = max(max(took) for took in found.orphan_to_end.values())
    assert worst <= BOUND + PASS_SLACK, f"a run took {worst:.1f} s from its orphaning to its end"
    # Every operation's own ending happened: the runs were not all ended by chaos.
    assert set(chaos_jobs.OWN_ENDINGS.values()) <= set(found.endings)


def serves(worker: Process) -> bool:
    return worker.alive() and "Starting worker" in worker.output()


def running(ledger: RunLedger, runs: set[UUID]) -> set[UUID]:
    return {r for r in runs if ledger.state(r).status == "running"}


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "runs": len(values),
        "median": round(statistics.median(values), 2),
        "worst": round(max(values), 2),
    }


async def test_a_sigterm_while_a_jobs_ending_is_recorded_stops_the_worker_in_order(
    redis_private: PrivateRedis, tmp_path: Path
) -> None:
    """What the chaos run's last SIGTERM found, up close: arq cancels a job's task even
    while its ending is being recorded (under `asyncio.shield`). The worker must wait for
    that ending, record it, and close without raising (no traceback, exit code 0)."""
    settings = DatabaseSettings.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    list(migrate_all(settings))
    ledger = RunLedger(settings)
    queue = QueueSettings(redis_private.url, f"chaos:{uuid.uuid4().hex[:8]}")
    operations = load_operations(JOBS)
    async with RunClient(ledger, queue.client(), operations) as client:
        run_id = await client.enqueue("chaos.quick", workspace="acme")
    worker = build_worker(operations, WorkerSettings(ledger.settings, queue), clock=ledger.clock,
                          cron_jobs=[], poll_delay=0.05,
                          handle_signals=False)  # fmt: skip
    reached, release = asyncio.Event(), asyncio.Event()
    record_end = worker.tracker.record_end

    async def slow_record_end(job_id: str, **kwargs: Any) -> None:
        reached.set()
        await release.wait()  # the SIGTERM lands now
        await record_end(job_id, **kwargs)

    worker.tracker.record_end = slow_record_end  # type: ignore[method-assign]
    running = asyncio.create_task(worker.async_run())
    try:
        await asyncio.wait_for(reached.wait(), 30)
        worker.handle_sig(signal.SIGTERM)  # what arq's own handler does on SIGTERM
        await asyncio.sleep(0.2)
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await worker.close()  # raised CancelledError before the fix
        state = ledger.state(run_id)
        assert (state.status, state.reason_code) == ("completed", "job.succeeded")
        redis = queue.client()
        assert await Job(str(run_id), redis).status() == JobStatus.complete  # arq's too
        await redis.aclose()
    finally:
        release.set()
        ledger.close()
