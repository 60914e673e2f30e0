"""Incremental projection equals a replay, on SQLite and PostgreSQL, also while both run."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ledger import DatabaseSettings, RunLedger
from projections import MonitoringView, Scope
from projections.db import Connection
from projections.events import EventLog
from projections.lag import ProjectionTimeoutError, read_lag, wait_until_projected
from projections.projector import READ_MODELS, catch_up
from projections.replay import replay
from projections.runner import CatchUpRunner, RunnerOptions
from tests.integration.workload import mixed_workload


def dump(settings: DatabaseSettings) -> dict[str, list[tuple[object, ...]]]:
    with Connection(settings) as conn:
        return {table.name: table.dump(conn) for table in READ_MODELS}


@pytest.fixture
def runner(ledger: RunLedger) -> Iterator[CatchUpRunner]:
    """A projector running in a thread, as `runledger project` runs it."""
    runner = CatchUpRunner(ledger.settings, RunnerOptions(batch_size=5, poll_interval=0.05))
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    yield runner
    runner.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_incrementally_built_models_equal_a_replay(ledger: RunLedger) -> None:
    settings = ledger.settings
    log = EventLog(settings)
    with Connection(settings) as conn:
        for _ in range(3):  # runs span batches and catch-ups: state is carried in the rows
            mixed_workload(ledger)
            catch_up(conn, log, batch_size=4)
    incremental = dump(settings)
    assert all(incremental.values())

    result = replay(settings, batch_size=6)

    assert dump(settings) == incremental
    assert result.events == len(incremental["audit_log"]) == log_head(settings)
    assert read_lag(settings).events_behind == 0


def test_a_replay_while_the_projector_and_writers_run_loses_and_repeats_nothing(
    ledger: RunLedger, runner: CatchUpRunner
) -> None:
    mixed_workload(ledger, rounds=3)
    wait_until_projected(ledger.settings, timeout=30)
    view = MonitoringView(ledger.settings)
    seen_during_replay: list[int] = []

    def write_and_read(done: int, total: int) -> None:
        del done, total
        mixed_workload(ledger)  # the ledger keeps moving while the rebuild runs
        page = view.list_runs(Scope.every_workspace(), limit=200)
        seen_during_replay.append(len(page.runs))  # monitoring is up

    replay(ledger.settings, batch_size=10, progress=write_and_read)
    mixed_workload(ledger)
    wait_until_projected(ledger.settings, timeout=30)

    live = dump(ledger.settings)
    replay(ledger.settings)
    assert dump(ledger.settings) == live
    assert seen_during_replay and min(seen_during_replay) >= 21
    view.close()


def test_waiting_for_a_position_no_projector_reaches_times_out(ledger: RunLedger) -> None:
    mixed_workload(ledger)
    lag = read_lag(ledger.settings)
    assert lag.events_behind == lag.head > 0 and lag.seconds_behind >= 0
    with pytest.raises(ProjectionTimeoutError, match="runledger project"):
        wait_until_projected(ledger.settings, timeout=0.2)


def log_head(settings: DatabaseSettings) -> int:
    with Connection(settings) as conn:
        return EventLog(settings).head(conn)
