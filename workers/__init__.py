"""The arq boundary: declaring operations, queueing runs, running tracked jobs.

Imports arq and redis; nothing in `ledger` or `projections` imports this package. Its
names are loaded when first used, so that a process needing one module of it (the
committer process) does not import the rest.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from workers.settings import QueueSettings, WorkerSettings
    from workers.timing import SAFETY_MARGIN, TimingReport, Violation, check_timing
    from workers.worker import LedgerWorker, build_worker

_MODULES = {
    "RunClient": "workers.client",
    "DuplicateOperationError": "workers.errors",
    "EnqueueFailedError": "workers.errors",
    "JobsModuleError": "workers.errors",
    "TimingViolationError": "workers.errors",
    "UnknownOperationError": "workers.errors",
    "UntrackedJobError": "workers.errors",
    "WorkerError": "workers.errors",
    "RUN_KEY": "workers.execution",
    "RunContext": "workers.execution",
    "JobOutcome": "workers.operations",
    "Operation": "workers.operations",
    "OperationRegistry": "workers.operations",
    "load_operations": "workers.operations",
    "operation": "workers.operations",
    "registry": "workers.operations",
    "QueueSettings": "workers.settings",
    "WorkerSettings": "workers.settings",
    "SAFETY_MARGIN": "workers.timing",
    "TimingReport": "workers.timing",
    "Violation": "workers.timing",
    "check_timing": "workers.timing",
    "LedgerWorker": "workers.worker",
    "build_worker": "workers.worker",
}

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
    "WorkerSettings",
    "build_worker",
    "check_timing",
    "load_operations",
    "operation",
    "registry",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'workers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
