"""Read models built from the ledger's events: runs index, timeline, audit log, stats, activity.

The read API (`MonitoringView`) is what the web app and the reconciler use; the
catch-up runner (`CatchUpRunner`) keeps the models current exactly once; `replay`
rebuilds them beside the live ones and swaps them in.
"""

from projections.errors import InvalidCursorError, ReadRequestError
from projections.projector import READ_MODELS, create_tables
from projections.queries import DEFAULT_LIMIT, MAX_LIMIT, MonitoringView, clamp_limit
from projections.rows import (
    ActivityBucket,
    AuditEntry,
    AuditFilters,
    AuditPage,
    Counts,
    ReconcileCandidate,
    RunFilters,
    RunRow,
    RunsPage,
    StatsRow,
    TimelineEntry,
    TimelinePage,
)
from projections.scope import EVERY_WORKSPACE, Scope

__all__ = [
    "DEFAULT_LIMIT",
    "EVERY_WORKSPACE",
    "MAX_LIMIT",
    "READ_MODELS",
    "ActivityBucket",
    "AuditEntry",
    "AuditFilters",
    "AuditPage",
    "Counts",
    "InvalidCursorError",
    "MonitoringView",
    "ReadRequestError",
    "ReconcileCandidate",
    "RunFilters",
    "RunRow",
    "RunsPage",
    "Scope",
    "StatsRow",
    "TimelineEntry",
    "TimelinePage",
    "clamp_limit",
    "create_tables",
]
