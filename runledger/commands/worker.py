"""`runledger worker`: an arq worker that records every run's transitions in the ledger.

It refuses to start when the timing guard finds a violation, and checks the database and
Redis (side by side, while its committer starts) before serving, so a misconfiguration
is one clear line, not a crash loop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ledger import DatabaseSettings, RunLedger
from runledger.commands.options import add_jobs_option
from runledger.settings import Settings
from workers.errors import TimingViolationError
from workers.operations import load_operations
from workers.settings import QueueSettings
from workers.worker import build_worker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_jobs_option(parser)
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    parser.add_argument(
        "--max-jobs", type=int, default=10, metavar="N", help="jobs run at once (arq: 10)"
    )
    parser.add_argument(
        "--poll-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="pause between queue polls (arq: 0.5)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    operations = load_operations(settings.jobs(args.jobs))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # arq's Worker takes the current loop
    try:
        worker = build_worker(
            operations,
            settings.worker,
            burst=args.burst,
            max_jobs=args.max_jobs,
            poll_delay=args.poll_delay,
        )
    except TimingViolationError as error:
        print(error, file=sys.stderr)
        print(
            "runledger worker: refusing to start until the timing violations are fixed",
            file=sys.stderr,
        )
        return 1
    try:
        loop.run_until_complete(_check_stores(settings.database, settings.queue))
    except BaseException:
        loop.run_until_complete(worker.tracker.close())
        raise
    worker.run()  # until SIGTERM/SIGINT (or an empty queue with --burst)
    return 0


async def _check_stores(database: DatabaseSettings, queue: QueueSettings) -> None:
    """Raises what is wrong with the database or Redis, if anything."""
    await asyncio.gather(asyncio.to_thread(_check_database, database), _check_redis(queue))


def _check_database(settings: DatabaseSettings) -> None:
    ledger = RunLedger(settings)
    try:
        ledger.recorder.max_notification_id()  # the store answers and is migrated
    finally:
        ledger.close()


async def _check_redis(queue: QueueSettings) -> None:
    from arq.connections import create_pool

    settings = queue.redis_settings()
    settings.conn_retries = 0
    redis = await create_pool(settings)
    await redis.aclose()
