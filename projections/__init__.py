"""Read models built from the ledger's events: runs index, run timeline, audit log, stats.

The read API (`MonitoringView`) is what the web app and the reconciler use; the
catch-up runner (`CatchUpRunner`) keeps the models current exactly once; `replay`
rebuilds them beside the live ones and swaps them in.
"""

from projections.projector import READ_MODELS, create_tables
from projections.queries import MonitoringView
from projections.rows import (
    AuditEntry,
    AuditPage,
    ReconcileCandidate,
    RunFilters,
    RunRow,
    RunsPage,
    StatsRow,
    TimelineEntry,
)

__all__ = [
    "READ_MODELS",
    "AuditEntry",
    "AuditPage",
    "MonitoringView",
    "ReconcileCandidate",
    "RunFilters",
    "RunRow",
    "RunsPage",
    "StatsRow",
    "TimelineEntry",
    "create_tables",
]
