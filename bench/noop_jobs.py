"""The no-op job of bench/worker_overhead.py as a tracked operation: the `--jobs` module
`runledger worker` serves in the CLI mode, and the job of the in-process mode.

It imports nothing but `workers`, so the worker's start-up is not charged for the bench.
"""

from __future__ import annotations

from typing import Any

from workers import operation


@operation("bench.noop", timeout=5, max_tries=1, stale_queued_after=600, stale_running_after=60)
async def tracked_noop(ctx: dict[str, Any]) -> None:
    return None
