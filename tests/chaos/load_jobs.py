"""The operations of the load test (tests/chaos/test_load.py): short jobs, so that the
throughput it reports is the ledger's and not the jobs' own sleeping.

Ten runs of the mix are 6 quick ones (a 5 ms job), 1 heartbeating (two forced
heartbeats), 1 retrying (arq's `Retry` on its first try), 1 failed by the job and 1
raising: every kind of transition a worker records, mostly the cheapest.

Thresholds are far above anything a healthy run of the load can take: the queue is
filled faster than two workers drain it, so the last runs wait in it for most of the
load (at the full size, minutes), and a `stale_queued` healing would be a false alarm.
The timing guard's numbers: window 40 s; running at most 2 x 30 + 0.1 + 40 + 5 = 105.1 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Retry

from workers import JobOutcome, operation

POLICY: dict[str, Any] = {
    "timeout": 30,
    "max_tries": 2,
    "retry_defer": 0.1,
    "stale_queued_after": 3600,
    "stale_running_after": 3600,
}
HEARTBEATS = 2


async def quick_job(ctx: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0.005)
    return {"attempt": ctx["job_try"]}


async def heartbeat_job(ctx: dict[str, Any]) -> dict[str, Any]:
    for step in range(HEARTBEATS):
        await ctx["run"].heartbeat(done=step + 1, total=HEARTBEATS, force=True)
    return {"steps": HEARTBEATS}


async def retry_job(ctx: dict[str, Any]) -> dict[str, Any]:
    if ctx["job_try"] == 1:
        raise Retry(defer=POLICY["retry_defer"])
    return {"tries": ctx["job_try"]}


async def fail_job(ctx: dict[str, Any]) -> JobOutcome:
    return JobOutcome.failed({"why": "the job says so"})


async def explode_job(ctx: dict[str, Any]) -> None:
    raise ValueError("boom")


quick = operation("load.quick", **POLICY)(quick_job)
heartbeat = operation("load.heartbeat", **POLICY)(heartbeat_job)
retry = operation("load.retry", **POLICY)(retry_job)
fail = operation("load.fail", **POLICY)(fail_job)
explode = operation("load.explode", **POLICY)(explode_job)

MIX = [
    "load.quick",
    "load.heartbeat",
    "load.quick",
    "load.retry",
    "load.quick",
    "load.fail",
    "load.quick",
    "load.explode",
    "load.quick",
    "load.quick",
]

STARTED = [("Queued",), ("Started", 1)]
# Each operation's whole record (event, attempt, reason) when nothing is lost.
RECORDS: dict[str, list[tuple[object, ...]]] = {
    "load.quick": [*STARTED, ("Completed", 1, "job.succeeded")],
    "load.heartbeat": [
        *STARTED,
        *[("Heartbeat", 1)] * HEARTBEATS,
        ("Completed", 1, "job.succeeded"),
    ],
    "load.retry": [
        *STARTED,
        ("RetryScheduled", 1, "retry.requested"),
        ("Started", 2),
        ("Completed", 2, "job.succeeded"),
    ],
    "load.fail": [*STARTED, ("Completed", 1, "job.failed")],
    "load.explode": [*STARTED, ("Completed", 1, "job.exception")],
}
