"""The committers: commands acknowledged only once durable, and never lost when the
committer process dies. What holds for both is tested on both (LocalCommitter commits
from a thread of this process)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator

import pytest

from ledger import (
    CompleteRun,
    DatabaseSettings,
    Effect,
    OperationPolicy,
    ReasonCode,
    RunLedger,
    RunNotFoundError,
    RunStatus,
    StartRun,
)
from tests.integration.worker_helpers import (
    assert_each_succeeded_once,
    run_burst,
    timeline,
)
from workers import QueueSettings, RunClient, WorkerSettings, load_operations
from workers.committer import CommitterDiedError, LocalCommitter, ProcessCommitter
from workers.operations import OperationRegistry
from workers.worker import build_worker, worker_ledger

pytestmark = pytest.mark.timeout(90)

POLICY = OperationPolicy(timeout=60, max_tries=3)
WORKER = "worker:host-a:101"
# Set in a test's environment: committer processes started from then on cannot start.
BROKEN = "RUNLEDGER_TEST_BROKEN_COMMITTER"


def ledger_unless_broken(settings: DatabaseSettings) -> RunLedger:
    """The committer process's ledger, unless BROKEN is set (a restart that fails)."""
    if os.environ.get(BROKEN):
        raise RuntimeError("this committer process cannot reach its ledger")
    return worker_ledger(settings)


def queue_runs(ledger: RunLedger, count: int) -> list[uuid.UUID]:
    return [
        ledger.queue(operation_type="ctest.job", workspace="acme", policy=POLICY).run_id
        for _ in range(count)
    ]


def start(run_id: uuid.UUID) -> StartRun:
    return StartRun(run_id, WORKER, attempt=1, worker_id=WORKER)


@pytest.fixture
async def committer(ledger: RunLedger) -> AsyncIterator[ProcessCommitter]:
    committer = ProcessCommitter(worker_ledger, ledger.settings, ledger.clock)
    yield committer
    await committer.aclose()


@pytest.fixture(params=[ProcessCommitter, LocalCommitter], ids=["process", "thread"])
async def either(
    ledger: RunLedger, request: pytest.FixtureRequest
) -> AsyncIterator[ProcessCommitter]:
    committer: ProcessCommitter = request.param(worker_ledger, ledger.settings, ledger.clock)
    yield committer
    await committer.aclose()


async def test_a_command_is_acknowledged_once_durable_with_what_the_worker_reads(
    ledger: RunLedger, either: ProcessCommitter
) -> None:
    (run_id,) = queue_runs(ledger, 1)
    started = await either.commit(start(run_id))
    assert (started.effect, started.status) == (Effect.APPLIED, RunStatus.RUNNING)
    assert ledger.state(run_id).status is RunStatus.RUNNING  # durable when acknowledged


async def test_the_process_committer_writes_from_another_process(
    ledger: RunLedger, committer: ProcessCommitter
) -> None:
    (run_id,) = queue_runs(ledger, 1)
    await committer.commit(start(run_id))
    assert committer.pid not in (None, os.getpid())


async def test_a_refused_command_fails_alone_and_its_batch_commits(
    ledger: RunLedger, either: ProcessCommitter
) -> None:
    committer = either
    runs = queue_runs(ledger, 3)
    unknown = uuid.uuid4()
    results = await asyncio.gather(
        *(committer.commit(start(r)) for r in [runs[0], unknown, *runs[1:]]),
        return_exceptions=True,
    )
    assert isinstance(results[1], RunNotFoundError)
    assert [r.effect for r in results if not isinstance(r, BaseException)] == [Effect.APPLIED] * 3


async def test_a_cancelled_wait_does_not_cancel_its_command(
    ledger: RunLedger, either: ProcessCommitter
) -> None:
    committer = either
    (run_id,) = queue_runs(ledger, 1)
    waiting = asyncio.create_task(committer.commit(start(run_id)))
    await asyncio.sleep(0)  # one turn of the loop (not a wait): the command is submitted
    waiting.cancel()  # before it even left this process
    done = CompleteRun(run_id, WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={})
    completed = await committer.commit(done)
    assert waiting.cancelled()
    assert completed.status is RunStatus.COMPLETED
    assert [row[0] for row in timeline(ledger, run_id)] == ["Queued", "Started", "Completed"]


async def test_what_is_submitted_in_one_turn_of_the_loop_leaves_as_one_message(
    ledger: RunLedger, committer: ProcessCommitter
) -> None:
    runs = queue_runs(ledger, 11)
    await committer.commit(start(runs[0]))  # alone: it leaves, and is committed, at once
    results = await asyncio.gather(*(committer.commit(start(r)) for r in runs[1:]))
    assert committer.messages_sent == 2
    assert {r.status for r in results} == {RunStatus.RUNNING}
    assert committer.commands_committed == 11


async def test_commands_not_yet_sent_survive_a_committer_killed_meanwhile(
    ledger: RunLedger, committer: ProcessCommitter
) -> None:
    runs = queue_runs(ledger, 6)
    first = committer.pid
    assert first is not None
    await committer.commit(start(runs[0]))
    os.kill(first, signal.SIGKILL)
    # Submitted before this process saw the death: they wait for the next committer.
    waits = [asyncio.create_task(committer.commit(start(r))) for r in runs[1:]]
    results = await asyncio.gather(*waits)
    assert {r.status for r in results} == {RunStatus.RUNNING}
    assert committer.restarts == 1
    assert all(timeline(ledger, r) == [("Queued",), ("Started", 1)] for r in runs)


async def test_a_killed_committer_is_restarted_and_its_unacknowledged_commands_resent(
    ledger: RunLedger, committer: ProcessCommitter
) -> None:
    runs = queue_runs(ledger, 20)
    first = committer.pid
    assert first is not None
    waits = [asyncio.create_task(committer.commit(start(r))) for r in runs]
    await asyncio.sleep(0)  # one turn of the loop (not a wait): all 20 are submitted
    os.kill(first, signal.SIGKILL)  # and none is acknowledged yet
    results = await asyncio.gather(*waits)
    assert {r.status for r in results} == {RunStatus.RUNNING}
    assert committer.restarts == 1 and committer.pid not in (None, first)
    # Each run started once: a resent command that had in fact landed changed nothing.
    assert all(timeline(ledger, r) == [("Queued",), ("Started", 1)] for r in runs)


@pytest.mark.parametrize("kind", [ProcessCommitter, LocalCommitter], ids=["process", "thread"])
async def test_closing_drains_every_submitted_command_then_stops_the_process(
    ledger: RunLedger, kind: type[ProcessCommitter]
) -> None:
    committer = kind(worker_ledger, ledger.settings, ledger.clock)
    runs = queue_runs(ledger, 30)
    waits = [asyncio.create_task(committer.commit(start(r))) for r in runs]
    await asyncio.sleep(0)  # one turn of the loop (not a wait): all 30 are submitted
    await committer.aclose()
    assert all(w.done() and w.result().effect is Effect.APPLIED for w in waits)
    assert not committer.process.is_alive()
    assert getattr(committer.process, "exitcode", 0) == 0
    assert {ledger.state(r).status for r in runs} == {RunStatus.RUNNING}


async def test_a_worker_whose_committer_was_killed_still_records_every_job(
    ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    queue = QueueSettings(redis_server, queue_name)
    # Roomy timeouts: the jobs wait for their Started while the committer restarts, which
    # a loaded machine can stretch past the worker tests' usual 2 s.
    operations = load_operations("tests.e2e_busy_jobs")
    async with RunClient(ledger, queue.client(), operations) as client:
        run_ids = [
            await client.enqueue("busy.succeed", workspace="acme", params={"items": 1})
            for _ in range(5)
        ]
    worker = build_worker(
        OperationRegistry(operations), WorkerSettings(ledger.settings, queue, committer="process"),
        clock=ledger.clock, burst=True, poll_delay=0.01, handle_signals=False, cron_jobs=[],
    )  # fmt: skip
    committer = worker.tracker.committer
    assert isinstance(committer, ProcessCommitter)
    killed = committer.pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    await run_burst(worker)
    assert committer.restarts == 1
    assert_each_succeeded_once(ledger, run_ids)


async def test_a_committer_that_cannot_be_restarted_fails_every_command_loudly(
    ledger: RunLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    committer = ProcessCommitter(ledger_unless_broken, ledger.settings, ledger.clock)
    runs = queue_runs(ledger, 3)
    assert (await committer.commit(start(runs[0]))).effect is Effect.APPLIED
    monkeypatch.setenv(BROKEN, "1")
    pending = asyncio.create_task(committer.commit(start(runs[1])))
    await asyncio.sleep(0)  # one turn of the loop (not a wait): the command is submitted
    os.kill(committer.pid or 0, signal.SIGKILL)
    with pytest.raises(CommitterDiedError):
        await pending
    with pytest.raises(CommitterDiedError):
        await committer.commit(start(runs[2]))  # later commands too: never dropped silently
    await committer.aclose()
    assert [ledger.state(r).status for r in runs] == [
        RunStatus.RUNNING,
        RunStatus.QUEUED,
        RunStatus.QUEUED,
    ]
