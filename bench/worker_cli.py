"""Worker overhead, CLI mode: `arq ... --burst` against `runledger worker --burst`.

Each side is a process started from its CLI as a user starts it, on a Redis database of
its own, with the same no-op job, max_jobs and poll delay: plain arq serves
bench/arq_noop.py, runledger serves bench/noop_jobs.py on a fresh, migrated PostgreSQL
schema. Both get the same number of jobs before their process starts (plain arq's
through `enqueue_job`, runledger's through `RunClient.enqueue_many`; not timed), and
each is timed from just before `Popen` to its exit, so import, start-up and drain all
count. Each round also times both sides' start-up alone (a burst run on an empty queue).
Sides alternate which goes first, and every run is checked afterwards: every arq job
has a successful result, every ledger run completed as succeeded.

    .venv/bin/python -m bench.worker_overhead --mode cli --jobs 8000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from arq.connections import ArqRedis
from arq.constants import health_check_key_suffix, result_key_prefix
from arq.jobs import deserialize_result
from eventsourcing.persistence import OperationalError

from bench.noop_jobs import tracked_noop
from bench.stores import drop_schema, enqueue, fresh_schema
from ledger import DatabaseSettings, Outcome, RunLedger, RunStatus
from workers import OperationRegistry, QueueSettings, RunClient
from workers.enqueue_batch import EnqueueItem
from workers.worker_ledger import worker_ledger

ROOT = Path(__file__).resolve().parent.parent  # the children import bench.* from here
BIN = Path(sys.executable).parent
PLAIN_REDIS_URL = "redis://127.0.0.1:6379/12"
TRACKED_REDIS_URL = "redis://127.0.0.1:6379/13"
ENQUEUE_BATCH = 500
TARGET = 0.8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plain-redis-url", default=PLAIN_REDIS_URL, help="cli mode: arq's")
    parser.add_argument(
        "--tracked-redis-url", default=TRACKED_REDIS_URL, help="cli mode: runledger's"
    )
    parser.add_argument("--sqlite", action="store_true", help="cli mode: a SQLite ledger")
    parser.add_argument(
        "--committer",
        choices=("process", "thread"),
        default="process",
        help="runledger's committer (RUNLEDGER_COMMITTER; both modes)",
    )


@dataclass
class Bench:
    """One CLI-mode run: its options, the ledger schema, both Redis clients, the figures."""

    args: argparse.Namespace
    database_url: str
    plain_redis: ArqRedis
    client: RunClient
    settings: DatabaseSettings  # the ledger's, to read the runs back
    rates: dict[str, list[float]] = field(default_factory=lambda: {"plain": [], "tracked": []})
    startups: dict[str, list[float]] = field(default_factory=lambda: {"plain": [], "tracked": []})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {"plain": [], "tracked": []})

    def command(self, side: str, queue: str) -> tuple[list[str], dict[str, str]]:
        """The side's command line and environment, as a user would run it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNLEDGER_", "BENCH_"))}
        if side == "plain":
            env |= {
                "BENCH_REDIS_URL": self.args.plain_redis_url,
                "BENCH_QUEUE_NAME": queue,
                "BENCH_MAX_JOBS": str(self.args.max_jobs),
                "BENCH_POLL_DELAY": str(self.args.poll_delay),
            }
            return [str(BIN / "arq"), "bench.arq_noop.WorkerSettings", "--burst"], env
        env |= {
            "RUNLEDGER_DATABASE_URL": self.database_url,
            "RUNLEDGER_REDIS_URL": self.args.tracked_redis_url,
            "RUNLEDGER_QUEUE_NAME": queue,
            "RUNLEDGER_COMMITTER": self.args.committer,
        }
        argv = [str(BIN / "runledger"), "worker", "--jobs", "bench.noop_jobs", "--burst"]
        argv += ["--max-jobs", str(self.args.max_jobs), "--poll-delay", str(self.args.poll_delay)]
        return argv, env

    async def prepare(self, side: str, queue: str, jobs: int) -> list[str]:
        """Queues `jobs` no-op jobs for `side` on `queue`; returns their job ids."""
        if side == "plain":
            job_ids = [uuid.uuid4().hex for _ in range(jobs)]
            await enqueue(self.plain_redis, queue, job_ids, "bench.noop")
            return job_ids
        self.client.queue_name = queue
        run_ids: list[UUID] = []
        for start in range(0, jobs, ENQUEUE_BATCH):
            batch = [
                EnqueueItem("bench.noop", "bench") for _ in range(min(ENQUEUE_BATCH, jobs - start))
            ]
            run_ids += await self.client.enqueue_many(batch)
        return [str(r) for r in run_ids]

    async def side_round(self, side: str, jobs: int) -> tuple[float, float]:
        """Seconds from `side`'s process start to its exit with `jobs` jobs waiting
        (0: start-up alone), and its CPU seconds, once every one of them is checked."""
        queue = f"bench:cli:{side}:{uuid.uuid4().hex[:8]}"
        job_ids = await self.prepare(side, queue, jobs)
        argv, env = self.command(side, queue)
        seconds, cpu = timed_process(argv, env)
        redis = self.plain_redis if side == "plain" else self.client.redis
        assert await redis.zcard(queue) == 0, f"{side}: jobs left on {queue}"
        if side == "plain":
            await check_results(redis, job_ids)
        else:
            check_runs(self.settings, [UUID(j) for j in job_ids])
        keys = [result_key_prefix + j for j in job_ids] + [queue + health_check_key_suffix]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
        return seconds, cpu

    async def round(self, number: int) -> None:
        sides = ("plain", "tracked") if number % 2 else ("tracked", "plain")
        for side in sides:
            seconds, cpu = await self.side_round(side, self.args.jobs)
            self.rates[side].append(self.args.jobs / seconds)
            self.cpu[side].append(cpu / self.args.jobs * 1000)
        for side in sides:
            self.startups[side].append((await self.side_round(side, 0))[0])
        plain, tracked = self.rates["plain"][-1], self.rates["tracked"][-1]
        print(
            f"round {number}: plain {plain:,.0f} jobs/s, tracked {tracked:,.0f} jobs/s, ratio "
            f"{tracked / plain:.2f}; CPU per job plain {self.cpu['plain'][-1]:.2f} ms, tracked "
            f"{self.cpu['tracked'][-1]:.2f} ms; start-up alone plain "
            f"{self.startups['plain'][-1]:.2f} s, tracked {self.startups['tracked'][-1]:.2f} s",
            flush=True,
        )


def timed_process(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds from just before the process starts to its exit, and the CPU seconds
    of it and the children it waited for (runledger's committer process; not PostgreSQL
    or Redis). Its output goes to a file (both sides log each job, as their CLIs do by
    default), shown if it fails."""
    with tempfile.TemporaryFile() as log:
        began = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - began
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{shlex.join(argv)} exited with {code}:\n{tail}")
    return elapsed, usage.ru_utime + usage.ru_stime


async def check_results(redis: ArqRedis, job_ids: list[str]) -> None:
    """Every plain job has a stored, successful result: the run did its work."""
    ok = 0
    for start in range(0, len(job_ids), 1000):
        stored = await redis.mget([result_key_prefix + j for j in job_ids[start : start + 1000]])
        ok += sum(1 for r in stored if r is not None and deserialize_result(r).success)
    assert ok == len(job_ids), f"plain: {ok} of {len(job_ids)} jobs succeeded"


def check_runs(settings: DatabaseSettings, run_ids: list[UUID]) -> None:
    """Every tracked run is in the ledger, completed as succeeded. Read on fresh
    connections, retried: others' tests may restart the shared server between rounds."""
    for attempt in range(3):
        ledger = worker_ledger(settings)  # one query per 1,000 runs
        try:
            states = ledger.states(run_ids)
            break
        except OperationalError:
            if attempt == 2:
                raise
            time.sleep(2)
        finally:
            ledger.close()
    done = sum(s.status is RunStatus.COMPLETED and s.outcome is Outcome.SUCCEEDED for s in states)
    if done != len(run_ids):
        ended = Counter(str(s.reason_code or s.status.value) for s in states)
        raise AssertionError(f"tracked: {done} of {len(run_ids)} runs succeeded: {dict(ended)}")


def migrate(database_url: str) -> None:
    env = {**os.environ, "RUNLEDGER_DATABASE_URL": database_url}
    subprocess.run(
        [str(BIN / "runledger"), "migrate"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def main(args: argparse.Namespace) -> None:
    if args.sqlite:
        url, schema = f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/ledger.db", None
    else:
        url, schema = fresh_schema(args.postgres_url)
    migrate(url)
    settings = DatabaseSettings.from_url(url)
    tracked_queue = QueueSettings(args.tracked_redis_url)
    bench = Bench(
        args,
        url,
        QueueSettings(args.plain_redis_url).client(),
        RunClient(
            RunLedger(settings),
            tracked_queue.client(),
            OperationRegistry([tracked_noop]),
            owns_ledger=True,
        ),
        settings,
    )
    load = os.getloadavg()
    try:
        for side in ("plain", "tracked"):  # warm-up, not counted: .pyc files, page cache
            await bench.side_round(side, 0)
        for number in range(1, args.rounds + 1):
            await bench.round(number)
    finally:
        await bench.plain_redis.aclose()
        await bench.client.close()
        if schema is not None:
            drop_schema(args.postgres_url, schema)
    report(bench, load, os.getloadavg())


def report(bench: Bench, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    args = bench.args
    plain, tracked = bench.rates["plain"], bench.rates["tracked"]
    p, t = statistics.median(plain), statistics.median(tracked)
    paired = statistics.median(tr / pl for tr, pl in zip(tracked, plain, strict=True))
    start_p, start_t = (statistics.median(bench.startups[s]) for s in ("plain", "tracked"))
    print(
        f"median of {args.rounds} rounds of {args.jobs} no-op jobs per side, each a process "
        f"from its CLI timed start to exit (max_jobs {args.max_jobs}, poll_delay "
        f"{args.poll_delay} s, {'SQLite' if args.sqlite else 'PostgreSQL'}, "
        f"{args.committer} committer):"
    )
    print(f"plain arq   {p:,.0f} jobs/s ({args.jobs / p:.2f} s)")
    print(f"runledger   {t:,.0f} jobs/s ({args.jobs / t:.2f} s)")
    print(f"ratio       {t / p:.2f} (target >= {TARGET:.2f})")
    print(f"median of the rounds' own ratios {paired:.2f}")
    print(f"start-up alone (empty queue): plain arq {start_p:.2f} s, runledger {start_t:.2f} s")
    cpu_p, cpu_t = (statistics.median(bench.cpu[s]) for s in ("plain", "tracked"))
    print(f"CPU per job, start-up included: plain arq {cpu_p:.2f} ms, runledger {cpu_t:.2f} ms")
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"({os.cpu_count()} cores)"
    )
    for side in ("plain", "tracked"):
        argv, _ = bench.command(side, "QUEUE")
        print(f"  {side}: {shlex.join(argv)}")
