"""Operations the worker tests run: one per way a job can end. Short timeouts keep arq's
redelivery window (longest timeout + 10 s) and the whole test module fast."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Retry

from workers import JobOutcome, operation

# Aligned with the timing guard: window = 2 s + 10 s, so thresholds must exceed
# 12 s + 5 s (queued) and tries x timeout + window + margin (running).
FAST = {"timeout": 2, "stale_queued_after": 120, "stale_running_after": 120}

EXECUTED: list[str] = []  # run ids of the jobs whose code ran in this process


@operation("wtest.succeed", max_tries=1, **FAST)
async def succeed(ctx: dict[str, Any], items: int = 0) -> dict[str, Any]:
    EXECUTED.append(ctx["job_id"])
    return {"items": items}


@operation("wtest.partial", max_tries=1, **FAST)
async def partial(ctx: dict[str, Any]) -> JobOutcome:
    return JobOutcome.partially_succeeded({"ok": 2, "failed": 1})


@operation("wtest.fail", max_tries=1, **FAST)
async def fail(ctx: dict[str, Any]) -> JobOutcome:
    return JobOutcome.failed({"why": "bad input"})


@operation("wtest.explode", max_tries=3, **FAST)
async def explode(ctx: dict[str, Any]) -> None:
    raise ValueError("boom")


@operation("wtest.hang", max_tries=3, **FAST)
async def hang(ctx: dict[str, Any]) -> None:
    """Sleeps past its timeout on the first attempt; returns at once on later ones."""
    if ctx["job_try"] == 1:
        await asyncio.sleep(30)


@operation("wtest.retry", max_tries=3, **FAST)
async def retry_once(ctx: dict[str, Any]) -> dict[str, Any]:
    if ctx["job_try"] == 1:
        raise Retry(defer=0.05)
    return {"tries": ctx["job_try"]}


@operation("wtest.always_retry", max_tries=2, retry_defer=0.02, **FAST)
async def always_retry(ctx: dict[str, Any]) -> None:
    raise Retry()  # no defer named: the policy's retry_defer applies


@operation("wtest.heartbeat", max_tries=1, **FAST)
async def heartbeat(ctx: dict[str, Any]) -> dict[str, Any]:
    run = ctx["run"]
    first = await run.heartbeat(done=1, total=3)
    coalesced = await run.heartbeat(done=2)
    forced = await run.heartbeat({"done": 3}, force=True)
    return {"written": [first, coalesced, forced]}


@operation("wtest.nap", max_tries=1, **FAST)
async def nap(ctx: dict[str, Any]) -> None:
    """Keeps its slot a while, so a worker's polls read back jobs it is still running."""
    await asyncio.sleep(0.15)


@operation("wtest.unserved", max_tries=1, **FAST)
async def unserved(ctx: dict[str, Any]) -> None:
    """Declared for the client, left out of the worker: arq finds no such function."""
