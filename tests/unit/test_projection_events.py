"""The read models' fast JSON decoding agrees with eventsourcing's mapper, event by event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

from eventsourcing.application import Application

from ledger import OperationPolicy, OperationRun, ReasonCode
from projections.db import iso_utc
from projections.events import KINDS, decode, kind_of
from projections.runs_index import fold

AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
W = "worker:h:1"


def every_event() -> list[object]:
    run = OperationRun.queue(
        run_id=uuid4(),
        workspace="acme",
        operation_type="t",
        policy=OperationPolicy(timeout=9),
        actor="system",
        at=AT,
        params_summary={"k": 1},
    )
    run.start(attempt=1, worker_id=W, actor=W, at=AT)
    run.heartbeat(attempt=1, progress={"done": 1}, actor=W, at=AT)
    run.schedule_retry(
        attempt=1, reason="retry.requested", defer_seconds=1, error=None, actor=W, at=AT
    )
    run.start(attempt=2, worker_id=W, actor=W, at=AT)
    run.reconcile_stale(
        reason_code=ReasonCode.RECONCILER_STALE_RUNNING,
        evidence={"seen": AT},
        actor="reconciler",
        at=AT,
    )
    run.complete(attempt=2, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=W, at=AT)
    events = list(run.collect_events())
    # A run ends once: the job ends a second run, the queue a third.
    for ending in ("job", "queue"):
        other = OperationRun.queue(
            run_id=uuid4(),
            workspace="acme",
            operation_type="t",
            policy=OperationPolicy(timeout=9),
            actor="system",
            at=AT,
        )
        other.start(attempt=1, worker_id=W, actor=W, at=AT)
        if ending == "job":
            code = ReasonCode.JOB_PARTIALLY_SUCCEEDED
            other.complete(attempt=1, reason_code=code, summary={"n": 1}, actor=W, at=AT)
        else:
            code = ReasonCode.QUEUE_TIMEOUT
            other.fail_by_queue(attempt=1, reason_code=code, error="TimeoutError()", actor=W, at=AT)
        events += list(other.collect_events())[2:]
    return events


def test_every_event_type_decodes_to_the_mappers_fields() -> None:
    mapper = Application().mapper
    events = every_event()
    assert {type(e) for e in events} == set(KINDS)
    for n, event in enumerate(events, start=1):
        stored = mapper.to_stored_event(event)  # type: ignore[arg-type]
        ours = decode(
            n, stored.originator_id, stored.originator_version, stored.topic, stored.state
        )
        theirs = mapper.to_domain_event(stored)
        assert ours.kind == KINDS[type(theirs)] and ours.run_id == str(theirs.originator_id)
        assert ours.at == iso_utc(theirs.timestamp) and ours.at.endswith("+00:00")
        assert ours.actor == theirs.actor  # type: ignore[attr-defined]
        for key, value in ours.data.items():
            # Nested wrapped values (here a datetime in evidence) arrive JSON-native.
            assert value == json.loads(json.dumps(getattr(theirs, key), default=_native))


def _native(value: object) -> str:
    assert isinstance(value, datetime)
    return value.isoformat()


def test_a_version_1_heartbeat_without_progress_is_upcast() -> None:
    state = json.dumps(
        {
            "timestamp": {"_type_": "datetime_iso", "_data_": AT.isoformat()},
            "actor": W,
            "attempt": 1,
        }
    ).encode()
    event = decode(3, uuid4(), 3, "ledger.run:OperationRun.Heartbeat", state)
    assert event.kind == "heartbeat" and event.data["progress"] == {}
    assert event.at == AT.astimezone(UTC).isoformat(timespec="microseconds")


def test_a_version_1_queued_event_without_a_queue_name_is_upcast() -> None:
    state = json.dumps(
        {
            "timestamp": {"_type_": "datetime_iso", "_data_": AT.isoformat()},
            "actor": "system",
            "workspace": "acme",
            "operation_type": "inventory.sync",
            "initiator": "system",
            "params_summary": {},
            "policy": {"timeout": 30},
            "idempotency_key": None,
            "originator_topic": "ledger.run:OperationRun",
        }
    ).encode()
    event = decode(1, uuid4(), 1, "ledger.run:OperationRun.Queued", state)
    assert event.kind == "queued" and event.data["queue_name"] is None


def test_an_unknown_event_type_is_kept_but_changes_no_run() -> None:
    assert kind_of("ledger.run:OperationRun.Paused") == "paused"
    mapper = Application().mapper
    queued = mapper.to_stored_event(every_event()[0])  # type: ignore[arg-type]
    run = fold(None, decode(1, queued.originator_id, 1, queued.topic, queued.state))
    state = json.dumps(
        {"timestamp": {"_type_": "datetime_iso", "_data_": AT.isoformat()}, "actor": W}
    ).encode()
    paused = decode(2, queued.originator_id, 2, "ledger.run:OperationRun.Paused", state)
    assert run is not None and fold(run, paused) is run and run.status == "queued"
    assert run.version == 2  # the next event of the run is still folded in
