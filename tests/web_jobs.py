"""Operations the web tests' worker runs: one per way a job ends, with markup in their
texts so every view is seen escaping it. Timeouts are short (arq's window is 1 s + 10 s)."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Retry

from workers import JobOutcome, operation

FAST = {"timeout": 1, "stale_queued_after": 120, "stale_running_after": 120}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@operation("web.succeed", max_tries=1, **FAST)
async def succeed(ctx: dict[str, Any], items: int = 3) -> dict[str, Any]:
    return {"items": items, "note": XSS}


@operation("web.partial", max_tries=1, **FAST)
async def partial(ctx: dict[str, Any]) -> JobOutcome:
    return JobOutcome.partially_succeeded({"ok": 2, "failed": 1})


@operation("web.fail", max_tries=1, **FAST)
async def fail(ctx: dict[str, Any]) -> JobOutcome:
    return JobOutcome.failed({"why": "bad input"})


@operation("web.explode", max_tries=1, **FAST)
async def explode(ctx: dict[str, Any]) -> None:
    raise ValueError(f"boom {XSS}")


@operation("web.hang", max_tries=1, **FAST)
async def hang(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(30)  # past its 1 s timeout


@operation("web.retry", max_tries=2, retry_defer=0.01, **FAST)
async def always_retry(ctx: dict[str, Any]) -> None:
    raise Retry()


@operation("web.beat", max_tries=1, **FAST)
async def beat(ctx: dict[str, Any]) -> dict[str, Any]:
    for done in range(1, 4):
        await ctx["run"].heartbeat({"done": done, "total": 3}, force=True)
    return {"beats": 3}
