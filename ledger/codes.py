"""The stable vocabulary of the run lifecycle: statuses, outcomes, who ended a run and why.

These strings are part of runledger's contract: they are stored in events, shown in the
UI and API, and matched by operators' alerts. Never rename a value.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EndedBy(StrEnum):
    JOB = "job"
    QUEUE = "queue"
    RECONCILER = "reconciler"


class ReasonCode(StrEnum):
    JOB_SUCCEEDED = "job.succeeded"
    JOB_PARTIALLY_SUCCEEDED = "job.partially_succeeded"
    JOB_FAILED = "job.failed"
    JOB_EXCEPTION = "job.exception"
    QUEUE_TIMEOUT = "queue.timeout"
    QUEUE_MAX_TRIES_EXCEEDED = "queue.max_tries_exceeded"
    QUEUE_EXPIRED = "queue.expired"
    QUEUE_ABORTED = "queue.aborted"
    QUEUE_WORKER_SHUTDOWN = "queue.worker_shutdown"
    QUEUE_FUNCTION_MISSING = "queue.function_missing"
    QUEUE_DESERIALIZE_ERROR = "queue.deserialize_error"
    RECONCILER_STALE_QUEUED = "reconciler.stale_queued"
    RECONCILER_STALE_RUNNING = "reconciler.stale_running"
    RECONCILER_JOB_LOST = "reconciler.job_lost"
    RECONCILER_QUEUE_RESULT = "reconciler.queue_result"

    @property
    def ended_by(self) -> EndedBy:
        """Who ends a run with this reason: the prefix of the code says it."""
        return EndedBy(self.value.split(".", 1)[0])


class RetryReason(StrEnum):
    """Why the queue will run a job again (`RetryScheduled.reason`). Not a reason code: a
    retry ends nothing, so its prefix is `retry.`, never `job.`, `queue.` or `reconciler.`."""

    REQUESTED = "retry.requested"  # the job raised arq's Retry
    CANCELLED = "retry.cancelled"  # cancelled outside shutdown, timeout and abort
    WORKER_SHUTDOWN = "retry.worker_shutdown"  # the worker stopped while the job ran


# What RetryScheduled v1 stored, before retries had a vocabulary of their own.
_V1_RETRY_REASONS = {
    "job.retry": RetryReason.REQUESTED,
    "job.cancelled": RetryReason.CANCELLED,
    "queue.worker_shutdown": RetryReason.WORKER_SHUTDOWN,
}


def upcast_retry_reason(reason: str) -> str:
    """A stored retry reason in today's words; one this version does not know is kept."""
    return _V1_RETRY_REASONS.get(reason, reason)


JOB_REASONS = frozenset(r for r in ReasonCode if r.ended_by is EndedBy.JOB)
QUEUE_REASONS = frozenset(r for r in ReasonCode if r.ended_by is EndedBy.QUEUE)
RECONCILER_REASONS = frozenset(r for r in ReasonCode if r.ended_by is EndedBy.RECONCILER)

# The outcome each reason implies. `reconciler.queue_result` is absent: the outcome is
# whatever arq's stored result says, so the caller must state it.
_DEFAULT_OUTCOMES: dict[ReasonCode, Outcome] = {
    ReasonCode.JOB_SUCCEEDED: Outcome.SUCCEEDED,
    ReasonCode.JOB_PARTIALLY_SUCCEEDED: Outcome.PARTIALLY_SUCCEEDED,
    ReasonCode.JOB_FAILED: Outcome.FAILED,
    ReasonCode.JOB_EXCEPTION: Outcome.FAILED,
    ReasonCode.QUEUE_TIMEOUT: Outcome.FAILED,
    ReasonCode.QUEUE_MAX_TRIES_EXCEEDED: Outcome.FAILED,
    ReasonCode.QUEUE_EXPIRED: Outcome.FAILED,
    ReasonCode.QUEUE_ABORTED: Outcome.CANCELLED,
    ReasonCode.QUEUE_WORKER_SHUTDOWN: Outcome.FAILED,
    ReasonCode.QUEUE_FUNCTION_MISSING: Outcome.FAILED,
    ReasonCode.QUEUE_DESERIALIZE_ERROR: Outcome.FAILED,
    ReasonCode.RECONCILER_STALE_QUEUED: Outcome.FAILED,
    ReasonCode.RECONCILER_STALE_RUNNING: Outcome.FAILED,
    ReasonCode.RECONCILER_JOB_LOST: Outcome.FAILED,
}


def default_outcome(reason: ReasonCode) -> Outcome | None:
    """The outcome a reason implies, or None when the caller must say (queue_result)."""
    return _DEFAULT_OUTCOMES.get(reason)


class Actor:
    """Builders for the `actor` every event carries."""

    RECONCILER = "reconciler"
    SYSTEM = "system"

    @staticmethod
    def worker(host: str, pid: int) -> str:
        return f"worker:{host}:{pid}"

    @staticmethod
    def operator(name: str) -> str:
        return f"operator:{name}"


def is_valid_actor(actor: str) -> bool:
    """True for the contract's actor forms: worker:HOST:PID, reconciler, operator:NAME, system."""
    if actor in (Actor.RECONCILER, Actor.SYSTEM):
        return True
    kind, _, rest = actor.partition(":")
    if kind == "operator":
        return bool(rest)
    if kind == "worker":
        host, _, pid = rest.rpartition(":")
        return bool(host) and pid.isdigit()
    return False
