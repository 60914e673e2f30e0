"""RunClient: how applications queue tracked runs.

`enqueue` appends `Queued` first, then enqueues the arq job with the run id as its job
id. A run whose enqueue fails is therefore never lost: it stays visible as queued (the
caller gets EnqueueFailedError naming it) and is healed by a repeated enqueue with the
same idempotency key, or by the reconciler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from ledger import Actor, DatabaseSettings, RunLedger, RunNotFoundError
from workers.errors import EnqueueFailedError, WorkerError
from workers.operations import OperationRegistry, load_operations, registry
from workers.settings import QueueSettings, jobs_from_env

SUMMARY_TEXT_LIMIT = 200


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
        (and re-enqueues its job if an earlier enqueue failed)."""
        declared = self.operations.get(operation_type)
        kwargs = dict(params or {})
        _check_params(kwargs)
        queued = await asyncio.to_thread(
            self.ledger.queue,
            operation_type=operation_type,
            workspace=workspace,
            policy=declared.policy,
            initiator=initiator,
            params_summary=summarize(kwargs),
            idempotency_key=idempotency_key,
            actor=initiator,
            queue_name=self.queue_name,
        )
        if not queued.created and await self._is_terminal(queued.run_id):
            return queued.run_id  # that run is over: never run its job again
        try:
            # None when the job (or its result) already exists: the same run, nothing to do.
            await self.redis.enqueue_job(
                operation_type,
                _job_id=str(queued.run_id),
                _queue_name=self.queue_name,
                _defer_by=defer_by,
                _expires=expires,
                **kwargs,
            )
        except (RedisError, OSError) as error:
            raise EnqueueFailedError(queued.run_id, error) from error
        return queued.run_id

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
                f"parameter name {key!r} is not usable",
                hint="use identifiers that do not start with '_' (arq reserves those)",
            )


def summarize(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the `Queued` event keeps of the parameters: scalars as they are, long text
    cut, anything else as its truncated repr (the job itself gets the full values)."""
    summary: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or isinstance(value, (bool, int, float)):
            summary[key] = value
        else:
            text = value if isinstance(value, str) else repr(value)
            cut = len(text) > SUMMARY_TEXT_LIMIT
            summary[key] = text[:SUMMARY_TEXT_LIMIT] + ("…" if cut else "")
    return summary
