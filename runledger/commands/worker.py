"""`runledger worker`: an arq worker that records every run's transitions in the ledger.

It refuses to start when the timing guard finds a violation, and checks the database and
Redis before serving, so a misconfiguration is one clear line, not a crash loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from arq.connections import create_pool

from runledger.commands.options import add_jobs_option
from runledger.wiring import settings_from_env
from workers import QueueSettings, build_worker, load_operations
from workers.settings import jobs_from_env
from workers.tracking import COMMIT_LATENCY_VAR
from workers.worker import cron_jobs_for, timing_report, worker_ledger

NAME = "worker"
HELP = "run an arq worker for the operations of --jobs, recording every run's transitions"


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


def run(args: argparse.Namespace) -> int:
    operations = load_operations(jobs_from_env(args.jobs) or "")
    report = timing_report(operations, cron_jobs_for(operations))
    if not report.ok:
        for line in report.lines():
            print(line, file=sys.stderr)
        print(
            "runledger worker: refusing to start until the timing violations are fixed",
            file=sys.stderr,
        )
        return 1
    queue = QueueSettings.from_env()
    ledger = worker_ledger(settings_from_env())
    try:
        ledger.recorder.max_notification_id()  # the store answers and is migrated
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_check_redis(queue))
        worker = build_worker(
            operations,
            ledger,
            queue,
            burst=args.burst,
            max_jobs=args.max_jobs,
            poll_delay=args.poll_delay,
            # Opt-in, for load tests: each durable command's hook-to-commit latency.
            commit_latency_log=os.environ.get(COMMIT_LATENCY_VAR) or None,
        )
        worker.run()  # until SIGTERM/SIGINT (or an empty queue with --burst)
    finally:
        ledger.close()
    return 0


async def _check_redis(queue: QueueSettings) -> None:
    settings = queue.redis_settings()
    settings.conn_retries = 0
    redis = await create_pool(settings)
    await redis.aclose()
