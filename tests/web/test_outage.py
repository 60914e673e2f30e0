"""The database going down under a running `runledger web`, and coming back.

While PostgreSQL is stopped, `/healthz` answers 503 naming the database and the API a
503 in the contract's error shape, each within seconds rather than hanging; once it is
started again both answer as before by themselves, with no restart of `runledger web`
(its pool drops the dead connections and makes new ones).

The test stops a PostgreSQL cluster of its own (`pg_createcluster` on a free port, made
and dropped here, stopped and started with `pg_ctlcluster`), not the shared one on 5432:
stopping that would break whatever else is using it at that moment (other test modules
of a parallel run, other people's runs on the same machine), and this way the test
isolates itself wherever it runs in the suite. It needs the PostgreSQL server binaries
and root (as `pg_ctlcluster` does), and fails, never skips, without them.

PostgreSQL only: an embedded SQLite file does not go down while the process that reads
it runs; a file made unreadable or deleted under it is not an outage anyone meets.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger import DatabaseSettings
from projections.runner import CatchUpRunner
from runledger.wiring import migrate_all
from tests.conftest import REDIS_URL
from tests.e2e.cli import wait_for
from tests.web.client import Api, assert_error
from tests.web.conftest import Served
from tests.web.server import WORKER_JOBS, FilledLedger, WebServer, enqueue_stories, free_port
from web.health import HEALTH_WAIT_SECONDS

ANSWERS_WITHIN = 10.0  # seconds: a 503 that takes longer than this is a hang to a client
RECOVERS_WITHIN = 30.0


@dataclass
class Cluster:
    """A PostgreSQL cluster this module made, started and stopped with pg_ctlcluster."""

    version: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, action: str) -> None:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action]
        if action == "stop":
            command += ["-m", "fast"]  # what a crash or a failover looks like to clients
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"

    def is_ready(self) -> bool:
        ready = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(ready, timeout=10, check=False).returncode == 0

    def is_down(self) -> bool:
        status = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "status"]
        return subprocess.run(status, capture_output=True, timeout=10, check=False).returncode != 0


def _postgres_version() -> str:
    missing = [tool for tool in ("pg_createcluster", "pg_ctlcluster", "pg_isready")
               if shutil.which(tool) is None]  # fmt: skip
    if missing or not Path("/etc/postgresql").is_dir() or os.geteuid() != 0:
        pytest.fail(
            "the outage test makes, stops and drops a PostgreSQL cluster of its own: it needs "
            f"root and the PostgreSQL server tools (missing: {', '.join(missing) or 'root'})",
            pytrace=False,
        )
    return sorted(os.listdir("/etc/postgresql"), key=float)[-1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    made = Cluster(_postgres_version(), f"rl_outage_{uuid.uuid4().hex[:8]}", free_port())
    create = ["pg_createcluster", made.version, made.name, "-p", str(made.port),
              "--", "--auth-host=trust", "--auth-local=trust", "--no-sync"]  # fmt: skip
    done = subprocess.run(create, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    try:
        made.ctl("start")
        wait_for(made.is_ready, 30, "the outage test's PostgreSQL")
        yield made
    finally:
        drop = ["pg_dropcluster", "--stop", made.version, made.name]
        subprocess.run(drop, capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def served_on_cluster(cluster: Cluster, redis_server: str) -> Iterator[Served]:
    """`runledger web` over a ledger on the module's cluster, with one run in it."""
    list(migrate_all(DatabaseSettings.from_url(cluster.url)))
    env = {
        "RUNLEDGER_DATABASE_URL": cluster.url,
        "RUNLEDGER_REDIS_URL": REDIS_URL,
        "RUNLEDGER_QUEUE_NAME": f"runledger-test:{uuid.uuid4().hex[:12]}",
        "RUNLEDGER_JOBS": WORKER_JOBS,
    }
    filled = FilledLedger(env)
    filled.runs = asyncio.run(enqueue_stories(env, {"queued": ("web.succeed", "acme", {})}))
    CatchUpRunner(filled.settings).run_once()
    server = WebServer(env).start()
    try:
        yield Served(filled, server)
    finally:
        server.stop()


@contextmanager
def stopped(cluster: Cluster) -> Iterator[None]:
    """The database stopped inside the block, and started again whatever happens in it."""
    cluster.ctl("stop")
    try:
        yield
    finally:
        if cluster.is_down():
            cluster.ctl("start")
        wait_for(cluster.is_ready, 60, "PostgreSQL back up")


def test_while_the_database_is_down_health_and_the_api_say_so_then_recover_by_themselves(
    served_on_cluster: Served, cluster: Cluster
) -> None:
    served = served_on_cluster
    api = Api(served.url, served.token(["*"]))  # made while the database answers
    try:
        _assert_answers_as_usual(api, served)
        with stopped(cluster):
            _assert_unavailable(api)
        wait_for(lambda: api.get("/healthz").status_code == 200, RECOVERS_WITHIN,
                 "/healthz to answer 200 again without a restart")  # fmt: skip
        _assert_answers_as_usual(api, served)
    finally:
        api.close()


def _assert_answers_as_usual(api: Api, served: Served) -> None:
    health = api.ok("/healthz")
    assert health["status"] == "ok" and health["database"]["ok"] is True
    runs = api.ok("/api/runs")["runs"]
    assert [run["id"] for run in runs] == [str(served.filled.runs["queued"])]
    assert api.get("/metrics").status_code == 200


def _assert_unavailable(api: Api) -> None:
    """Every route says the database is down, each within seconds (asked all at once, as
    a dashboard's polls would)."""
    paths = ["/healthz", "/api/runs", "/api/stats", "/api/audit", "/metrics"]
    answers = dict(zip(paths, api.get_all(paths), strict=True))
    for path, response in answers.items():
        assert response.elapsed.total_seconds() < ANSWERS_WITHIN, f"{path} hung"

    health = answers.pop("/healthz")
    assert health.status_code == 503, health.text
    # Within a load balancer's check timeout: /healthz waits HEALTH_WAIT_SECONDS (1 s) for
    # a connection, not the read API's 5 s (3 s of slack for a loaded machine).
    assert health.elapsed.total_seconds() < HEALTH_WAIT_SECONDS + 3, health.elapsed
    body = health.json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is False and body["database"]["error"]
    assert body["redis"]["ok"] is True  # it tells which part is down

    for response in answers.values():
        error = assert_error(response, 503)
        assert error["code"] == "database_unavailable", error
        assert "database" in error["message"]
        assert response.headers["retry-after"]
