"""Errors of the arq boundary. Each is a LedgerError so the CLI prints it as one line."""

from __future__ import annotations

from uuid import UUID

from ledger import LedgerError


class WorkerError(LedgerError):
    """Base class of the worker integration's errors."""


class UnknownOperationError(WorkerError):
    def __init__(self, operation_type: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"unknown operation type {operation_type!r} (known: {listed})",
            hint="declare it with @operation in a module named by --jobs or RUNLEDGER_JOBS",
        )
        self.operation_type = operation_type


class JobsModuleError(WorkerError):
    """The jobs module cannot be imported, or declares no operation."""


class DuplicateOperationError(WorkerError):
    """Two different functions were declared under one operation type."""


class EnqueueFailedError(WorkerError):
    """The run was recorded as queued, but arq could not take its job."""

    def __init__(self, run_id: UUID, cause: BaseException) -> None:
        first = (str(cause).strip() or type(cause).__name__).splitlines()[0]
        super().__init__(
            f"run {run_id} is recorded as queued, but its job could not be enqueued: {first}",
            hint="check RUNLEDGER_REDIS_URL and that Redis is running; enqueue again with the "
            "same idempotency key, or the reconciler will resolve the run as job_lost",
        )
        self.run_id = run_id


class UntrackedJobError(WorkerError):
    """An operation's arq job has no run in the ledger (it bypassed RunClient)."""

    def __init__(self, job_id: str, operation_type: str) -> None:
        super().__init__(
            f"job {job_id} of {operation_type!r} has no run in the ledger",
            hint="enqueue operations through RunClient or `runledger enqueue`",
        )
        self.job_id = job_id
        self.operation_type = operation_type

    def __reduce__(self) -> tuple[type[UntrackedJobError], tuple[str, str]]:
        # arq pickles the exception into the job's stored result: keep it loadable.
        return (UntrackedJobError, (self.job_id, self.operation_type))


class TimingViolationError(WorkerError):
    """The operations' timing policies disagree with arq's redelivery window."""
