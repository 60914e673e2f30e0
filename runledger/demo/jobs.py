"""The demo's operations: one per story a run can tell. Served by the demo's two workers
(and by compose.yaml's when no jobs module is given).

The longest timeout here (the backfill's) sets arq's redelivery window for these
workers, so every stale threshold is above it, as the timing guard requires; the
orphan's operation lives in `orphan_jobs`, served by a worker of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Retry

from workers import JobOutcome, operation

# Window: 600 s + 10 s. Thresholds clear tries x timeout + window + margin.
QUICK = {"timeout": 5, "stale_queued_after": 660, "stale_running_after": 660}


@operation("demo.sync_inventory", max_tries=1, **QUICK)
async def sync_inventory(ctx: dict[str, Any], warehouse: str = "north") -> dict[str, Any]:
    await asyncio.sleep(0.3)
    return {"warehouse": warehouse, "synced": 42, "skipped": 0}


@operation("demo.import_orders", max_tries=1, **QUICK)
async def import_orders(ctx: dict[str, Any]) -> JobOutcome:
    await asyncio.sleep(0.3)
    return JobOutcome.partially_succeeded({"imported": 118, "rejected": 2})


@operation("demo.validate_catalog", max_tries=1, **QUICK)
async def validate_catalog(ctx: dict[str, Any]) -> JobOutcome:
    return JobOutcome.failed({"invalid_rows": 17, "first": "SKU-0042"})


@operation("demo.parse_feed", max_tries=1, **QUICK)
async def parse_feed(ctx: dict[str, Any]) -> None:
    # Markup in an error message must reach the operator as text, never as HTML.
    raise ValueError('row 7: unexpected <img src=x onerror="alert(1)"> in <b>price</b>')


@operation("demo.export_report", max_tries=1, timeout=2, stale_queued_after=660,
           stale_running_after=660)  # fmt: skip
async def export_report(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(60)  # far past its 2 s timeout: arq cancels it


@operation("demo.call_partner_api", max_tries=3, retry_defer=0.5, **QUICK)
async def call_partner_api(ctx: dict[str, Any]) -> None:
    raise Retry()  # the partner never answers: every try asks for another


@operation("demo.reindex_search", max_tries=1, timeout=30, stale_queued_after=660,
           stale_running_after=700)  # fmt: skip
async def reindex_search(ctx: dict[str, Any], shards: int = 12) -> dict[str, Any]:
    for done in range(1, shards + 1):
        await asyncio.sleep(1)
        await ctx["run"].heartbeat({"done": done, "total": shards}, force=True)
    return {"shards": shards}


@operation("demo.backfill_history", max_tries=1, timeout=600, stale_queued_after=660,
           stale_running_after=1260)  # fmt: skip
async def backfill_history(ctx: dict[str, Any], months: int = 240) -> dict[str, Any]:
    for done in range(1, months + 1):
        await asyncio.sleep(2)
        await ctx["run"].heartbeat({"done": done, "total": months}, force=True)
    return {"months": months}
