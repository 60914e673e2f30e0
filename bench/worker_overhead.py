"""Worker overhead: no-op jobs through plain arq and through runledger, same run.

Both sides use one Redis, the same arq settings (max_jobs, poll_delay, abort support,
burst mode in this process) and a fresh PostgreSQL schema for the ledger. The tracked
side commits `Started` before each job runs and `Completed` before arq writes its
result (group-committed across concurrent jobs), so every transition is durable before
the step that produced it returns. Each round pairs a plain and a tracked run, each side
going first in every other round, to share the machine's noise.

`--mode cli` runs both sides instead as processes started from their CLIs, timed from
process start to exit (bench/worker_cli.py).

    .venv/bin/python -m bench.worker_overhead --jobs 2000 --rounds 8
    .venv/bin/python -m bench.worker_overhead --mode cli --jobs 8000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Worker, func

from bench import worker_cli
from bench.noop_jobs import tracked_noop
from bench.stores import POSTGRES_URL, REDIS_URL, drop_schema, enqueue, fresh_schema
from ledger import DatabaseSettings, RunLedger, RunNotFoundError, StartRun
from runledger.wiring import migrate_all
from workers import OperationRegistry, QueueSettings, WorkerSettings, build_worker
from workers.claims import start_claimed
from workers.worker_ledger import worker_ledger

# bench/enqueue.py takes the stores from here.
__all__ = ["POSTGRES_URL", "REDIS_URL", "drop_schema", "fresh_schema", "main"]


async def plain_noop(ctx: dict[str, Any]) -> None:
    return None


def arq_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "burst": True,
        "max_jobs": args.max_jobs,
        "poll_delay": args.poll_delay,
        "handle_signals": False,
        "allow_abort_jobs": True,
        "log_results": False,
    }


class PlainWorker(Worker):
    """Plain arq; with `batch_claims` it skips its running jobs and claims a poll's jobs
    in one round trip, as a LedgerWorker does (`--plain-batch-claims`, for comparison)."""

    batch_claims = False

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        if self.batch_claims:
            await start_claimed(self, job_ids)
        else:
            await super().start_jobs(job_ids)  # arq's own, untouched


async def plain_round(args: argparse.Namespace, redis: ArqRedis) -> float:
    queue = f"bench:plain:{uuid.uuid4().hex[:8]}"
    await enqueue(redis, queue, [uuid.uuid4().hex for _ in range(args.jobs)], "bench.noop")
    worker = PlainWorker(
        [func(plain_noop, name="bench.noop", timeout=5, max_tries=1)],
        queue_name=queue,
        redis_pool=redis,
        **arq_settings(args),
    )
    worker.batch_claims = args.plain_batch_claims
    began = time.perf_counter()
    await worker.async_run()
    elapsed = time.perf_counter() - began
    assert worker.jobs_complete == args.jobs, worker
    return args.jobs / elapsed


async def tracked_round(args: argparse.Namespace, redis: ArqRedis, ledger: RunLedger) -> float:
    queue = f"bench:tracked:{uuid.uuid4().hex[:8]}"
    run_ids = await asyncio.to_thread(queue_runs, ledger.settings, args.jobs)
    await enqueue(redis, queue, [str(r) for r in run_ids], "bench.noop")
    worker = build_worker(
        OperationRegistry([tracked_noop]),
        WorkerSettings(
            ledger.settings, QueueSettings(args.redis_url, queue), committer=args.committer
        ),
        redis_pool=redis,
        **arq_settings(args),
    )
    # Timed from a committer that has answered once (for a run that does not exist), so
    # this mode measures the steady state (the cli mode counts the start-up).
    with contextlib.suppress(RunNotFoundError):
        await worker.tracker.committer.commit(StartRun(uuid.uuid4(), "bench", 1, "bench"))
    began = time.perf_counter()
    await worker.async_run()
    elapsed = time.perf_counter() - began
    committer = worker.tracker.committer
    batches, commands = committer.batches_committed, committer.commands_committed
    messages = getattr(committer, "messages_sent", "no")  # not in the Committer protocol
    await worker.tracker.close()
    assert worker.jobs_complete == args.jobs, worker
    done = await asyncio.to_thread(lambda: sum(ledger.state(r).is_terminal for r in run_ids))
    assert done == args.jobs, f"only {done} of {args.jobs} runs completed"
    print(
        f"    tracked: {commands} transitions in {batches} transactions "
        f"({commands / max(batches, 1):.1f} per transaction), {messages} messages"
    )
    return args.jobs / elapsed


def queue_runs(settings: DatabaseSettings, count: int) -> list[uuid.UUID]:
    """Queued by a ledger of its own, as an application would: the worker's ledger has
    never seen these runs and reads each from the store once, at Started."""
    client_ledger = RunLedger(settings)
    policy = tracked_noop.policy
    try:
        return [
            client_ledger.queue(
                operation_type="bench.noop", workspace="bench", policy=policy
            ).run_id
            for _ in range(count)
        ]
    finally:
        client_ledger.close()


async def main(args: argparse.Namespace) -> None:
    url, schema = fresh_schema(args.postgres_url)
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    ledger = worker_ledger(settings)  # reads the runs back once the worker is done
    redis = QueueSettings(args.redis_url).client()
    plain: list[float] = []
    tracked: list[float] = []
    try:
        for number in range(1, args.rounds + 1):
            # Each side goes first in every other round: neither always inherits the
            # other's leftovers (Redis keys, a warm or busy machine).
            if number % 2:
                plain.append(await plain_round(args, redis))
                tracked.append(await tracked_round(args, redis, ledger))
            else:
                tracked.append(await tracked_round(args, redis, ledger))
                plain.append(await plain_round(args, redis))
            print(
                f"round {number}: plain {plain[-1]:,.0f} jobs/s, tracked {tracked[-1]:,.0f} "
                f"jobs/s, ratio {tracked[-1] / plain[-1]:.2f}"
            )
    finally:
        await redis.aclose()
        ledger.close()
        drop_schema(args.postgres_url, schema)
    p, t = statistics.median(plain), statistics.median(tracked)
    print(
        f"median of {args.rounds} rounds of {args.jobs} no-op jobs (max_jobs "
        f"{args.max_jobs}, poll_delay {args.poll_delay} s, PostgreSQL):"
    )
    if args.plain_batch_claims:
        print("(plain arq claiming a poll's jobs in one round trip, as a LedgerWorker)")
    print(f"plain arq   {p:,.0f} jobs/s")
    print(f"runledger   {t:,.0f} jobs/s")
    paired = statistics.median(tr / pl for tr, pl in zip(tracked, plain, strict=True))
    print(f"ratio       {t / p:.2f} (target >= 0.70)")
    print(f"median of the rounds' own ratios {paired:.2f} (each round's pair ran back to back)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode",
        choices=("inprocess", "cli"),
        default="inprocess",
        help="inprocess: both workers in this process, timing async_run(); cli: each side "
        "a process started from its CLI (arq / runledger worker), timed start to exit",
    )
    parser.add_argument("--jobs", type=int, help="jobs per side (default 2000; cli: 8000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-jobs", type=int, default=50)
    parser.add_argument("--poll-delay", type=float, default=0.05)
    parser.add_argument(
        "--plain-batch-claims",
        action="store_true",
        help="give the plain side LedgerWorker's claiming too (default: arq's own)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=REDIS_URL, help="inprocess mode's Redis")
    worker_cli.add_arguments(parser)
    args = parser.parse_args()
    if args.jobs is None:
        args.jobs = 8000 if args.mode == "cli" else 2000
    return args


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(worker_cli.main(arguments) if arguments.mode == "cli" else main(arguments))
