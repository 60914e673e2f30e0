"""What queueing a run takes: one request value, its checks, and the run it creates."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.codes import Actor
from ledger.limits import check_name
from ledger.policy import OperationPolicy
from ledger.run import OperationRun
from ledger.summaries import bounded_summary, is_plain

# Run ids derived from idempotency keys live in their own uuid5 namespace.
IDEMPOTENCY_NAMESPACE = UUID("6f4f8d1e-2a53-5b7c-9a43-0c5d7e1f9b21")


def run_id_for_key(workspace: str, operation_type: str, idempotency_key: str) -> UUID:
    """The run id an idempotency key stands for, within one workspace and operation type."""
    return uuid.uuid5(
        IDEMPOTENCY_NAMESPACE, f"{workspace}\x1f{operation_type}\x1f{idempotency_key}"
    )


@dataclass(frozen=True, kw_only=True)
class QueueRequest:
    """One run to queue: what `RunLedger.queue` and `queue_many` take, and what
    `RunClient` builds from each enqueue."""

    operation_type: str
    workspace: str
    policy: OperationPolicy
    initiator: str = Actor.SYSTEM
    params_summary: dict[str, Any] | None = None
    idempotency_key: str | None = None
    actor: str = Actor.SYSTEM
    at: datetime | None = None  # None: the ledger's clock, when it is saved
    queue_name: str | None = None


@dataclass(frozen=True)
class QueueResult:
    run_id: UUID
    created: bool  # False: the idempotency key named a run that already existed


def queued_run(request: QueueRequest, clock: Callable[[], datetime]) -> OperationRun:
    """A new run holding its pending `Queued`, once the request's names pass the checks.

    Refuses (InputRefusedError) a name no store can hold or no one can read (blank,
    past NAME_LIMIT, a NUL or a lone surrogate: ledger.limits, whose full rule the
    client applies); the params summary is stored cleaned and cut to its limits."""
    for what, name in (
        ("workspace", request.workspace),
        ("operation type", request.operation_type),
        ("initiator", request.initiator),
        ("actor", request.actor),
        ("idempotency key", request.idempotency_key),
    ):
        if name is not None:
            check_name(what, name, strict=False)
    summary = request.params_summary
    if summary and not is_plain(summary):
        summary = bounded_summary(summary)
    key = request.idempotency_key
    if key is not None:
        run_id = run_id_for_key(request.workspace, request.operation_type, key)
    else:
        run_id = uuid.uuid4()
    return OperationRun.queue(
        run_id=run_id,
        workspace=request.workspace,
        operation_type=request.operation_type,
        policy=request.policy,
        actor=request.actor,
        at=request.at or clock(),
        initiator=request.initiator,
        params_summary=summary,
        idempotency_key=key,
        queue_name=request.queue_name,
    )
