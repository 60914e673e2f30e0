"""The committer's batching and outage handling, on a thread (LocalCommitter) over a
hand-written fake ledger: the same server loop the committer process runs."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import pytest
from eventsourcing.persistence import OperationalError, ProgrammingError

from ledger import (
    DatabaseSettings,
    Effect,
    RunCommand,
    RunLedger,
    RunState,
    RunStatus,
    StartRun,
    StoreUnavailableError,
    Transition,
)
from workers.committer import CommitRefusedError, LocalCommitter
from workers.committer import server as committer_server
from workers.committer.server import commit_batch

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = DatabaseSettings.from_url("sqlite:///unused.db")  # the fake ledger ignores it


class FakeLedger(RunLedger):
    """Records batches; fails the first `outages` calls with a store error."""

    def __init__(self, outages: int = 0, error: Exception | None = None) -> None:
        self.clock = lambda: NOW
        self.outages = outages
        self.error = error or OperationalError("server closed the connection")
        self.calls = 0
        self.batches: list[int] = []
        self.received: list[RunCommand] = []
        self.gate = threading.Event()
        self.gate.set()

    def execute_many(self, commands: Sequence[RunCommand]) -> list[Transition | Exception]:
        self.gate.wait()
        self.calls += 1
        if self.calls <= self.outages:
            raise self.error
        self.batches.append(len(commands))
        self.received.extend(commands)
        state = cast("RunState", SimpleNamespace(status=RunStatus.RUNNING, reason_code=None))
        return [Transition(c, Effect.APPLIED, state) for c in commands]

    def close(self) -> None:
        pass

    def __del__(self) -> None:  # no application to close
        pass


def start(n: int = 0) -> StartRun:
    return StartRun(uuid.uuid4(), "worker:h:1", attempt=1, worker_id=f"w{n}")


def committer_of(ledger: FakeLedger) -> LocalCommitter:
    return LocalCommitter(lambda _: ledger, SETTINGS, lambda: NOW)


async def test_commands_that_queue_up_during_a_commit_share_the_next_transaction() -> None:
    ledger = FakeLedger()
    ledger.gate.clear()  # hold the committer inside its first commit
    committer = committer_of(ledger)
    waits = [asyncio.create_task(committer.commit(start(i))) for i in range(30)]
    await asyncio.sleep(0.1)
    ledger.gate.set()
    assert {(await w).effect for w in waits} == {Effect.APPLIED}
    await committer.aclose()
    assert sum(ledger.batches) == 30 and len(ledger.batches) <= 2


def test_a_store_outage_is_retried_until_the_store_answers() -> None:
    ledger = FakeLedger(outages=3)
    [transition] = commit_batch(ledger, [start()], lambda _: True)
    assert isinstance(transition, Transition) and transition.effect is Effect.APPLIED
    assert ledger.calls == 4


async def test_a_store_still_down_at_close_fails_the_commands_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(committer_server, "CLOSE_TIMEOUT", 0.2)
    monkeypatch.setattr(committer_server, "MAX_BACKOFF", 0.01)
    committer = committer_of(FakeLedger(outages=10**9))
    waiting = asyncio.create_task(committer.commit(start()))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(committer.aclose(), 10)
    with pytest.raises(CommitRefusedError, match=StoreUnavailableError.__name__):
        await waiting


def test_an_error_no_retry_can_cure_fails_at_once() -> None:
    ledger = FakeLedger(outages=1, error=ProgrammingError("relation does not exist"))
    [result] = commit_batch(ledger, [start()], lambda _: True)
    assert isinstance(result, ProgrammingError) and ledger.calls == 1


async def test_the_signal_time_is_fixed_when_submitted_not_when_retried() -> None:
    ledger = FakeLedger(outages=2)
    committer = committer_of(ledger)
    assert (await committer.commit(start())).effect is Effect.APPLIED
    await committer.aclose()
    assert [c.at for c in ledger.received] == [NOW]


class PoisonLedger(FakeLedger):
    """Refuses, like a failing JSON encoder, any batch holding the poisoned run."""

    def __init__(self, poisoned: uuid.UUID) -> None:
        super().__init__()
        self.poisoned = poisoned

    def execute_many(self, commands: Sequence[RunCommand]) -> list[Transition | Exception]:
        if any(c.run_id == self.poisoned for c in commands):
            raise TypeError("Object of type set is not JSON serializable")
        return super().execute_many(commands)


async def test_a_command_that_cannot_be_saved_fails_alone_and_the_rest_of_its_batch_commits() -> (
    None
):
    bad = start()
    ledger = PoisonLedger(bad.run_id)
    ledger.gate.clear()
    committer = committer_of(ledger)
    good = [asyncio.create_task(committer.commit(start(i))) for i in range(5)]
    poisoned = asyncio.create_task(committer.commit(bad))
    await asyncio.sleep(0.05)
    ledger.gate.set()
    assert {(await g).effect for g in good} == {Effect.APPLIED}
    with pytest.raises(CommitRefusedError, match="TypeError"):
        await poisoned
    await committer.aclose()


async def test_a_wait_its_caller_cancelled_does_not_stop_the_committer() -> None:
    ledger = FakeLedger()
    ledger.gate.clear()
    committer = committer_of(ledger)
    abandoned = asyncio.create_task(committer.commit(start()))
    await asyncio.sleep(0.05)
    abandoned.cancel()
    ledger.gate.set()
    assert (await committer.commit(start(1))).effect is Effect.APPLIED
    await committer.aclose()
    assert len(ledger.received) == 2  # the abandoned command was committed all the same


async def test_what_is_submitted_in_one_turn_of_the_loop_leaves_as_one_message() -> None:
    ledger = FakeLedger()
    committer = committer_of(ledger)
    await committer.commit(start())  # alone: it leaves at once
    await asyncio.gather(*(committer.commit(start(i)) for i in range(10)))
    await committer.aclose()
    assert committer.messages_sent == 2 and ledger.batches == [1, 10]
