"""The operation the browser tests' crashing worker runs: it reports progress, then works
long enough for the worker to be SIGKILLed mid-run, which leaves a run that is running
(fresh: its stale threshold is minutes away) with no worker and no reconciler to end it."""

from __future__ import annotations

import asyncio
from typing import Any

from workers import operation

CRAWL_PROGRESS = {"done": 3, "total": 10}


@operation("browser.crawl", timeout=60, max_tries=1, stale_queued_after=600,
           stale_running_after=900)  # fmt: skip
async def crawl(ctx: dict[str, Any]) -> None:
    await ctx["run"].heartbeat(CRAWL_PROGRESS, force=True)
    await asyncio.sleep(50)  # the worker is killed long before
