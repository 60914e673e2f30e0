"""runledger's domain: the OperationRun aggregate, its lifecycle and the RunLedger service.

This package imports no database driver, queue or web library: storage is chosen by
settings (eventsourcing loads its persistence module by name at run time).
"""

from ledger.application import RunLedger, Transition, utcnow
from ledger.codes import (
    Actor,
    EndedBy,
    Outcome,
    ReasonCode,
    RetryReason,
    RunStatus,
    default_outcome,
)
from ledger.commands import (
    CompleteRun,
    FailByQueue,
    ReconcileStale,
    RecordHeartbeat,
    RecordLateSignal,
    RunCommand,
    ScheduleRetry,
    StartRun,
)
from ledger.errors import (
    ConflictRetriesExhaustedError,
    IllegalTransitionError,
    LedgerError,
    PolicyError,
    RunNotFoundError,
    SettingsError,
    StoreUnavailableError,
)
from ledger.lifecycle import (
    Freshness,
    freshness,
    freshness_by,
    stale_at,
    stale_reason,
    stale_threshold,
)
from ledger.policy import OperationPolicy, policy_from_snapshot
from ledger.queueing import QueueRequest, QueueResult, run_id_for_key
from ledger.run import Effect, OperationRun, RunState
from ledger.settings import DATABASE_URL_VAR, DEFAULT_DATABASE_URL, DatabaseSettings

__all__ = [
    "DATABASE_URL_VAR",
    "DEFAULT_DATABASE_URL",
    "Actor",
    "CompleteRun",
    "ConflictRetriesExhaustedError",
    "DatabaseSettings",
    "Effect",
    "EndedBy",
    "FailByQueue",
    "Freshness",
    "IllegalTransitionError",
    "LedgerError",
    "OperationPolicy",
    "OperationRun",
    "Outcome",
    "PolicyError",
    "QueueRequest",
    "QueueResult",
    "ReasonCode",
    "ReconcileStale",
    "RecordHeartbeat",
    "RecordLateSignal",
    "RetryReason",
    "RunCommand",
    "RunLedger",
    "RunNotFoundError",
    "RunState",
    "RunStatus",
    "ScheduleRetry",
    "SettingsError",
    "StartRun",
    "StoreUnavailableError",
    "Transition",
    "default_outcome",
    "freshness",
    "freshness_by",
    "policy_from_snapshot",
    "run_id_for_key",
    "stale_at",
    "stale_reason",
    "stale_threshold",
    "utcnow",
]
