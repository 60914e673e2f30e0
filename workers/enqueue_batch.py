"""Batched enqueue: group-committed `Queued` events and many arq jobs in one round trip.

One save is one transaction, and on PostgreSQL every writer to the events table takes
its lock, so one save per enqueue caps a process at a few hundred enqueues a second
while many runs in one save cost a fraction each. A QueueBatcher lets the concurrent
`RunClient.enqueue` calls of one event loop share transactions: a call that arrives
while a save is in flight joins the next one, and each caller's future resolves only
once the transaction holding its run committed. A lone caller is saved at once (no
linger), exactly as `RunLedger.queue` would.

`enqueue_jobs` puts many jobs on arq's queue the way `ArqRedis.enqueue_job` does (skip
a job whose job key or result key exists, else `psetex` the serialized job and `zadd`
it to the queue), with the check and the writes of every job in one Lua call: arq
needs WATCH/MULTI per job for that atomicity, which no pipeline can batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_ms
from redis.exceptions import RedisError

from ledger import Actor, QueueRequest, QueueResult, RunLedger
from ledger.application import COMMAND_ERRORS
from workers.errors import EnqueueFailedError, WorkerError

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 500  # runs per transaction; more callers wait for the next one
JOBS_PER_CALL = 500  # jobs per Lua call, so Redis is never blocked long by one batch

# KEYS: job key, result key, queue per job; ARGV: ttl ms, serialized job, score, id per job.
_ENQUEUE_JOBS = """
local added = {}
for i = 1, #KEYS / 3 do
  local k, a = (i - 1) * 3, (i - 1) * 4
  if redis.call('exists', KEYS[k + 1], KEYS[k + 2]) > 0 then
    added[i] = 0
  else
    redis.call('psetex', KEYS[k + 1], ARGV[a + 1], ARGV[a + 2])
    redis.call('zadd', KEYS[k + 3], ARGV[a + 3], ARGV[a + 4])
    added[i] = 1
  end
end
return added
"""


@dataclass(frozen=True)
class EnqueueItem:
    """One run of `RunClient.enqueue_many`: the same fields as `enqueue`'s arguments."""

    operation_type: str
    workspace: str
    params: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    initiator: str = Actor.SYSTEM
    defer_by: float | None = None
    expires: float | None = None


def as_item(item: object) -> EnqueueItem:
    """An EnqueueItem from one itself, a mapping or another dataclass of its fields."""
    if isinstance(item, EnqueueItem):
        return item
    if is_dataclass(item) and not isinstance(item, type):
        item = {f.name: getattr(item, f.name) for f in fields(item)}
    if not isinstance(item, Mapping):
        raise WorkerError(
            f"an item must be a mapping or an EnqueueItem, not {type(item).__name__}",
            hint="e.g. {'operation_type': 'inventory.sync', 'workspace': 'acme'}",
        )
    known = {f.name for f in fields(EnqueueItem)}
    unknown = sorted(str(key) for key in item if key not in known)
    if unknown or "operation_type" not in item or "workspace" not in item:
        raise WorkerError(
            f"an item needs operation_type and workspace, and may hold only {sorted(known)}"
            + (f" (unknown: {unknown})" if unknown else ""),
            hint="the fields are RunClient.enqueue's arguments",
        )
    return EnqueueItem(**item)


@dataclass
class JobSpec:
    """One arq job to enqueue: what `ArqRedis.enqueue_job` would be called with."""

    function: str
    job_id: str
    queue_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    defer_by: float | None = None
    expires: float | None = None


class EnqueueBatchFailedError(EnqueueFailedError):
    """The runs were recorded as queued, but Redis could not take (some of) their jobs."""

    def __init__(self, run_ids: Sequence[UUID], cause: BaseException) -> None:
        first = (str(cause).strip() or type(cause).__name__).splitlines()[0]
        WorkerError.__init__(
            self,
            f"{len(run_ids)} runs are recorded as queued, but their jobs may not be "
            f"enqueued: {first}; runs: {', '.join(str(r) for r in run_ids)}",
            hint="check RUNLEDGER_REDIS_URL and that Redis is running; enqueue again with the "
            "same idempotency keys, or the reconciler will resolve the runs as job_lost",
        )
        self.run_id = run_ids[0]
        self.run_ids = list(run_ids)


async def enqueue_jobs(redis: ArqRedis, jobs: Sequence[JobSpec]) -> list[bool]:
    """Enqueues `jobs` as arq's `enqueue_job` does each; True for each one added, False
    for one skipped because its job or its result already exists."""
    script = redis.register_script(_ENQUEUE_JOBS)
    added: list[bool] = []
    for start in range(0, len(jobs), JOBS_PER_CALL):
        keys: list[str] = []
        args: list[Any] = []
        for job in jobs[start : start + JOBS_PER_CALL]:
            keys += [job_key_prefix + job.job_id, result_key_prefix + job.job_id, job.queue_name]
            args += _job_args(redis, job)
        flags = await script(keys=keys, args=args)
        added += [bool(flag) for flag in flags]
    return added


def _job_args(redis: ArqRedis, job: JobSpec) -> list[Any]:
    """ttl, serialized job, score and id, computed as `ArqRedis.enqueue_job` does."""
    enqueue_time_ms = timestamp_ms()
    defer_by_ms = to_ms(job.defer_by)
    score = enqueue_time_ms + defer_by_ms if defer_by_ms else enqueue_time_ms
    expires_ms = to_ms(job.expires) or score - enqueue_time_ms + redis.expires_extra_ms
    data = serialize_job(
        job.function, (), job.kwargs, None, enqueue_time_ms, serializer=redis.job_serializer
    )
    return [expires_ms, data, score, job.job_id]


class GroupCall(Generic[T, R]):
    """Calls made while a batch is in flight join the next batch; `run` gets each batch
    and answers, per item and in order, its result or the error that refused it. A lone
    call is run at once (no linger)."""

    def __init__(
        self, run: Callable[[list[T]], Awaitable[Sequence[R | Exception]]], max_batch: int
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self.batches = 0  # batches run (or tried), for tests and benchmarks
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if not self._flushing(loop):
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        """Waits for the batch in flight (the ledger must not be closed under its save)."""
        if self._flusher is not None and self._flushing(asyncio.get_running_loop()):
            await asyncio.gather(self._flusher, return_exceptions=True)

    def _flushing(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether a flusher is at work on `loop` (a client may outlive an event loop)."""
        flusher = self._flusher
        return flusher is not None and not flusher.done() and flusher.get_loop() is loop

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            self.batches += 1
            try:
                results = await self.run([item for item, _ in batch])
            except Exception as error:
                results = [error] * len(batch)
            except BaseException:
                _settle(batch, [WorkerError("the batch was cancelled")] * len(batch))
                raise
            _settle(batch, results)


def _settle(batch: list[tuple[Any, asyncio.Future[Any]]], results: Sequence[Any]) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue  # its caller gave up; what it asked for was done all the same
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


class QueueBatcher:
    """Group commit of a client's `RunLedger.queue` calls, then of their arq jobs."""

    def __init__(self, ledger: RunLedger, redis: ArqRedis, *, max_batch: int = MAX_BATCH) -> None:
        self.ledger = ledger
        self.redis = redis
        self.queue = GroupCall[QueueRequest, QueueResult](self._save_batch, max_batch)
        self.enqueue_job = GroupCall[JobSpec, bool](self._enqueue_batch, JOBS_PER_CALL)

    @property
    def transactions(self) -> int:
        return self.queue.batches

    async def close(self) -> None:
        await self.queue.close()
        await self.enqueue_job.close()

    async def _save_batch(self, requests: list[QueueRequest]) -> list[QueueResult | Exception]:
        return await asyncio.to_thread(self._save, requests)

    async def _enqueue_batch(self, jobs: list[JobSpec]) -> list[bool | Exception]:
        """True for each job added, False for one that exists; a Redis error for all."""
        try:
            return list(await enqueue_jobs(self.redis, jobs))
        except (RedisError, OSError) as error:
            return [error] * len(jobs)

    def _save(self, requests: list[QueueRequest]) -> list[QueueResult | Exception]:
        """One transaction for all; if one request is refused, each alone, so it fails
        only its own caller. Store errors reach every caller of the batch."""
        if len(requests) == 1:
            return [self.ledger.queue(requests[0])]
        try:
            return list(self.ledger.queue_many(requests))
        except COMMAND_ERRORS:
            return [self._alone(request) for request in requests]

    def _alone(self, request: QueueRequest) -> QueueResult | Exception:
        try:
            return self.ledger.queue(request)
        except COMMAND_ERRORS as error:
            return error
