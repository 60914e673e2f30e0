"""The worker-to-committer wire: every command arrives exactly as it was sent, read by
the committer's side of a real pipe."""

from __future__ import annotations

import multiprocessing
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import cast

import pytest

from ledger import (
    CompleteRun,
    Effect,
    FailByQueue,
    Outcome,
    ReasonCode,
    ReconcileStale,
    RecordHeartbeat,
    RecordLateSignal,
    RunCommand,
    RunNotFoundError,
    RunState,
    RunStatus,
    ScheduleRetry,
    StartRun,
    Transition,
)
from workers.committer.server import Pipe
from workers.committer.wire import Committed, Refused, reply_of

AT = datetime(2026, 11, 27, 12, 30, 45, 123456, tzinfo=UTC)
RUN = uuid.UUID("7b0d4c8e-3f1a-4e62-9d5b-2c7e8f9a0b1c")

COMMANDS: list[RunCommand] = [
    StartRun(RUN, "worker:h:1", attempt=2, worker_id="h:1"),
    CompleteRun(
        RUN,
        "worker:h:1",
        attempt=1,
        reason_code=ReasonCode.JOB_PARTIALLY_SUCCEEDED,
        summary={"ok": 2, "nested": {"a": [1, 2.5, None]}},
    ),
    FailByQueue(RUN, "worker:h:1", attempt=3, reason_code=ReasonCode.QUEUE_TIMEOUT, error=None),
    ScheduleRetry(RUN, "worker:h:1", attempt=1, reason="retry.requested", defer_seconds=0.5),
    RecordHeartbeat(RUN, "worker:h:1", attempt=1, progress={"done": 3, "total": 10}),
    RecordLateSignal(RUN, "worker:h:1", signal="started", attempt=2, details={"why": "x"}),
    ReconcileStale(
        RUN,
        "reconciler:h:2",
        reason_code=ReasonCode.RECONCILER_QUEUE_RESULT,
        evidence={"arq": "result stored"},
        outcome=Outcome.FAILED,
        observed_last_activity_at=AT,
    ),
]


def received(batch: list[tuple[int, RunCommand, datetime]]) -> list[tuple[int, RunCommand]]:
    """What the committer's side holds to commit after the worker sent `batch`."""
    ours, theirs = multiprocessing.Pipe(duplex=True)
    pipe = Pipe(theirs)
    ours.send(batch)
    pipe.take(5.0)
    assert pipe.give_up_at is None  # still serving: not taken for the stop message
    ours.close()
    theirs.close()
    return pipe.backlog


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_each_command_type_arrives_equal_with_its_stamped_time(command: RunCommand) -> None:
    [(seq, arrived)] = received([(41, command, AT)])
    assert seq == 41
    assert arrived == replace(command, at=AT)
    assert arrived.at is not None and arrived.at.tzinfo is UTC
    assert type(arrived) is type(command)
    assert arrived.run_id == RUN and isinstance(arrived.run_id, uuid.UUID)


def test_a_batch_keeps_its_order_and_sequence_numbers() -> None:
    batch = [(n, command, AT) for n, command in enumerate(COMMANDS, start=100)]
    assert received(batch) == [(n, replace(command, at=AT)) for n, command, _ in batch]


@pytest.mark.parametrize(
    "at",
    [
        AT.astimezone(timezone(timedelta(hours=-5))),  # another zone: kept as it was
        AT.replace(tzinfo=None),  # naive: stays naive, not taken for UTC
    ],
    ids=["other-zone", "naive"],
)
def test_a_time_outside_utc_arrives_as_it_was_sent(at: datetime) -> None:
    command = StartRun(RUN, "worker:h:1", attempt=1, worker_id="h:1")
    [(_, arrived)] = received([(1, command, at)])
    assert arrived.at == at
    assert arrived.at is not None and arrived.at.tzinfo == at.tzinfo


@dataclass(frozen=True)
class UnlistedCommand(RunCommand):
    note: str = ""


def test_a_command_type_the_wire_does_not_list_still_travels_whole() -> None:
    command = UnlistedCommand(RUN, "someone", note="kept")
    [(seq, arrived)] = received([(7, command, AT)])
    assert (seq, arrived) == (7, replace(command, at=AT))


def test_an_empty_batch_is_not_the_stop_message() -> None:
    # The committer stops on None; a batch with nothing in it never is the stop message.
    assert received([]) == []
    ours, theirs = multiprocessing.Pipe(duplex=True)
    pipe = Pipe(theirs)
    ours.send(None)
    assert not pipe.take(5.0)
    assert pipe.give_up_at is not None


def test_a_reply_is_what_the_worker_reads_and_a_refusal_is_its_own_kind() -> None:
    run = SimpleNamespace(status=RunStatus.COMPLETED, reason_code=ReasonCode.JOB_SUCCEEDED)
    first = reply_of(Transition(COMMANDS[0], Effect.APPLIED, cast("RunState", run)))
    assert type(first.reason_code) is str  # the plain value, not the enum, travels
    assert first == Committed(Effect.APPLIED, RunStatus.COMPLETED, "job.succeeded")
    refused = reply_of(RunNotFoundError(RUN))
    assert refused == Refused("RunNotFoundError", f"no run with id {RUN}")
    assert not isinstance(refused, Committed)
