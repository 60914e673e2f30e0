"""What a command did to a run, and a read-only copy of a run's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from ledger.codes import EndedBy, Outcome, ReasonCode, RunStatus
from ledger.lifecycle import stale_at
from ledger.policy import OperationPolicy


class Effect(StrEnum):
    """What a command did to a run."""

    APPLIED = "applied"  # a state-changing event was appended
    UNCHANGED = "unchanged"  # a duplicate or superseded signal: nothing appended
    LATE = "late"  # the run had already ended: the signal was recorded, state unchanged


@dataclass(frozen=True)
class RunState:
    """A read-only copy of a run's state, safe to hand across threads."""

    id: UUID
    workspace: str
    operation_type: str
    initiator: str
    policy: OperationPolicy
    status: RunStatus
    outcome: Outcome | None
    ended_by: EndedBy | None
    reason_code: ReasonCode | None
    attempts: int
    queued_at: datetime
    started_at: datetime | None
    last_activity_at: datetime
    completed_at: datetime | None
    version: int
    summary: dict[str, Any] = field(default_factory=dict)
    queue_name: str | None = None  # the arq queue of its job; None: the reader's own

    @property
    def is_terminal(self) -> bool:
        return self.status is RunStatus.COMPLETED

    @property
    def stale_at(self) -> datetime | None:
        """When the run turns stale if nothing happens (the runs index stores the same)."""
        return stale_at(self.status, self.last_activity_at, self.policy)
