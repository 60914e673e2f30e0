"""How a LedgerWorker claims the job ids of a poll: one Redis round trip a batch.

A poll reads the oldest job ids of the queue, and a job stays there until it finishes,
so a busy worker reads back its own running jobs; arq asks Redis about each one only to
find its in-progress key. A running task of ours is proof enough: skipping it changes no
outcome (the key is there until the task has finished the job).

arq then claims the rest one at a time, four round trips each (WATCH the in-progress
key, EXISTS it, ZSCORE the job, MULTI/PSETEX/EXEC), while every job it has started waits.
`start_claimed` takes as many job slots as are free (waiting, as arq does, for the first,
and for a job to end when all are taken, for up to a poll delay) and claims that many
ids with CLAIM: the same checks and the same in-progress key as arq's, inside one script
that Redis runs atomically, so no other worker can claim a job between its checks and
its key. The semaphore and job counter still bound the jobs to
max_jobs, and a slot whose id was not claimed is given back at once.
"""

from __future__ import annotations

import asyncio
import hashlib

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# KEYS[1]: the queue; KEYS[i]: the i-1th job's in-progress key. ARGV[1]: now (ms);
# ARGV[2]: how long an in-progress key lives (ms); ARGV[i+1]: the i-1th job's id.
# Per job, its score if claimed, else false (nil): running elsewhere, gone from the
# queue (finished) or deferred past now, as arq's own start_jobs decides.
CLAIM = """
local claimed = {}
for i = 2, #KEYS do
  local score = false
  if redis.call('exists', KEYS[i]) == 0 then
    score = redis.call('zscore', KEYS[1], ARGV[i + 1])
    if score and tonumber(score) > 0 and tonumber(score) <= tonumber(ARGV[1]) then
      redis.call('psetex', KEYS[i], ARGV[2], '1')
    else
      score = false
    end
  end
  claimed[i - 1] = score
end
return claimed
"""
CLAIM_SHA = hashlib.sha1(CLAIM.encode()).hexdigest()


async def claim(
    redis: Redis, queue: str, job_ids: list[str], now_ms: int, in_progress_ms: int
) -> list[int | None]:
    """Per id, the job's score if this call claimed it (its in-progress key is set, for
    `in_progress_ms`), or None if it is not this worker's to run."""
    keys = [queue, *(in_progress_key_prefix + job_id for job_id in job_ids)]
    args = [*keys, str(now_ms), str(in_progress_ms), *job_ids]
    try:  # (redis-py types these as maybe not awaitable)
        scores = await redis.evalsha(CLAIM_SHA, len(keys), *args)  # type: ignore[misc]
    except NoScriptError:  # the first call on this Redis (or since it restarted)
        scores = await redis.eval(CLAIM, len(keys), *args)  # type: ignore[misc]
    return [None if score is None else int(float(score)) for score in scores]


async def start_claimed(worker: Worker, job_ids: list[bytes]) -> None:
    """arq's `Worker.start_jobs` for `worker`, less the jobs it runs, claimed in batches."""
    running = worker.tasks
    fresh = [j for j in map(bytes.decode, job_ids) if (t := running.get(j)) is None or t.done()]
    deadline = worker.loop.time() + worker.poll_delay_s
    in_progress_ms = int(worker.in_progress_timeout_s * 1000)
    while fresh:
        slots = await take_slots(worker, len(fresh), deadline)
        if not slots:
            return
        batch, fresh = fresh[:slots], fresh[slots:]
        try:
            scores = await claim(
                worker.pool, worker.queue_name, batch, timestamp_ms(), in_progress_ms
            )
        except BaseException:
            # A claim cut short (a Redis outage) gives its slots back: a few outages
            # would otherwise leave the worker no slot at all.
            give_back(worker, slots)
            raise
        for job_id, score in zip(batch, scores, strict=True):
            if score is None:
                give_back(worker, 1)
                continue
            task = worker.loop.create_task(worker.run_job(job_id, score))
            task.add_done_callback(lambda _: worker._release_sem_dec_counter_on_complete())
            worker.tasks[job_id] = task


async def take_slots(worker: Worker, wanted: int, deadline: float) -> int:
    """Job slots for up to `wanted` claims: waits for one, as arq does, then takes those
    free without waiting. A worker at max_jobs waits for a job to end until `deadline`
    (0 slots then): arq would return and claim again only a poll delay later, which
    leaves slots idle while short jobs end, and bounds a busy worker to about max_jobs a
    poll delay. Waiting no longer than that keeps arq's pace for the rest of its poll
    (aborts, health checks)."""
    await worker.sem.acquire()
    while worker.job_counter >= worker.max_jobs:
        worker.sem.release()
        running = [task for task in worker.tasks.values() if not task.done()]
        left = deadline - worker.loop.time()
        if left <= 0 or not running:
            return 0
        # A job's own done callback gives its slot back before this wakes.
        await asyncio.wait(running, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        await worker.sem.acquire()
    taken = 1
    while taken < wanted and worker.job_counter + taken < worker.max_jobs:
        if worker.sem.locked():
            break
        await worker.sem.acquire()  # not locked: returns at once
        taken += 1
    worker.job_counter += taken
    return taken


def give_back(worker: Worker, slots: int) -> None:
    worker.job_counter -= slots
    for _ in range(slots):
        worker.sem.release()
