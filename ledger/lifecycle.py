"""Lifecycle rules as pure functions of a run's timestamps, its policy and `now`.

Freshness needs no event: a queued or running run is stale once its last sign of life
(start, heartbeat, retry; the queued time for a run that never started) is older than
its policy's threshold for that status.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from ledger.codes import ReasonCode, RunStatus
from ledger.policy import OperationPolicy


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"


def stale_threshold(status: RunStatus, policy: OperationPolicy) -> float | None:
    """Seconds without a sign of life after which a run in `status` is stale."""
    if status is RunStatus.QUEUED:
        return policy.stale_queued_after
    if status is RunStatus.RUNNING:
        return policy.stale_running_after
    return None


def stale_at(
    status: RunStatus, last_activity_at: datetime, policy: OperationPolicy
) -> datetime | None:
    """When the run turns stale if nothing happens; None for a completed run."""
    threshold = stale_threshold(status, policy)
    if threshold is None:
        return None
    return last_activity_at + timedelta(seconds=threshold)


def freshness(
    status: RunStatus, last_activity_at: datetime, policy: OperationPolicy, now: datetime
) -> Freshness | None:
    """`fresh` or `stale` for a queued or running run; None for a completed one."""
    return freshness_by(stale_at(status, last_activity_at, policy), now)


def freshness_by(deadline: datetime | None, now: datetime) -> Freshness | None:
    """Freshness from a run's `stale_at` (None once completed): stale from that moment on."""
    if deadline is None:
        return None
    return Freshness.STALE if now >= deadline else Freshness.FRESH


def stale_reason(status: RunStatus) -> ReasonCode:
    """The reason the reconciler gives a run it heals past the threshold."""
    if status is RunStatus.QUEUED:
        return ReasonCode.RECONCILER_STALE_QUEUED
    if status is RunStatus.RUNNING:
        return ReasonCode.RECONCILER_STALE_RUNNING
    raise ValueError(f"a {status} run is never stale")
