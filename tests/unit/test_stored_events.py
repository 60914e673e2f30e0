"""Events stored by earlier versions still read: their topics, and RetryScheduled v1."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ledger import OperationPolicy, OperationRun, ReasonCode, RetryReason
from ledger.codes import upcast_retry_reason
from projections.events import KINDS, decode
from web.ui.timeline import steps

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
W = "worker:h:1"


def retried_run() -> OperationRun:
    run = OperationRun.queue(
        run_id=uuid4(),
        workspace="acme",
        operation_type="t",
        policy=OperationPolicy(timeout=9),
        actor="system",
        at=AT,
    )
    run.start(attempt=1, worker_id=W, actor=W, at=AT)
    run.schedule_retry(
        attempt=1, reason=RetryReason.REQUESTED, defer_seconds=2, error=None, actor=W, at=AT
    )
    return run


def as_v1(stored: StoredEvent, reason: str) -> StoredEvent:
    """The same RetryScheduled as version 1 wrote it: no class_version, a v1 reason."""
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    state["reason"] = reason
    return replace(stored, state=json.dumps(state).encode())


def test_every_event_keeps_the_topic_stored_events_name() -> None:
    for cls in KINDS:
        assert get_topic(cls) == f"ledger.run:OperationRun.{cls.__name__}"


def test_an_event_stored_under_its_topic_reads_back() -> None:
    mapper: Mapper[UUID] = Application().mapper
    started = retried_run().collect_events()[1]
    stored = mapper.to_stored_event(started)
    assert stored.topic == "ledger.run:OperationRun.Started"
    event = mapper.to_domain_event(stored)
    assert isinstance(event, OperationRun.Started) and event.attempt == 1


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        ("job.retry", RetryReason.REQUESTED),
        ("job.cancelled", RetryReason.CANCELLED),
        ("queue.worker_shutdown", RetryReason.WORKER_SHUTDOWN),
        ("something.else", "something.else"),  # unknown: kept as it was
    ],
)
def test_a_version_1_retry_reason_reads_back_in_todays_vocabulary(v1: str, v2: str) -> None:
    mapper: Mapper[UUID] = Application().mapper
    retry = retried_run().collect_events()[-1]
    stored = as_v1(mapper.to_stored_event(retry), v1)
    event = mapper.to_domain_event(stored)
    assert isinstance(event, OperationRun.RetryScheduled) and event.reason == v2
    # The read models' decoder (projector and replay) upcasts the same way.
    decoded = decode(2, stored.originator_id, 3, stored.topic, stored.state)
    assert decoded.kind == "retry_scheduled" and decoded.data["reason"] == v2


def test_a_version_2_retry_reason_is_stored_as_written() -> None:
    mapper: Mapper[UUID] = Application().mapper
    stored = mapper.to_stored_event(retried_run().collect_events()[-1])
    assert json.loads(stored.state)["reason"] == "retry.requested"
    assert decode(2, stored.originator_id, 3, stored.topic, stored.state).data["reason"] == (
        "retry.requested"
    )


def test_retry_reasons_cannot_be_mistaken_for_reason_codes() -> None:
    codes = {str(code) for code in ReasonCode}
    prefixes = {code.split(".", 1)[0] for code in codes}
    for reason in RetryReason:
        assert reason not in codes and reason.split(".", 1)[0] not in prefixes
        assert upcast_retry_reason(reason) == reason


def test_a_retry_scheduled_with_an_unknown_reason_is_refused() -> None:
    run = retried_run()
    with pytest.raises(ValueError, match="RetryReason"):
        run.schedule_retry(
            attempt=2, reason="job.retry", defer_seconds=0, error=None, actor=W, at=AT
        )


def test_a_timeline_row_projected_before_the_upgrade_reads_like_a_new_one() -> None:
    def note(reason: str) -> str | None:
        entry = {"version": 3, "event": "retry_scheduled", "at": AT.isoformat(), "actor": W}
        details = {"attempt": 1, "reason": reason, "defer_seconds": 0}
        return steps([{**entry, "details": details}])[0].note

    assert note("job.retry") == note("retry.requested") == "the job asked for a retry"
