"""GroupCommitter batching and outage handling, over a hand-written fake ledger."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import OperationalError, ProgrammingError

from ledger import (
    Effect,
    GroupCommitter,
    RunCommand,
    RunLedger,
    StartRun,
    StoreUnavailableError,
    Transition,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeLedger(RunLedger):
    """Records batches; fails the first `outages` calls with a store error."""

    def __init__(self, outages: int = 0, error: Exception | None = None) -> None:
        self.clock = lambda: NOW
        self.outages = outages
        self.error = error or OperationalError("server closed the connection")
        self.calls = 0
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def execute_many(self, commands: Sequence[RunCommand]) -> list[Transition | Exception]:
        self.gate.wait()
        self.calls += 1
        if self.calls <= self.outages:
            raise self.error
        self.batches.append(len(commands))
        return [Transition(c, Effect.APPLIED, None) for c in commands]  # type: ignore[arg-type]

    def __del__(self) -> None:  # no application to close
        pass


def start(n: int = 0) -> StartRun:
    return StartRun(uuid.uuid4(), "worker:h:1", attempt=1, worker_id=f"w{n}")


def test_commands_that_queue_up_during_a_commit_share_the_next_transaction() -> None:
    ledger = FakeLedger()
    ledger.gate.clear()  # hold the writer inside its first commit
    committer = GroupCommitter(ledger, first_backoff=0.001)
    futures = [committer.submit(start(i)) for i in range(30)]
    ledger.gate.set()
    assert all(f.result(timeout=10).effect is Effect.APPLIED for f in futures)
    committer.close()
    assert sum(ledger.batches) == 30 and len(ledger.batches) <= 2


def test_a_store_outage_is_retried_until_the_store_answers() -> None:
    ledger = FakeLedger(outages=3)
    with GroupCommitter(ledger, first_backoff=0.001) as committer:
        transition = committer.submit(start()).result(timeout=10)
    assert transition.effect is Effect.APPLIED and ledger.calls == 4


def test_a_store_still_down_at_close_fails_the_futures_instead_of_hanging() -> None:
    ledger = FakeLedger(outages=10**9)
    committer = GroupCommitter(ledger, first_backoff=0.001, max_backoff=0.01)
    future = committer.submit(start())
    committer.close(timeout=0.2)
    with pytest.raises(StoreUnavailableError):
        future.result(timeout=1)


def test_an_error_no_retry_can_cure_fails_at_once() -> None:
    ledger = FakeLedger(outages=1, error=ProgrammingError("relation does not exist"))
    with GroupCommitter(ledger) as committer, pytest.raises(ProgrammingError):
        committer.submit(start()).result(timeout=10)
    assert ledger.calls == 1


def test_the_signal_time_is_fixed_when_submitted_not_when_retried() -> None:
    ledger = FakeLedger()
    with GroupCommitter(ledger) as committer:
        transition = committer.submit(start()).result(timeout=10)
    assert transition.command.at == NOW


class PoisonLedger(FakeLedger):
    """Refuses, like a failing JSON encoder, any batch holding the poisoned run."""

    def __init__(self, poisoned: uuid.UUID) -> None:
        super().__init__()
        self.poisoned = poisoned

    def execute_many(self, commands: Sequence[RunCommand]) -> list[Transition | Exception]:
        if any(c.run_id == self.poisoned for c in commands):
            raise TypeError("Object of type set is not JSON serializable")
        return super().execute_many(commands)


def test_a_command_that_cannot_be_saved_fails_alone_and_the_rest_of_its_batch_commits() -> None:
    bad = start()
    ledger = PoisonLedger(bad.run_id)
    ledger.gate.clear()
    committer = GroupCommitter(ledger)
    good = [committer.submit(start(i)) for i in range(5)]
    poisoned = committer.submit(bad)
    ledger.gate.set()
    assert all(f.result(timeout=10).effect is Effect.APPLIED for f in good)
    with pytest.raises(TypeError):
        poisoned.result(timeout=10)
    committer.close()


def test_a_future_its_caller_cancelled_does_not_stop_the_writer() -> None:
    ledger = FakeLedger()
    ledger.gate.clear()
    committer = GroupCommitter(ledger)
    abandoned = committer.submit(start())
    assert abandoned.cancel()
    ledger.gate.set()
    later = committer.submit(start(1))
    assert later.result(timeout=10).effect is Effect.APPLIED
    committer.close()


def test_results_handed_to_a_deliverer_arrive_in_one_call_per_batch() -> None:
    ledger = FakeLedger()
    ledger.gate.clear()
    handed: list[int] = []
    results: list[Transition | Exception] = []
    done = threading.Event()

    def deliver(callback: Callable[[], object]) -> None:
        handed.append(1)
        callback()
        if len(results) == 10:
            done.set()

    with GroupCommitter(ledger) as committer:
        for i in range(10):
            committer.enqueue(start(i), results.append, deliver)
        ledger.gate.set()
        assert done.wait(10)
    assert len(handed) == len(ledger.batches) <= 2
    assert all(isinstance(r, Transition) and r.command.at is not None for r in results)


def test_a_busy_writer_lingers_so_that_its_next_batch_is_larger() -> None:
    ledger = FakeLedger()
    ledger.gate.clear()
    with GroupCommitter(ledger, linger=0.2, linger_after=5) as committer:
        first = [committer.submit(start(i)) for i in range(6)]
        ledger.gate.set()
        first[-1].result(timeout=10)
        later = [committer.submit(start(i)) for i in range(4)]
        assert all(f.result(timeout=10) for f in later)
    # After a batch of 5 or more, the 4 that came one by one waited for each other.
    assert sum(ledger.batches) == 10 and ledger.batches[-1] == 4
