"""The operation the reconciler e2e tests run: killed mid-job, then either healed by the
reconciler or redelivered by arq. Timeout 2 s makes arq's redelivery window 12 s; the
stale threshold sits just above what the timing guard requires (2 x 2 + 12 + 5 s)."""

from __future__ import annotations

import asyncio
from typing import Any

from workers import operation


@operation("e2e.orphanable", timeout=2, max_tries=2, stale_queued_after=20, stale_running_after=22)
async def orphanable(ctx: dict[str, Any]) -> dict[str, Any]:
    await ctx["run"].heartbeat(step="working")
    await asyncio.sleep(1.5)
    return {"finished_on_attempt": ctx["job_try"]}
