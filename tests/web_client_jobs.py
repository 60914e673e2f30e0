"""Operations the web tests' client may queue but their worker does not serve: one arq
fails as an unknown function (queue.function_missing), one that waits past its tiny
stale threshold with no worker to take it (a stale queued run), and one that waits
within its long one (a queued run that stays fresh however long the tests take)."""

from __future__ import annotations

from typing import Any

from tests.web_jobs import FAST
from workers import operation


@operation("web.unserved", max_tries=1, **FAST)
async def unserved(ctx: dict[str, Any]) -> None:
    """Never runs."""


STALL_THRESHOLD = 0.2  # seconds a web.stall run may wait before it is stale


@operation("web.stall", timeout=1, max_tries=1, stale_queued_after=STALL_THRESHOLD,
           stale_running_after=120)  # fmt: skip
async def stall(ctx: dict[str, Any]) -> None:
    """Never runs: queued when no worker serves it."""


@operation("web.wait", timeout=1, max_tries=1, stale_queued_after=3600, stale_running_after=120)
async def wait(ctx: dict[str, Any]) -> None:
    """Never runs: queued after the worker's burst, fresh for an hour."""
