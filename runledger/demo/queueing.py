"""Queuing the stories' runs: the demo's own set, and compose.yaml's one-shot `demo-runs`.

The demo queues a run per story, with the choreography two of them need: the lost job
is deferred, then deleted from arq as a flushed Redis would; the orphan goes to a queue
of its own, whose worker the demo kills. compose.yaml's set is only the stories the
jobs tell by themselves.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from rich.console import Console

from runledger.demo.orphan_jobs import ORPHAN_QUEUE
from runledger.demo.stories import BY_KEY, SAME_RUN_AS, STORIES

JOBS = "runledger.demo.jobs"
ORPHAN_JOBS = "runledger.demo.orphan_jobs"
TOLD_BY_THE_JOB = ("succeeded", "partial", "failed", "exception", "timeout", "retries",
                   "progress", "running")  # fmt: skip


async def queue_story_runs(env: dict[str, str]) -> dict[str, UUID]:
    """Every story's run id, its run queued into the demo's stores (`env`)."""
    from workers import RunClient
    from workers.settings import QueueSettings

    runs: dict[str, UUID] = {}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        async with RunClient.from_env(jobs=f"{JOBS},{ORPHAN_JOBS}") as client:
            for story in STORIES:
                if story.key in SAME_RUN_AS or story.key in ("orphaned", "job_lost"):
                    continue
                runs[story.key] = await client.enqueue(
                    story.operation, workspace=workspace(story.key), params=story.params
                )
            lost = BY_KEY["job_lost"]
            # Deferred, so no worker takes it before its job is made to vanish.
            runs["job_lost"] = await client.enqueue(
                lost.operation, workspace="retail", params=lost.params, defer_by=600
            )
        queue = QueueSettings.from_env()
        async with RunClient.from_env(jobs=ORPHAN_JOBS) as orphans:
            orphans.queue_name = ORPHAN_QUEUE
            runs["orphaned"] = await orphans.enqueue("demo.rebuild_thumbnails", workspace="media")
        await _vanish(queue.client(), queue.queue_name, runs["job_lost"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for key, same in SAME_RUN_AS.items():
        runs[key] = runs[same]
    return runs


def workspace(story: str) -> str:
    return "media" if story in ("progress", "running") else "retail"


async def _vanish(redis: Any, queue_name: str, run_id: UUID) -> None:
    """Deletes a waiting job from arq, as a flushed or failed-over Redis would."""
    try:
        await redis.delete(f"arq:job:{run_id}")
        await redis.zrem(queue_name, str(run_id))
    finally:
        await redis.aclose()


async def queue_demo_runs(console: Console) -> int:
    """One run per story the demo's own operations tell, into the configured ledger and
    queue (compose.yaml's one-shot `demo-runs`): only when the workers serve the demo's
    jobs, and once (idempotency keys), however often it is started."""
    from workers import RunClient
    from workers.settings import jobs_from_env

    served = [name.strip() for name in (jobs_from_env(None) or "").split(",")]
    if JOBS not in served:
        console.print(f"RUNLEDGER_JOBS is not {JOBS}: no demo runs to queue")
        return 0
    async with RunClient.from_env(jobs=JOBS) as client:
        for story in STORIES:
            if story.key not in TOLD_BY_THE_JOB:
                continue  # those need the demo's choreography (a kill, a lost job)
            run_id = await client.enqueue(
                story.operation,
                workspace=workspace(story.key),
                params=story.params,
                idempotency_key=f"demo:{story.key}",
            )
            console.print(f"queued {story.operation} ({story.title}): {run_id}", soft_wrap=True)
    return 0
