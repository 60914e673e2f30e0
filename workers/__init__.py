"""The arq boundary: declaring operations, queueing runs, running tracked jobs.

Imports arq and redis; nothing in `ledger` or `projections` imports this package.
"""

from workers.client import RunClient
from workers.errors import (
    DuplicateOperationError,
    EnqueueFailedError,
    JobsModuleError,
    TimingViolationError,
    UnknownOperationError,
    UntrackedJobError,
    WorkerError,
)
from workers.execution import RUN_KEY, RunContext
from workers.operations import (
    JobOutcome,
    Operation,
    OperationRegistry,
    load_operations,
    operation,
    registry,
)
from workers.settings import QueueSettings
from workers.timing import SAFETY_MARGIN, TimingReport, Violation, check_timing
from workers.worker import LedgerWorker, build_worker

__all__ = [
    "RUN_KEY",
    "SAFETY_MARGIN",
    "DuplicateOperationError",
    "EnqueueFailedError",
    "JobOutcome",
    "JobsModuleError",
    "LedgerWorker",
    "Operation",
    "OperationRegistry",
    "QueueSettings",
    "RunClient",
    "RunContext",
    "TimingReport",
    "TimingViolationError",
    "UnknownOperationError",
    "UntrackedJobError",
    "Violation",
    "WorkerError",
    "build_worker",
    "check_timing",
    "load_operations",
    "operation",
    "registry",
]
