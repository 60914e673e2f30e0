"""`runledger project` as a real process: SIGKILLed mid-batch, and through a database restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import DatabaseSettings, RunLedger
from projections import MonitoringView, Scope
from projections.db import Connection
from projections.lag import head_position, wait_until_projected
from projections.projector import READ_MODELS
from projections.replay import replay
from projections.tracking import read_position
from tests.integration.workload import bulk_runs, mixed_workload

RUNLEDGER = str(Path(sys.executable).with_name("runledger"))


def start_projector(url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNLEDGER_DATABASE_URL": url}
    return subprocess.Popen(
        [RUNLEDGER, "project", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def dump(settings: DatabaseSettings) -> dict[str, list[tuple[object, ...]]]:
    with Connection(settings) as conn:
        return {table.name: table.dump(conn) for table in READ_MODELS}


def position(settings: DatabaseSettings) -> int:
    with Connection(settings, autocommit=True) as conn:
        return read_position(conn)


def test_a_projector_killed_mid_batch_and_restarted_counts_nothing_twice(
    ledger: RunLedger,
) -> None:
    settings = ledger.settings
    bulk_runs(ledger, 2_000)  # 8,000 events
    mixed_workload(ledger)
    head = head_position(settings)

    projector = start_projector(settings.url, "--batch-size", "40")
    deadline = time.monotonic() + 60
    while position(settings) < head // 4:  # killed while it is busy projecting
        assert projector.poll() is None and time.monotonic() < deadline
    projector.send_signal(signal.SIGKILL)
    projector.wait(timeout=10)
    assert 0 < position(settings) < head  # it really died half way

    restarted = start_projector(settings.url, "--once")
    _, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err.decode()
    assert position(settings) == head

    incremental = dump(settings)
    assert len(incremental["audit_log"]) == head  # one entry per event, none repeated
    view = MonitoringView(settings)
    assert sum(s.runs for s in view.stats(Scope.every_workspace())) == 2_007
    view.close()
    replay(settings)
    assert dump(settings) == incremental


@pytest.fixture
def running_projector(ledger: RunLedger) -> Iterator[subprocess.Popen[bytes]]:
    projector = start_projector(ledger.settings.url)
    yield projector
    projector.send_signal(signal.SIGTERM)
    projector.wait(timeout=15)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_projector_survives_a_postgresql_restart(
    ledger: RunLedger, running_projector: subprocess.Popen[bytes]
) -> None:
    settings = ledger.settings
    mixed_workload(ledger)
    wait_until_projected(settings, timeout=30)

    restart = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]
    subprocess.run(restart, check=True, timeout=60, capture_output=True)
    runs = _write_until_the_database_answers(ledger)

    wait_until_projected(settings, timeout=60)
    assert running_projector.poll() is None  # it reconnected instead of dying
    view = MonitoringView(settings)
    assert view.get_run(Scope.every_workspace(), runs["partial"]) is not None
    view.close()
    assert b"reconnecting" in _stderr_so_far(running_projector)


def _write_until_the_database_answers(ledger: RunLedger) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        try:
            return dict(mixed_workload(ledger))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the server is still starting up


def _stderr_so_far(process: subprocess.Popen[bytes]) -> bytes:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    return err
