"""RunClient: how applications queue tracked runs.

`enqueue` appends `Queued` first, then enqueues the arq job with the run id as its job
id. A run whose enqueue fails is therefore never lost: it stays visible as queued (the
caller gets EnqueueFailedError naming it) and is healed by a repeated enqueue with the
same idempotency key, or by the reconciler.

Concurrent `enqueue` calls share transactions and Redis calls (workers/enqueue_batch.py);
`enqueue_many` queues a batch in one transaction and one Redis call.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from ledger import (
    Actor,
    DatabaseSettings,
    LedgerError,
    QueueRequest,
    RunLedger,
    RunNotFoundError,
)
from ledger.limits import (
    PARAM_TEXT_LIMIT,
    check_depth,
    check_name,
    check_params_size,
    safe_str,
    shown,
    too_deep,
)
from ledger.summaries import bounded_summary
from workers.enqueue_batch import (
    EnqueueBatchFailedError,
    EnqueueItem,
    JobSpec,
    QueueBatcher,
    as_item,
    enqueue_jobs,
)
from workers.errors import EnqueueFailedError, WorkerError
from workers.operations import OperationRegistry, load_operations, registry
from workers.settings import QueueSettings, jobs_from_env

SUMMARY_TEXT_LIMIT = PARAM_TEXT_LIMIT  # characters of one param kept in `Queued`


class RunClient:
    def __init__(
        self,
        ledger: RunLedger,
        redis: ArqRedis,
        operations: OperationRegistry,
        *,
        queue_name: str | None = None,
        owns_ledger: bool = False,
    ) -> None:
        self.ledger = ledger
        self.redis = redis
        self.operations = operations
        self.queue_name = queue_name or redis.default_queue_name
        self._owns_ledger = owns_ledger
        self._batcher = QueueBatcher(ledger, redis)

    @classmethod
    def from_env(cls, jobs: str | None = None) -> RunClient:
        """From RUNLEDGER_DATABASE_URL, RUNLEDGER_REDIS_URL, RUNLEDGER_QUEUE_NAME. The
        operations are those of `jobs` / RUNLEDGER_JOBS, else every one declared so far."""
        modules = jobs_from_env(jobs)
        operations = load_operations(modules) if modules else registry
        queue = QueueSettings.from_env()
        ledger = RunLedger(DatabaseSettings.from_env())
        return cls(
            ledger, queue.client(), operations, queue_name=queue.queue_name, owns_ledger=True
        )

    async def __aenter__(self) -> RunClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._batcher.close()
        await self.redis.aclose(close_connection_pool=True)
        if self._owns_ledger:
            self.ledger.close()

    async def enqueue(
        self,
        operation_type: str,
        *,
        workspace: str,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        initiator: str = Actor.SYSTEM,
        defer_by: float | None = None,
        expires: float | None = None,
    ) -> UUID:
        """Queues a run and returns its id. A repeated idempotency key returns the same run
        (and re-enqueues its job if an earlier enqueue failed).

        Concurrent calls share transactions (QueueBatcher): each returns once its own
        run is durable. Refuses (InputRefusedError, naming the limit) a blank or
        oversized name, and params nested too deep or too large once pickled, before
        anything is recorded.
        """
        item = EnqueueItem(
            operation_type, workspace, params, idempotency_key, initiator, defer_by, expires
        )
        request, job = self._prepare(item)
        queued = await self._batcher.queue(request)
        if not queued.created and await self._is_terminal(queued.run_id):
            return queued.run_id  # that run is over: never run its job again
        job.job_id = str(queued.run_id)
        try:
            # False when the job (or its result) already exists: the same run, nothing to do.
            await self._batcher.enqueue_job(job)
        except (RedisError, OSError) as error:
            raise EnqueueFailedError(queued.run_id, error) from error
        return queued.run_id

    async def enqueue_many(self, items: Iterable[EnqueueItem | Mapping[str, Any]]) -> list[UUID]:
        """Queues many runs in one transaction and their jobs in one Redis round trip;
        returns the run ids in order. Each item has `enqueue`'s arguments as fields.

        Every item is checked first: one refused item (its error names its index)
        refuses the batch before anything is recorded. A job whose job or result
        already exists is skipped, as arq does, and so is the job of a repeated key
        whose run is over. If Redis fails, EnqueueBatchFailedError names the runs:
        they stay queued, healed by enqueueing them again or by the reconciler."""
        prepared = []
        for index, item in enumerate(items):
            try:
                prepared.append(self._prepare(as_item(item)))
            except LedgerError as error:
                error.args = (f"item {index}: {error}", *error.args[1:])
                raise
        if not prepared:
            return []
        queued = await asyncio.to_thread(self.ledger.queue_many, [r for r, _ in prepared])
        over = await self._terminal_among([q.run_id for q in queued if not q.created])
        jobs = []
        for (_, job), result in zip(prepared, queued, strict=True):
            if result.run_id not in over:
                job.job_id = str(result.run_id)
                jobs.append(job)
        try:
            await enqueue_jobs(self.redis, jobs)
        except (RedisError, OSError) as error:
            named = list(dict.fromkeys(UUID(j.job_id) for j in jobs))  # a key twice: once
            raise EnqueueBatchFailedError(named, error) from error
        return [result.run_id for result in queued]

    def _prepare(self, item: EnqueueItem) -> tuple[QueueRequest, JobSpec]:
        """What `ledger.queue` gets and the job arq will get, once the item passes the
        checks (nothing is recorded for an item that does not)."""
        check_name("operation type", item.operation_type)
        declared = self.operations.get(item.operation_type)
        check_name("workspace", item.workspace)
        check_name("initiator", item.initiator)
        if item.idempotency_key is not None:
            check_name("idempotency key", item.idempotency_key)
        kwargs = self._job_params(item.params)
        request = QueueRequest(
            operation_type=item.operation_type,
            workspace=item.workspace,
            policy=declared.policy,
            initiator=item.initiator,
            params_summary=summarize(kwargs),
            idempotency_key=item.idempotency_key,
            actor=item.initiator,
            queue_name=self.queue_name,
        )
        job = JobSpec(item.operation_type, "", self.queue_name, kwargs, item.defer_by, item.expires)
        return request, job

    def _job_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The params as the job will get them, once they pass the limits."""
        if params is not None and not isinstance(params, Mapping):
            raise WorkerError(
                f"params must be a mapping of names to values, not {type(params).__name__}",
                hint="e.g. params={'tenant': 't1'}",
            )
        kwargs = dict(params or {})
        _check_params(kwargs)
        check_depth("params", kwargs)
        check_params_size(len(_pickled(kwargs, getattr(self.redis, "job_serializer", None))))
        return kwargs

    async def _terminal_among(self, run_ids: list[UUID]) -> set[UUID]:
        """Those of `run_ids` (runs of repeated keys) that are over: no job for them."""
        if not run_ids:
            return set()
        states = await asyncio.to_thread(self.ledger.states, run_ids)
        return {state.id for state in states if state.is_terminal}

    async def _is_terminal(self, run_id: UUID) -> bool:
        try:
            state = await asyncio.to_thread(self.ledger.state, run_id)
        except RunNotFoundError:
            return False
        return state.is_terminal


def _check_params(params: Mapping[str, Any]) -> None:
    for key in params:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise WorkerError(
                f"parameter name {shown(key)} is not usable",
                hint="use identifiers that do not start with '_' (arq reserves those)",
            )


def _pickled(params: dict[str, Any], serializer: Callable[[Any], bytes] | None) -> bytes:
    """The params as arq will serialize them (pickle unless the client says otherwise)."""
    try:
        return serializer(params) if serializer else pickle.dumps(params, pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        # Nesting that check_depth cannot see (inside objects): the same limit, refused.
        raise too_deep("params") from None
    except Exception as error:
        raise WorkerError(
            f"the params cannot be serialized for arq: {type(error).__name__} "
            f"{shown(safe_str(error))}",
            hint="pass plain values (text, numbers, lists, dicts) the job can rebuild from",
        ) from None


def summarize(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the `Queued` event keeps of the parameters: scalars as they are, text cut to
    PARAM_TEXT_LIMIT characters, anything else as its cut repr (the job itself gets the
    full values); NUL and lone surrogates as U+FFFD, at most ITEMS_LIMIT params and
    SUMMARY_BYTES_LIMIT bytes (ledger.limits)."""
    return bounded_summary(params, text_limit=PARAM_TEXT_LIMIT, flat=True)
