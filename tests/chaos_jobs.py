"""The mixed operations of the chaos tests (tests/chaos/test_worker_chaos.py): quick, slow,
heartbeating, retrying, failing and raising, each with a 3 s timeout, so arq's redelivery
window is 13 s and a SIGKILLed worker's jobs come back quickly.

Thresholds are about the smallest the timing guard accepts: a run may stay running
2 tries x 3 s + 1 x 0.5 s of retry defer + the 13 s window + the 5 s margin = 24.5 s,
so `stale_running_after` is 25 s; `stale_queued_after` (above 13 + 5 s) is 30 s.

Every job execution is appended, before the job does anything else, to the file named
by RUNLEDGER_CHAOS_EXECUTIONS (one `run_id attempt unix_time pid` line, written with
O_APPEND so concurrent workers never interleave and a SIGKILL loses nothing written):
the test compares those times with each run's terminal event.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from arq import Retry

from workers import JobOutcome, operation

EXECUTIONS_VAR = "RUNLEDGER_CHAOS_EXECUTIONS"
POLICY: dict[str, Any] = {
    "timeout": 3,
    "max_tries": 2,
    "retry_defer": 0.5,
    "stale_queued_after": 30,
    "stale_running_after": 25,
}


def record_execution(ctx: dict[str, Any]) -> None:
    """Appends this execution to the executions file (when the test names one)."""
    path = os.environ.get(EXECUTIONS_VAR)
    if not path:
        return
    line = f"{ctx['job_id']} {ctx['job_try']} {time.time():.6f} {os.getpid()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


async def quick_job(ctx: dict[str, Any]) -> dict[str, Any]:
    record_execution(ctx)
    await asyncio.sleep(0.02)
    return {"attempt": ctx["job_try"]}


async def slow_job(ctx: dict[str, Any]) -> dict[str, Any]:
    record_execution(ctx)
    await asyncio.sleep(1.2)
    return {"attempt": ctx["job_try"]}


async def heartbeat_job(ctx: dict[str, Any]) -> dict[str, Any]:
    record_execution(ctx)
    for step in range(3):
        await ctx["run"].heartbeat(done=step, total=3, force=True)
        await asyncio.sleep(0.4)
    return {"steps": 3}


async def retry_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """Asks arq for another try the first time it runs (a killed try counts as one)."""
    record_execution(ctx)
    if ctx["job_try"] == 1:
        raise Retry(defer=POLICY["retry_defer"])
    return {"tries": ctx["job_try"]}


async def fail_job(ctx: dict[str, Any]) -> JobOutcome:
    record_execution(ctx)
    await asyncio.sleep(0.05)
    return JobOutcome.failed({"why": "the job says so"})


async def explode_job(ctx: dict[str, Any]) -> None:
    record_execution(ctx)
    raise ValueError("boom")


quick = operation("chaos.quick", **POLICY)(quick_job)
slow = operation("chaos.slow", **POLICY)(slow_job)
heartbeat = operation("chaos.heartbeat", **POLICY)(heartbeat_job)
retry = operation("chaos.retry", **POLICY)(retry_job)
fail = operation("chaos.fail", **POLICY)(fail_job)
explode = operation("chaos.explode", **POLICY)(explode_job)

# The mix the chaos tests queue, in turn: ten runs of it are 3 quick, 2 slow,
# 2 heartbeating, 1 retrying, 1 failed by the job, 1 raising.
MIX = [
    "chaos.quick",
    "chaos.slow",
    "chaos.heartbeat",
    "chaos.quick",
    "chaos.retry",
    "chaos.fail",
    "chaos.slow",
    "chaos.quick",
    "chaos.heartbeat",
    "chaos.explode",
]
# How each operation ends when nothing goes wrong.
OWN_ENDINGS = {
    "chaos.quick": "job.succeeded",
    "chaos.slow": "job.succeeded",
    "chaos.heartbeat": "job.succeeded",
    "chaos.retry": "job.succeeded",
    "chaos.fail": "job.failed",
    "chaos.explode": "job.exception",
}
