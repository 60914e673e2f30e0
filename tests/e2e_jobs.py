"""The operation the SIGKILL test runs: long enough to be killed mid-job, with a 2 s
timeout so arq's redelivery window is 12 s."""

from __future__ import annotations

import asyncio
from typing import Any

from workers import operation


@operation("e2e.slow", timeout=2, max_tries=3, stale_queued_after=120, stale_running_after=120)
async def slow(ctx: dict[str, Any]) -> dict[str, Any]:
    await ctx["run"].heartbeat(step="sleeping")
    await asyncio.sleep(1.5)
    return {"finished_on_attempt": ctx["job_try"]}
