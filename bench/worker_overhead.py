"""Worker overhead: no-op jobs through plain arq and through runledger, same run.

Both sides use one Redis, the same arq settings (max_jobs, poll_delay, abort support,
burst mode in this process) and a fresh PostgreSQL schema for the ledger. The tracked
side commits `Started` before each job runs and `Completed` before arq writes its
result (group-committed across concurrent jobs), so every transition is durable before
the step that produced it returns. Each round pairs a plain and a tracked run, each side
going first in every other round, to share the machine's noise.

    .venv/bin/python -m bench.worker_overhead --jobs 2000 --rounds 8
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import psycopg
from arq.connections import ArqRedis
from arq.worker import Worker, func

from ledger import DatabaseSettings, RunLedger
from runledger.wiring import migrate_all
from workers import OperationRegistry, QueueSettings, build_worker, operation
from workers.worker import claim_in_chains, worker_ledger

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


@operation("bench.noop", timeout=5, max_tries=1, stale_queued_after=600, stale_running_after=60)
async def tracked_noop(ctx: dict[str, Any]) -> None:
    return None


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


async def enqueue(redis: ArqRedis, queue: str, job_ids: list[str], function: str) -> None:
    for start in range(0, len(job_ids), 200):
        chunk = job_ids[start : start + 200]
        await asyncio.gather(
            *(redis.enqueue_job(function, _job_id=j, _queue_name=queue) for j in chunk)
        )


class ChainedWorker(Worker):
    """Plain arq; with `chains` > 1 it skips its running jobs and claims in chains, as a
    LedgerWorker does (`--plain-claim-chains`, for comparison)."""

    chains = 1

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        if self.chains < 2:
            await super().start_jobs(job_ids)  # arq's own, untouched
        else:
            await claim_in_chains(super().start_jobs, self.tasks, job_ids, self.chains)


async def plain_round(args: argparse.Namespace, redis: ArqRedis) -> float:
    queue = f"bench:plain:{uuid.uuid4().hex[:8]}"
    await enqueue(redis, queue, [uuid.uuid4().hex for _ in range(args.jobs)], "bench.noop")
    worker = ChainedWorker(
        [func(plain_noop, name="bench.noop", timeout=5, max_tries=1)],
        queue_name=queue,
        redis_pool=redis,
        **arq_settings(args),
    )
    worker.chains = args.plain_claim_chains
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
        ledger,
        QueueSettings(args.redis_url, queue),
        redis_pool=redis,
        **arq_settings(args),
    )
    began = time.perf_counter()
    await worker.async_run()
    elapsed = time.perf_counter() - began
    committer = worker.tracker.committer
    batches, commands = committer.batches_committed, committer.commands_committed
    messages = committer.messages_sent
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


def fresh_schema(base_url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DatabaseSettings.from_url(base_url).conninfo(), autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base_url}?schema={schema}", schema


def drop_schema(base_url: str, schema: str) -> None:
    with psycopg.connect(DatabaseSettings.from_url(base_url).conninfo(), autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def main(args: argparse.Namespace) -> None:
    url, schema = fresh_schema(args.postgres_url)
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    ledger = worker_ledger(settings)  # exactly what `runledger worker` uses
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
    if args.plain_claim_chains:
        print(f"(plain arq claiming in {args.plain_claim_chains} chains, as a LedgerWorker)")
    print(f"plain arq   {p:,.0f} jobs/s")
    print(f"runledger   {t:,.0f} jobs/s")
    paired = statistics.median(tr / pl for tr, pl in zip(tracked, plain, strict=True))
    print(f"ratio       {t / p:.2f} (target >= 0.70)")
    print(f"median of the rounds' own ratios {paired:.2f} (each round's pair ran back to back)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-jobs", type=int, default=50)
    parser.add_argument("--poll-delay", type=float, default=0.05)
    parser.add_argument(
        "--plain-claim-chains",
        type=int,
        default=0,
        help="give the plain side LedgerWorker's claiming too (that many chains; "
        "default: arq's own start_jobs)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
