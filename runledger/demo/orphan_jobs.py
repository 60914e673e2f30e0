"""The operation of the demo's orphaned run, served by a worker of its own on a queue of
its own: the demo SIGKILLs that worker mid-job and starts no other, so no live worker
redelivers the job and the reconciler must resolve the run.

With only this operation, the worker's redelivery window is 15 s + 10 s, so the
threshold can be short (the timing guard asks more than 1 x 15 + 25 + 5 s).
"""

from __future__ import annotations

import asyncio
from typing import Any

from workers import operation

ORPHAN_QUEUE = "runledger-demo:orphans"


@operation("demo.rebuild_thumbnails", max_tries=1, timeout=15, stale_queued_after=40,
           stale_running_after=46)  # fmt: skip
async def rebuild_thumbnails(ctx: dict[str, Any], images: int = 14) -> dict[str, Any]:
    for done in range(1, images + 1):
        await ctx["run"].heartbeat({"done": done, "total": images}, force=True)
        await asyncio.sleep(1)
    return {"images": images}
