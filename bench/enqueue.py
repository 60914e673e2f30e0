"""Enqueue: plain arq's `enqueue_job` beside `RunClient`, same run, three modes.

sequential  one caller, one enqueue after another (no target: one transaction each)
concurrent  50 callers at once, each enqueueing in a loop (group-committed `Queued`)
batch       batches of 100: plain arq gathers 100 `enqueue_job` calls, runledger calls
            `enqueue_many` (one transaction, one Redis round trip)

Both sides use one Redis; the tracked side a RunLedger on a fresh PostgreSQL schema, as
`RunClient.from_env` builds it. Every tracked enqueue returns once its `Queued` event
is committed and its job is in Redis. Each round runs each mode's plain and tracked
side back to back, each side going first in every other round, to share the noise.

    .venv/bin/python -m bench.enqueue --jobs 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from arq.connections import ArqRedis
from arq.constants import job_key_prefix

from bench.worker_overhead import POSTGRES_URL, REDIS_URL, drop_schema, fresh_schema
from ledger import DatabaseSettings, RunLedger
from runledger.wiring import migrate_all
from workers import OperationRegistry, QueueSettings, RunClient, operation
from workers.enqueue_batch import EnqueueItem

FUNCTION = "bench.enqueue"
CALLERS = 50
BATCH = 100
TARGETS = {"sequential": None, "concurrent": 0.5, "batch": 0.8}


@operation(FUNCTION, timeout=5, max_tries=1, stale_queued_after=600, stale_running_after=60)
async def tracked_noop(ctx: dict[str, Any], n: int = 0) -> None:
    return None


# One side of one mode: enqueue `jobs` jobs on `queue` (the tracked side through `client`).
Side = Callable[[ArqRedis, RunClient, str, int], Awaitable[None]]


async def plain_sequential(redis: ArqRedis, client: RunClient, queue: str, jobs: int) -> None:
    for n in range(jobs):
        await redis.enqueue_job(FUNCTION, _job_id=uuid.uuid4().hex, _queue_name=queue, n=n)


async def tracked_sequential(redis: ArqRedis, client: RunClient, queue: str, jobs: int) -> None:
    for n in range(jobs):
        await client.enqueue(FUNCTION, workspace="bench", params={"n": n})


async def plain_concurrent(redis: ArqRedis, client: RunClient, queue: str, jobs: int) -> None:
    await asyncio.gather(
        *(plain_sequential(redis, client, queue, jobs // CALLERS) for _ in range(CALLERS))
    )


async def tracked_concurrent(redis: ArqRedis, client: RunClient, queue: str, jobs: int) -> None:
    await asyncio.gather(
        *(tracked_sequential(redis, client, queue, jobs // CALLERS) for _ in range(CALLERS))
    )


async def plain_batch(redis: ArqRedis, client: RunClient, queue: str, jobs: int) -> None:
    for _ in range(jobs // BATCH):
        await asyncio.gather(
            *(
                redis.enqueue_job(FUNCTION, _job_id=uuid.uuid4().hex, _queue_name=queue, n=n)
                for n in range(BATCH)
            )
        )


async def tracked_batch(redis: ArqRedis, client: RunClient, queue: str, jobs: int) -> None:
    for _ in range(jobs // BATCH):
        await client.enqueue_many(
            [EnqueueItem(FUNCTION, "bench", params={"n": n}) for n in range(BATCH)]
        )


MODES: dict[str, tuple[Side, Side]] = {
    "sequential": (plain_sequential, tracked_sequential),
    "concurrent": (plain_concurrent, tracked_concurrent),
    "batch": (plain_batch, tracked_batch),
}


async def timed(side: Side, redis: ArqRedis, client: RunClient, jobs: int) -> float:
    """Enqueues per second of one side on a queue of its own, removed afterwards."""
    queue = f"bench:enqueue:{uuid.uuid4().hex[:8]}"
    client.queue_name = queue
    began = time.perf_counter()
    await side(redis, client, queue, jobs)
    elapsed = time.perf_counter() - began
    job_ids = [j.decode() for j in await redis.zrange(queue, 0, -1)]
    assert len(job_ids) == jobs, f"{len(job_ids)} of {jobs} jobs queued"
    await redis.delete(queue, *(job_key_prefix + j for j in job_ids))
    return jobs / elapsed


async def run_rounds(
    args: argparse.Namespace, redis: ArqRedis, client: RunClient
) -> dict[str, tuple[list[float], list[float]]]:
    rates: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in MODES}
    for number in range(1, args.rounds + 1):
        for mode, (plain_side, tracked_side) in MODES.items():
            plain, tracked = rates[mode]
            before = client._batcher.transactions
            if number % 2:
                plain.append(await timed(plain_side, redis, client, args.jobs))
                tracked.append(await timed(tracked_side, redis, client, args.jobs))
            else:
                tracked.append(await timed(tracked_side, redis, client, args.jobs))
                plain.append(await timed(plain_side, redis, client, args.jobs))
            grouped = client._batcher.transactions - before
            print(
                f"round {number} {mode:<10}: plain {plain[-1]:,.0f}/s, tracked "
                f"{tracked[-1]:,.0f}/s, ratio {tracked[-1] / plain[-1]:.2f}"
                + (f" ({args.jobs / grouped:.1f} runs per transaction)" if grouped else "")
            )
    return rates


def report(args: argparse.Namespace, rates: dict[str, tuple[list[float], list[float]]]) -> None:
    print(f"median of {args.rounds} rounds of {args.jobs} enqueues per side and mode (PostgreSQL):")
    for mode, (plain, tracked) in rates.items():
        p, t = statistics.median(plain), statistics.median(tracked)
        target = TARGETS[mode]
        verdict = (
            "(no target)"
            if target is None
            else (f"target >= {target:.2f} {'PASS' if t / p >= target else 'FAIL'}")
        )
        print(
            f"{mode:<10}  plain arq {p:>7,.0f}/s  runledger {t:>7,.0f}/s  "
            f"ratio {t / p:.2f} {verdict}"
        )


async def main(args: argparse.Namespace) -> None:
    url, schema = fresh_schema(args.postgres_url)
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    ledger = RunLedger(settings)
    redis = QueueSettings(args.redis_url).client()
    client_redis = QueueSettings(args.redis_url).client()
    client = RunClient(ledger, client_redis, OperationRegistry([tracked_noop]))
    try:
        report(args, await run_rounds(args, redis, client))
    finally:
        await client.close()
        await redis.aclose()
        ledger.close()
        drop_schema(args.postgres_url, schema)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="a multiple of 100")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
