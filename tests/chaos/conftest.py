"""Fixtures of the chaos and fault tests: private servers per module, the run sizes, the
directory the processes log to.

Sizes: by default each chaos run stays within CI's time (`DEFAULT_RUNS`); the issue's full
sizes (1,000 runs on PostgreSQL, 300 on SQLite) run with `--chaos-runs full` (pytest
only sees that option when it is given `tests/chaos` or a file in it) or, from anywhere,
`RUNLEDGER_CHAOS_RUNS=full`. A number N runs N on PostgreSQL and 30 % of N on SQLite;
`N,M` says both.

The load test (tests/chaos/test_load.py) runs `DEFAULT_LOAD_RUNS` by default and the
issue's 10,000 with `--load-runs full` (or any N; also `RUNLEDGER_LOAD_RUNS`), with a
time limit that grows with N.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.servers import PrivatePostgres, PrivateRedis, private_postgres, private_redis

RUNS_VAR = "RUNLEDGER_CHAOS_RUNS"
LOGS_VAR = "RUNLEDGER_CHAOS_LOGS"
DEFAULT_RUNS = {"postgresql": 300, "sqlite": 100}
FULL_RUNS = {"postgresql": 1000, "sqlite": 300}
LOAD_RUNS_VAR = "RUNLEDGER_LOAD_RUNS"
DEFAULT_LOAD_RUNS = 3000
FULL_LOAD_RUNS = 10_000
# The load test's time limit: the default size's, and this many seconds per run beyond it.
LOAD_TIMEOUT, LOAD_SECONDS_PER_RUN = 300, 0.06


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-runs",
        default=None,
        metavar="N|N,M|full",
        help=f"runs per chaos test: PostgreSQL N (SQLite 30 %% of N), N,M for both, or "
        f"'full' (1000,300); also ${RUNS_VAR}. Default {DEFAULT_RUNS['postgresql']},"
        f"{DEFAULT_RUNS['sqlite']}",
    )
    parser.addoption(
        "--load-runs",
        default=None,
        metavar="N|full",
        help=f"runs of the load test (tests/chaos/test_load.py), or 'full' "
        f"({FULL_LOAD_RUNS}); also ${LOAD_RUNS_VAR}. Default {DEFAULT_LOAD_RUNS}",
    )


def chaos_sizes(config: pytest.Config) -> dict[str, int]:
    """How many runs each store's chaos test queues."""
    raw = config.getoption("chaos_runs", default=None) or os.environ.get(RUNS_VAR) or ""
    raw = raw.strip().lower()
    if not raw:
        return dict(DEFAULT_RUNS)
    if raw == "full":
        return dict(FULL_RUNS)
    try:
        numbers = [int(part) for part in raw.split(",")]
    except ValueError:
        raise pytest.UsageError(
            f"--chaos-runs / {RUNS_VAR}: {raw!r} is not N, N,M or full"
        ) from None
    if len(numbers) == 1:
        numbers.append(max(1, round(numbers[0] * 0.3)))
    if len(numbers) != 2 or min(numbers) < 1:
        raise pytest.UsageError(f"--chaos-runs / {RUNS_VAR}: {raw!r} is not N, N,M or full")
    return {"postgresql": numbers[0], "sqlite": numbers[1]}


def load_size(config: pytest.Config) -> int:
    """How many runs the load test queues."""
    raw = config.getoption("load_runs", default=None) or os.environ.get(LOAD_RUNS_VAR) or ""
    raw = raw.strip().lower()
    if not raw:
        return DEFAULT_LOAD_RUNS
    if raw == "full":
        return FULL_LOAD_RUNS
    if not raw.isdigit() or int(raw) < 100:
        raise pytest.UsageError(f"--load-runs / {LOAD_RUNS_VAR}: {raw!r} is not N >= 100 or full")
    return int(raw)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A chaos test's time limit follows its size (about 1 s per 3 runs above the default);
    the load test's, LOAD_SECONDS_PER_RUN per run above its default."""
    sizes = chaos_sizes(config)
    load_runs = load_size(config)
    for item in items:
        if item.get_closest_marker("load_test") is not None:
            extra = max(0, load_runs - DEFAULT_LOAD_RUNS) * LOAD_SECONDS_PER_RUN
            item.add_marker(pytest.mark.timeout(LOAD_TIMEOUT + round(extra)))
        marker = item.get_closest_marker("chaos_store")
        if marker is None:
            continue
        runs = sizes[marker.args[0]]
        extra = max(0, runs - DEFAULT_RUNS[marker.args[0]]) // 3
        item.add_marker(pytest.mark.timeout(300 + extra))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos_store(kind): a chaos test sized per store")
    config.addinivalue_line("markers", "load_test: the load test, sized by --load-runs")


@pytest.fixture
def chaos_runs(request: pytest.FixtureRequest) -> dict[str, int]:
    return chaos_sizes(request.config)


@pytest.fixture
def load_runs(request: pytest.FixtureRequest) -> int:
    return load_size(request.config)


@pytest.fixture
def chaos_logs(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where this test's processes log: $RUNLEDGER_CHAOS_LOGS/<test>, else a tmp dir."""
    base = os.environ.get(LOGS_VAR)
    if not base:
        return tmp_path / "logs"
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "_")
    path = Path(base) / name
    path.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=path))


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this module's own (the shared one is never stopped)."""
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def redis_private() -> Iterator[PrivateRedis]:
    """A Redis of this module's own, without persistence."""
    with private_redis() as server:
        yield server
