"""The stale-run reconciler: finds runs orphaned in queued or running and resolves them.

One pass:
1. asks the runs index for active runs idle past the enqueue grace (an indexed query over
   non-completed runs only, so the cost follows the number of stale runs, not all runs);
2. reloads each run from the event store (the read model can lag) and reads arq's record
   of its job from Redis, all of them in one pipeline;
3. decides per run (workers.reconcile_rules.decide) and appends `ReconciledStale` for the
   runs to heal, many per transaction. Each command carries the last activity it saw, so
   a run that shows a sign of life meanwhile, or that another reconciler or a late worker
   ends first, is left alone: optimistic concurrency leaves exactly one terminal event;
4. removes the healed runs' jobs still waiting in arq, so they are not picked up (a worker
   that picks one up anyway finds the run terminal and does not execute it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)
from arq.jobs import DeserializationError, deserialize_result
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from ledger import (
    Actor,
    Effect,
    ReconcileStale,
    RunLedger,
    RunState,
    Transition,
    default_outcome,
    utcnow,
)
from ledger.limits import clean_text
from workers.reconcile_rules import (
    DEFAULT_GRACE_SECONDS,
    Action,
    ArqEvidence,
    ArqJobState,
    Decision,
    decide,
)
from workers.timing import ARQ_REDELIVERY_EXTRA, SAFETY_MARGIN

log = logging.getLogger(__name__)
# No threshold the timing guard accepts is shorter: arq's redelivery extra + the margin.
MIN_STALE_THRESHOLD = ARQ_REDELIVERY_EXTRA + SAFETY_MARGIN
COMMIT_BATCH = 100


class CandidateRow(Protocol):
    @property
    def run_id(self) -> UUID | str: ...


class CandidateSource(Protocol):
    """The runs index query the reconciler needs (projections implement it)."""

    def reconcile_candidates(self, idle_since: datetime, limit: int) -> Sequence[CandidateRow]: ...


@dataclass(frozen=True)
class Healed:
    run_id: UUID
    reason_code: str
    outcome: str
    previous_status: str
    arq_job_state: str
    applied: bool  # False when a concurrent writer got there first (or in a dry run)


@dataclass
class ReconcileReport:
    dry_run: bool
    checked: int = 0
    healed: list[Healed] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    jobs_removed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "checked": self.checked,
            "healed": [
                {
                    "run_id": str(h.run_id),
                    "reason_code": h.reason_code,
                    "outcome": h.outcome,
                    "previous_status": h.previous_status,
                    "arq_job_state": h.arq_job_state,
                    "applied": h.applied,
                }
                for h in self.healed
            ],
            "skipped": dict(self.skipped),
            "jobs_removed": self.jobs_removed,
        }


class Reconciler:
    def __init__(
        self,
        ledger: RunLedger,
        candidates: CandidateSource,
        redis: Redis,
        *,
        queue_name: str = default_queue_name,
        grace: float = DEFAULT_GRACE_SECONDS,
        page_size: int = 5000,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.candidates = candidates
        self.redis = redis
        self.queue_name = queue_name
        self.grace = grace
        self.page_size = page_size
        self.clock = clock
        self.identity = f"{socket.gethostname()}:{os.getpid()}"

    async def run_once(self, *, dry_run: bool = False) -> ReconcileReport:
        """One pass over the stale candidates; with dry_run, decides but appends nothing."""
        now = self.clock()
        report = ReconcileReport(dry_run=dry_run)
        # Every run past its threshold must be a candidate even when the grace is longer
        # than that threshold; the timing guard keeps thresholds above MIN_STALE_THRESHOLD.
        idle_since = now - timedelta(seconds=min(self.grace, MIN_STALE_THRESHOLD))
        rows = await asyncio.to_thread(
            self.candidates.reconcile_candidates, idle_since, self.page_size
        )
        states = await asyncio.to_thread(self._load, [UUID(str(r.run_id)) for r in rows])
        report.checked = len(states)
        # Each run's job is looked for in the queue it was sent to (its Queued event says),
        # so a reconciler of one queue never takes another queue's waiting job for lost.
        queues = {str(s.id): s.queue_name or self.queue_name for s in states}
        evidence = await inspect_jobs(self.redis, queues)
        heals: list[tuple[RunState, Decision]] = []
        for state in states:
            decision = decide(state, evidence[str(state.id)], now, self.grace)
            if decision.action is Action.SKIP:
                report.skipped[decision.why] = report.skipped.get(decision.why, 0) + 1
            else:
                decision.evidence.update(checked_at=now.isoformat(), reconciler=self.identity)
                heals.append((state, decision))
        applied = set() if dry_run else await asyncio.to_thread(self._append, heals, now)
        report.healed = [_healed(state, decision, state.id in applied) for state, decision in heals]
        waiting = {
            str(h.run_id): queues[str(h.run_id)]
            for h in report.healed
            if h.applied and h.arq_job_state in (ArqJobState.QUEUED, ArqJobState.DEFERRED)
        }
        report.jobs_removed = await remove_waiting_jobs(self.redis, waiting)
        if applied:
            log.info("reconciled %d stale runs (%d checked)", len(applied), report.checked)
        return report

    def _load(self, run_ids: list[UUID]) -> list[RunState]:
        """The candidates' states from the event store, in bulk where the ledger can: a
        backlog waiting in Redis makes thousands of candidates a pass, and one read each
        took a PostgreSQL pass of 2,164 of them to its timeout (docs/reliability.md)."""
        states = self.ledger.states(run_ids)
        found = {state.id for state in states}
        for run_id in run_ids:
            if run_id not in found:  # a read model of another ledger; nothing to heal
                log.warning("run %s is in the runs index but not in the event store", run_id)
        return states

    def _append(self, decisions: list[tuple[RunState, Decision]], now: datetime) -> set[UUID]:
        commands = [
            ReconcileStale(
                state.id,
                Actor.RECONCILER,
                reason_code=decision.reason_code,  # type: ignore[arg-type]
                evidence=decision.evidence,
                outcome=decision.outcome,
                observed_last_activity_at=state.last_activity_at,
                at=now,
            )
            for state, decision in decisions
        ]
        applied: set[UUID] = set()
        for start in range(0, len(commands), COMMIT_BATCH):
            for result in self.ledger.execute_many(commands[start : start + COMMIT_BATCH]):
                if isinstance(result, Transition) and result.effect is Effect.APPLIED:
                    applied.add(result.command.run_id)
                elif isinstance(result, Exception):
                    log.error("could not reconcile a run: %s", result)
        return applied


def _healed(state: RunState, decision: Decision, applied: bool) -> Healed:
    assert decision.reason_code is not None
    return Healed(
        run_id=state.id,
        reason_code=str(decision.reason_code),
        outcome=str(decision.outcome or default_outcome(decision.reason_code)),
        previous_status=str(state.status),
        arq_job_state=str(decision.evidence["arq_job_state"]),
        applied=applied,
    )


async def inspect_jobs(redis: Redis, queues: Mapping[str, str]) -> dict[str, ArqEvidence]:
    """arq's record of many jobs (job id -> its queue), read in one pipeline (as arq's
    Job.status() reads one)."""
    job_ids = list(queues)
    if not job_ids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.exists(result_key_prefix + job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            pipe.zscore(queues[job_id], job_id)
        values = await pipe.execute()
    now_ms = timestamp_ms()
    states: dict[str, ArqJobState] = {}
    for index, job_id in enumerate(job_ids):
        has_result, in_progress, score = values[3 * index : 3 * index + 3]
        if has_result:
            states[job_id] = ArqJobState.COMPLETE
        elif in_progress:
            states[job_id] = ArqJobState.IN_PROGRESS
        elif score:
            states[job_id] = ArqJobState.DEFERRED if score > now_ms else ArqJobState.QUEUED
        else:
            states[job_id] = ArqJobState.NOT_FOUND
    complete = [j for j, s in states.items() if s is ArqJobState.COMPLETE]
    raw_results = await redis.mget([result_key_prefix + j for j in complete]) if complete else []
    results = {j: _summarize_result(raw) for j, raw in zip(complete, raw_results, strict=True)}
    return {j: ArqEvidence(s, results.get(j)) for j, s in states.items()}


def _summarize_result(raw: bytes | None) -> dict[str, Any]:
    if raw is None:  # expired between the two reads
        return {"success": False, "error": "result expired while reading"}
    try:
        result = deserialize_result(raw)
    except DeserializationError as error:
        return {"success": False, "error": f"undecodable result: {error}"}
    summary: dict[str, Any] = {
        "success": result.success,
        "function": result.function,
        "job_try": result.job_try,
        "start_time": result.start_time.isoformat(),
        "finish_time": result.finish_time.isoformat(),
    }
    if not result.success:
        # Cleaned as every stored text is: a NUL would stop the projector on PostgreSQL.
        summary["error"] = clean_text(f"{type(result.result).__name__}: {result.result}", 500)
    return summary


async def remove_waiting_jobs(redis: Redis, queues: Mapping[str, str]) -> int:
    """Takes jobs of healed runs (job id -> its queue) out of arq's queues; returns how
    many were still there."""
    if not queues:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        for job_id, queue_name in queues.items():
            pipe.zrem(queue_name, job_id)
            pipe.delete(job_key_prefix + job_id)
        values = await pipe.execute()
    return sum(1 for removed in values[0::2] if removed)
