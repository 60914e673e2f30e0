"""Claiming a poll's job ids in several of arq's claim loops at once (LedgerWorker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any


async def claim_in_chains(
    claim: Callable[[list[bytes]], Awaitable[None]],
    running: Mapping[str, asyncio.Task[Any]],
    job_ids: list[bytes],
    chains: int,
) -> None:
    """Hands `job_ids`, less those with a `running` task, to `chains` calls of arq's
    claim loop (`Worker.start_jobs`), each with its own share, side by side."""
    fresh = [j for j in job_ids if (t := running.get(j.decode())) is None or t.done()]
    if chains < 2 or len(fresh) < 2:
        await claim(fresh)
        return
    shares = [claim(fresh[chain::chains]) for chain in range(chains)]
    # Every chain runs to its end before an error is raised: none is left claiming.
    for outcome in await asyncio.gather(*shares, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
