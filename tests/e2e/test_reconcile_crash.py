"""A worker SIGKILLed mid-job, then either the reconciler or arq's redelivery resolves it
(on each store).

Without a worker to redeliver, `runledger reconcile` heals the run once it is past its
threshold (never before: arq first holds the job in progress, then queued for
redelivery); a worker started afterwards does not execute the job. With a worker back in
time, arq's redelivery wins and the reconciler, running in that worker every second,
does not interfere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any
from uuid import UUID

import pytest

from ledger import RunLedger
from tests import ledger_calls
from tests.e2e.cli import runledger, spawn, wait_for

JOBS = "tests.e2e_reconcile_jobs"
EXTRA_ENV = {"RUNLEDGER_RECONCILE_INTERVAL": "1"}
pytestmark = pytest.mark.timeout(120)
STALE_RUNNING_AFTER = 22  # tests/e2e_reconcile_jobs.py


def events(env_ledger: RunLedger, run_id: UUID) -> list[tuple[Any, ...]]:
    return [
        (type(e).__name__, getattr(e, "attempt", None), getattr(e, "reason_code", None))
        for e in ledger_calls.run_events(env_ledger, run_id)
    ]


def reconcile(env: dict[str, str]) -> dict[str, Any]:
    done = runledger("reconcile", "--json", **env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def kill_mid_job(
    env: dict[str, str], env_ledger: RunLedger, workers: list[subprocess.Popen[str]]
) -> tuple[UUID, float]:
    queued = runledger("enqueue", "e2e.orphanable", "--workspace", "acme", **env)
    assert queued.returncode == 0, queued.stderr
    run_id = UUID(queued.stdout.splitlines()[-1])
    worker = spawn("worker", "--poll-delay", "0.05", **env)
    workers.append(worker)
    wait_for(lambda: ("Heartbeat", 1, None) in events(env_ledger, run_id), 30, "a heartbeat")
    os.kill(worker.pid, signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL
    return run_id, time.monotonic()


def test_with_no_worker_back_the_reconciler_heals_the_run_past_its_threshold(
    env: dict[str, str], env_ledger: RunLedger, workers: list[subprocess.Popen[str]]
) -> None:
    run_id, killed_at = kill_mid_job(env, env_ledger, workers)

    # Before the threshold nothing is appended, whatever arq says meanwhile.
    early = reconcile(env)
    assert early["healed"] == [] and early["checked"] <= 1
    assert not env_ledger.state(run_id).is_terminal

    def healed() -> dict[str, Any] | None:
        report = reconcile(env)
        return report if report["healed"] else None

    report = wait_for(healed, STALE_RUNNING_AFTER + 20, "reconciliation")
    assert time.monotonic() - killed_at >= STALE_RUNNING_AFTER - 1
    [entry] = report["healed"]
    assert (entry["run_id"], entry["reason_code"], entry["applied"]) == (
        str(run_id),
        "reconciler.stale_running",
        True,
    )
    state = env_ledger.state(run_id)
    assert (state.status, state.outcome, state.ended_by, state.reason_code) == (
        "completed",
        "failed",
        "reconciler",
        "reconciler.stale_running",
    )
    [reconciled] = [
        e
        for e in ledger_calls.run_events(env_ledger, run_id)
        if type(e).__name__ == "ReconciledStale"
    ]
    # The in-progress key had expired: arq held the job for redelivery.
    assert reconciled.evidence["arq_job_state"] == "queued"
    assert reconciled.evidence["previous_status"] == "running"

    # A worker started afterwards does not execute the job.
    before = events(env_ledger, run_id)
    late = runledger("worker", "--burst", "--poll-delay", "0.05", **env)
    assert late.returncode == 0, late.stderr
    assert events(env_ledger, run_id) == before
    assert [name for name, *_ in before] == ["Queued", "Started", "Heartbeat", "ReconciledStale"]


def test_with_a_worker_back_in_time_arqs_redelivery_wins(
    env: dict[str, str], env_ledger: RunLedger, workers: list[subprocess.Popen[str]]
) -> None:
    run_id, _ = kill_mid_job(env, env_ledger, workers)
    # The new worker runs the reconciler every second while arq redelivers.
    workers.append(spawn("worker", "--poll-delay", "0.05", **env))
    state = wait_for(
        lambda: (s := env_ledger.state(run_id)).is_terminal and s,
        STALE_RUNNING_AFTER,
        "the outcome",
    )
    assert (state.ended_by, state.reason_code, state.attempts) == ("job", "job.succeeded", 2)
    assert [(name, attempt) for name, attempt, _ in events(env_ledger, run_id)] == [
        ("Queued", None),
        ("Started", 1),
        ("Heartbeat", 1),
        ("Started", 2),
        ("Heartbeat", 2),
        ("Completed", 2),
    ]
    assert reconcile(env)["healed"] == []
