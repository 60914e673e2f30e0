"""The two ledgers the browser tests look at, each served by a real `runledger web`.

- `worker_site`: PostgreSQL, filled by real workers. First a worker runs a
  `browser.crawl` job (tests/browser/jobs.py) and is SIGKILLed mid-run, leaving a run
  that is running (fresh) with nobody to end it; then tests/web/server.py's
  `fill_ledger` queues one run per story through the real client, lets a real burst
  worker end them, makes arq lose a job for the reconciler, and leaves one queued
  (fresh) and one stale run. Every badge kind is there, made by real processes.
  The crash comes first: every worker runs the reconciler's cron, which would close
  the stale run that `fill_ledger` leaves last.
- `scenery_site`: SQLite, filled in this process with tests/ui/scenery.py's `fill`
  (every kind of run at realistic times, stale minutes ago, a day of history, hostile
  text) and projected with the real projector.

Tokens are made with web.tokens.TokenStore (what `runledger token create` calls) and
used through the real login form.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from ledger import DatabaseSettings, RunLedger, utcnow
from projections.db import Connection
from projections.events import EventLog
from projections.pool import ReadConnections
from projections.projector import catch_up
from runledger.wiring import migrate_all
from tests import ledger_calls
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.e2e.cli import spawn, wait_for
from tests.ui.scenery import fill
from tests.web.server import CLIENT_JOBS, WORKER_JOBS, WebServer, fill_ledger
from web.tokens import TokenStore
from workers import RunClient
from workers.operations import load_operations
from workers.settings import QueueSettings

CRAWL_JOBS = "tests.browser.jobs"
SCENERY_HISTORY = 400  # completed runs over the last day: enough for the strip to read

T = TypeVar("T")


@dataclass
class Site:
    """A real `runledger web` over a filled ledger, and what the tests need to know of it."""

    server: WebServer
    env: dict[str, str]  # the environment of the ledger's commands (`runledger ...`)
    runs: dict[str, UUID]  # run ids by story / role
    token: str
    state: dict[str, Any] | None = None  # the browser storage of a logged-in operator
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings.from_url(self.env["RUNLEDGER_DATABASE_URL"])

    def project(self) -> None:
        """Catches the read models up with the ledger: the real projector, once."""
        with Connection(self.database) as conn:
            catch_up(conn, EventLog(self.database))

    def enqueue(self, kind: str, workspace: str) -> UUID:
        """Queues a run through the real client, on a queue no worker serves."""
        env = {**self.env, **self.extra.get("idle_queue", {})}
        return off_the_loop(lambda: asyncio.run(enqueue(env, CLIENT_JOBS, kind, workspace)))


async def enqueue(env: dict[str, str], jobs: str, kind: str, workspace: str) -> UUID:
    """Queues one run through the real RunClient, on the stores `env` names."""
    queue = QueueSettings.from_env(env)
    ledger = RunLedger(DatabaseSettings.from_url(env["RUNLEDGER_DATABASE_URL"]))
    client = RunClient(ledger, queue.client(), load_operations(jobs),
                       queue_name=queue.queue_name, owns_ledger=True)  # fmt: skip
    async with client:
        return await client.enqueue(kind, workspace=workspace)


def create_token(database: DatabaseSettings) -> str:
    """An operator's token for every workspace and capability."""
    connections = ReadConnections(database, max_size=1)
    try:
        _, token = TokenStore(connections).create("dana", ["*"], [], utcnow())
    finally:
        connections.close()
    return token


def off_the_loop(function: Callable[..., T], *args: Any) -> T:
    """Calls `function` in a thread of its own: Playwright's sync API keeps an event loop
    running in this one, and the real client (`fill_ledger` too) needs asyncio.run()."""
    result: list[T] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            result.append(function(*args))
        except BaseException as error:  # re-raised below, in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=call, name="fill-ledger")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _postgres_schema(schema: str, *, drop: bool = False) -> None:
    import psycopg

    admin = DatabaseSettings.from_url(POSTGRES_URL).conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        else:
            conn.execute(f'CREATE SCHEMA "{schema}"')


def _crashed_run(env: dict[str, str]) -> UUID:
    """A `browser.crawl` run whose worker was SIGKILLed after its first heartbeat."""
    run_id = off_the_loop(lambda: asyncio.run(enqueue(env, CRAWL_JOBS, "browser.crawl", "acme")))
    worker = spawn("worker", "--poll-delay", "0.05", **env)
    ledger = RunLedger(DatabaseSettings.from_url(env["RUNLEDGER_DATABASE_URL"]))
    try:

        def beat() -> bool:
            if worker.poll() is not None:
                raise AssertionError(f"the crawl worker exited: {worker.communicate()[1][-2000:]}")
            return any(
                type(e).__name__ == "Heartbeat" for e in ledger_calls.run_events(ledger, run_id)
            )

        wait_for(beat, 30, "heartbeat of the crawl run")
    finally:
        ledger.close()
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
    return run_id


def _forget_queues(*names: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(*names)
    finally:
        client.close()


@contextmanager
def worker_site() -> Iterator[Site]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _postgres_schema(schema)
    url = f"{POSTGRES_URL}?schema={schema}"
    list(migrate_all(DatabaseSettings.from_url(url)))
    tag = uuid.uuid4().hex[:12]
    env = {
        "RUNLEDGER_DATABASE_URL": url,
        "RUNLEDGER_REDIS_URL": REDIS_URL,
        "RUNLEDGER_QUEUE_NAME": f"runledger-test:{tag}",
        "RUNLEDGER_JOBS": WORKER_JOBS,
    }
    crash_queue = f"runledger-test:{tag}:crash"
    idle_queue = f"runledger-test:{tag}:idle"  # no worker: what the live test queues stays
    server: WebServer | None = None
    try:
        running = _crashed_run({**env, "RUNLEDGER_QUEUE_NAME": crash_queue,
                                "RUNLEDGER_JOBS": CRAWL_JOBS})  # fmt: skip
        filled = off_the_loop(fill_ledger, env)
        runs = {**filled.runs, "running": running}
        server = WebServer(env).start()
        site = Site(server, env, runs, create_token(DatabaseSettings.from_url(url)))
        site.extra["idle_queue"] = {"RUNLEDGER_QUEUE_NAME": idle_queue}
        yield site
    finally:
        if server is not None:
            server.stop()
        _forget_queues(env["RUNLEDGER_QUEUE_NAME"], crash_queue, idle_queue)
        _postgres_schema(schema, drop=True)


@contextmanager
def scenery_site(folder: Path) -> Iterator[Site]:
    env = {"RUNLEDGER_DATABASE_URL": f"sqlite:///{folder / 'runledger.db'}"}
    database = DatabaseSettings.from_url(env["RUNLEDGER_DATABASE_URL"])
    list(migrate_all(database))
    ledger = RunLedger(database)
    try:
        runs = fill(ledger, utcnow(), history=SCENERY_HISTORY)
    finally:
        ledger.close()
    with Connection(database) as conn:
        catch_up(conn, EventLog(database))
    server = WebServer(env).start()
    try:
        yield Site(server, env, runs, create_token(database))
    finally:
        server.stop()
