"""Fixtures of the chaos and fault tests: private servers per module, the run sizes, the
directory the processes log to.

Sizes: by default each chaos run stays within CI's time (`DEFAULT_RUNS`); the issue's full
sizes (1,000 runs on PostgreSQL, 300 on SQLite) run with `--chaos-runs full` (pytest
only sees that option when it is given `tests/chaos` or a file in it) or, from anywhere,
`RUNLEDGER_CHAOS_RUNS=full`. A number N runs N on PostgreSQL and 30 % of N on SQLite;
`N,M` says both.
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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-runs",
        default=None,
        metavar="N|N,M|full",
        help=f"runs per chaos test: PostgreSQL N (SQLite 30 %% of N), N,M for both, or "
        f"'full' (1000,300); also ${RUNS_VAR}. Default {DEFAULT_RUNS['postgresql']},"
        f"{DEFAULT_RUNS['sqlite']}",
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A chaos test's time limit follows its size (about 1 s per 3 runs above the default)."""
    sizes = chaos_sizes(config)
    for item in items:
        marker = item.get_closest_marker("chaos_store")
        if marker is None:
            continue
        runs = sizes[marker.args[0]]
        extra = max(0, runs - DEFAULT_RUNS[marker.args[0]]) // 3
        item.add_marker(pytest.mark.timeout(300 + extra))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos_store(kind): a chaos test sized per store")


@pytest.fixture
def chaos_runs(request: pytest.FixtureRequest) -> dict[str, int]:
    return chaos_sizes(request.config)


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
