"""Plain arq's side of bench/worker_overhead.py's CLI mode: `arq bench.arq_noop.WorkerSettings`.

The same no-op job as bench/noop_jobs.py under the same name, timeout and tries, with
nothing of runledger imported. The bench passes where and how to run through the
environment, since arq's CLI takes no options for them.
"""

from __future__ import annotations

import os
from typing import Any

from arq.connections import RedisSettings
from arq.worker import func


async def plain_noop(ctx: dict[str, Any]) -> None:
    return None


class WorkerSettings:
    functions = [func(plain_noop, name="bench.noop", timeout=5, max_tries=1)]
    redis_settings = RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://"))
    queue_name = os.environ.get("BENCH_QUEUE_NAME", "arq:queue")
    max_jobs = int(os.environ.get("BENCH_MAX_JOBS", "10"))
    poll_delay = float(os.environ.get("BENCH_POLL_DELAY", "0.5"))
    # As a LedgerWorker (and the in-process mode's plain side): abort support on.
    allow_abort_jobs = True
