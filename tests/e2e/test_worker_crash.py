"""A worker SIGKILLed mid-job, on each store: the ledger shows the lost attempt, arq's
redelivery to another worker, and the outcome. Nothing runs in the killed process after
the kill."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any
from uuid import UUID

import pytest

from ledger import RunLedger
from tests import ledger_calls
from tests.e2e.cli import runledger, spawn, wait_for

JOBS = "tests.e2e_jobs"
pytestmark = pytest.mark.timeout(90)

# arq redelivers once the in-progress key expires: 2 s timeout + 10 s, then a poll.
REDELIVERY_DEADLINE = 30.0


def events(env_ledger: RunLedger, run_id: UUID) -> list[tuple[Any, ...]]:
    return [
        (type(e).__name__, getattr(e, "attempt", None))
        for e in ledger_calls.run_events(env_ledger, run_id)
    ]


def test_a_killed_workers_run_is_redelivered_and_completed_by_another_worker(
    env: dict[str, str], env_ledger: RunLedger, workers: list[subprocess.Popen[str]]
) -> None:
    queued = runledger("enqueue", "e2e.slow", "--workspace", "acme", **env)
    assert queued.returncode == 0, queued.stderr
    run_id = UUID(queued.stdout.splitlines()[-1])

    first = spawn("worker", "--poll-delay", "0.05", **env)
    workers.append(first)
    wait_for(lambda: ("Heartbeat", 1) in events(env_ledger, run_id), 30, "attempt 1 heartbeat")
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL

    # The lost attempt: started, alive, and no terminal event (nothing ran after the kill).
    assert events(env_ledger, run_id) == [("Queued", None), ("Started", 1), ("Heartbeat", 1)]
    assert env_ledger.state(run_id).status == "running"

    workers.append(spawn("worker", "--poll-delay", "0.05", **env))
    wait_for(
        lambda: ("Started", 2) in events(env_ledger, run_id), REDELIVERY_DEADLINE, "redelivery"
    )
    state = wait_for(
        lambda: (s := env_ledger.state(run_id)).is_terminal and s, 15, "outcome of attempt 2"
    )
    assert events(env_ledger, run_id) == [
        ("Queued", None),
        ("Started", 1),
        ("Heartbeat", 1),
        ("Started", 2),
        ("Heartbeat", 2),
        ("Completed", 2),
    ]
    assert (state.reason_code, state.attempts) == ("job.succeeded", 2)
    assert state.summary == {"finished_on_attempt": 2}


def test_a_sigterm_mid_job_schedules_a_retry_that_the_next_worker_runs(
    env: dict[str, str], env_ledger: RunLedger, workers: list[subprocess.Popen[str]]
) -> None:
    queued = runledger("enqueue", "e2e.slow", "--workspace", "acme", **env)
    run_id = UUID(queued.stdout.splitlines()[-1])
    first = spawn("worker", "--poll-delay", "0.05", **env)
    workers.append(first)
    wait_for(lambda: ("Heartbeat", 1) in events(env_ledger, run_id), 30, "attempt 1 heartbeat")
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=20)
    assert first.returncode == 0, stderr
    retry = ledger_calls.run_events(env_ledger, run_id)[-1]
    assert (type(retry).__name__, retry.attempt, retry.reason) == (
        "RetryScheduled",
        1,
        "retry.worker_shutdown",
    )
    assert not env_ledger.state(run_id).is_terminal

    second = runledger("worker", "--burst", "--poll-delay", "0.05", **env)
    assert second.returncode == 0, second.stderr
    assert events(env_ledger, run_id)[-3:] == [("Started", 2), ("Heartbeat", 2), ("Completed", 2)]
