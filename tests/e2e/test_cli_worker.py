"""`runledger check`, `worker` and `enqueue` as subprocesses: exit codes and messages."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from uuid import UUID

import pytest

from ledger import DatabaseSettings, RunLedger
from runledger.wiring import migrate_all
from tests.e2e.cli import RUNLEDGER, one_clear_line, runledger
from workers import load_operations

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pg(postgres_url: str, redis_server: str, queue_name: str) -> dict[str, str]:
    """The environment of a migrated PostgreSQL ledger and this test's arq queue."""
    list(migrate_all(DatabaseSettings.from_url(postgres_url)))
    return {
        "RUNLEDGER_DATABASE_URL": postgres_url,
        "RUNLEDGER_REDIS_URL": redis_server,
        "RUNLEDGER_QUEUE_NAME": queue_name,
        "RUNLEDGER_JOBS": "tests.worker_jobs",
    }


def test_check_passes_aligned_operations() -> None:
    done = runledger("check", "--jobs", "tests.worker_jobs")
    assert done.returncode == 0, done.stderr
    declared = len(load_operations("tests.worker_jobs"))
    assert declared >= 9
    assert done.stdout.splitlines()[-1] == f"OK: {declared} operation(s) aligned"


def test_check_prints_each_violation_with_its_numbers_and_fails() -> None:
    done = runledger("check", RUNLEDGER_JOBS="tests.misaligned_jobs")
    assert done.returncode == 1
    assert "misaligned.no_timeout: declares no timeout" in done.stdout
    assert "misaligned.stale_too_soon: stale_running_after 60 s is not above" in done.stdout
    assert done.stdout.count("  fix: ") == 2


def test_the_worker_refuses_to_start_on_a_timing_violation() -> None:
    done = runledger("worker", "--burst", "--jobs", "tests.misaligned_jobs")
    assert done.returncode == 1
    assert "misaligned.no_timeout: declares no timeout" in done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        "refusing to start until the timing violations are fixed"
    )
    assert "Starting worker" not in done.stderr


def test_a_missing_jobs_module_is_one_clear_line() -> None:
    done = runledger("worker", "--burst", "--jobs", "no_such_jobs_module")
    assert done.returncode == 2
    assert "cannot import the jobs module 'no_such_jobs_module'" in one_clear_line(done.stderr)


def test_the_worker_names_an_unreachable_database(pg: dict[str, str]) -> None:
    down = {**pg, "RUNLEDGER_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nope"}
    done = runledger("worker", "--burst", **down)
    assert done.returncode == 2
    assert "cannot use the database" in one_clear_line(done.stderr)


def test_the_worker_names_an_unreachable_redis(pg: dict[str, str]) -> None:
    done = runledger("worker", "--burst", **{**pg, "RUNLEDGER_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode == 2
    assert "cannot reach Redis" in one_clear_line(done.stderr)


def test_enqueue_then_a_burst_worker_completes_the_run(pg: dict[str, str]) -> None:
    queued = runledger(
        "enqueue", "wtest.succeed", "--workspace", "acme", "--param", "items:=3", **pg
    )
    assert queued.returncode == 0, queued.stderr
    run_id = UUID(queued.stdout.splitlines()[-1])
    worked = runledger("worker", "--burst", "--poll-delay", "0.05", **pg)
    assert worked.returncode == 0, worked.stderr
    ledger = RunLedger(DatabaseSettings.from_url(pg["RUNLEDGER_DATABASE_URL"]))
    try:
        state = ledger.state(run_id)
    finally:
        ledger.close()
    assert (state.reason_code, state.summary, state.attempts) == ("job.succeeded", {"items": 3}, 1)


def test_a_repeated_idempotency_key_prints_the_same_run(pg: dict[str, str]) -> None:
    args = ("enqueue", "wtest.succeed", "--workspace", "acme", "--idempotency-key", "k-1")
    first, second = runledger(*args, **pg), runledger(*args, **pg)
    assert first.returncode == second.returncode == 0, second.stderr
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1]


def test_enqueue_of_an_unknown_type_is_one_clear_line(pg: dict[str, str]) -> None:
    done = runledger("enqueue", "nope.nothing", "--workspace", "acme", **pg)
    assert done.returncode == 2
    assert "unknown operation type 'nope.nothing'" in one_clear_line(done.stderr)
    assert done.stdout == ""


def test_enqueue_with_redis_down_leaves_the_run_queued_and_says_so(pg: dict[str, str]) -> None:
    done = runledger(
        "enqueue",
        "wtest.succeed",
        "--workspace",
        "acme",
        **{**pg, "RUNLEDGER_REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    assert done.returncode == 2
    line = one_clear_line(done.stderr)
    assert "is recorded as queued, but its job could not be enqueued" in line
    run_id = UUID(re.search(r"run ([0-9a-f-]{36}) ", line)[1])  # type: ignore[index]
    ledger = RunLedger(DatabaseSettings.from_url(pg["RUNLEDGER_DATABASE_URL"]))
    try:
        assert ledger.state(run_id).status == "queued"
    finally:
        ledger.close()


def test_jobs_modules_are_found_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "myjobs.py").write_text(
        "from workers import operation\n\n"
        '@operation("here.job", timeout=5, stale_queued_after=60, stale_running_after=60)\n'
        "async def job(ctx):\n    return None\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [RUNLEDGER, "check", "--jobs", "myjobs"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK: 1 operation(s) aligned" in done.stdout
