"""A ledger filled by a real worker and served by a real `runledger web` over HTTP.

`fill_ledger` queues one run per story through the real client, lets a real burst
worker run them, makes arq lose one job for the real reconciler, leaves one queued
(fresh) and one past its threshold (stale, queued after the reconciler ran), and
projects.
`WebServer` runs `runledger web` in a subprocess on a free port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

import httpx

from ledger import DatabaseSettings
from projections.runner import CatchUpRunner
from tests.e2e.cli import ROOT, RUNLEDGER, cli_env, runledger, wait_for
from tests.web_client_jobs import STALL_THRESHOLD
from workers import RunClient
from workers.reconcile_cron import open_reconciler
from workers.reconciler import ReconcileReport
from workers.settings import QueueSettings

CLIENT_JOBS = "tests.web_jobs,tests.web_client_jobs"
WORKER_JOBS = "tests.web_jobs"
XSS_WORKSPACE = '<b onmouseover="alert(1)">ws</b>'

# story -> (operation, workspace, params)
STORIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "succeeded": ("web.succeed", "acme", {"items": 7}),
    "partial": ("web.partial", "acme", {}),
    "failed": ("web.fail", "beta", {}),
    "exception": ("web.explode", "beta", {}),
    "timeout": ("web.hang", "acme", {}),
    "retries_exhausted": ("web.retry", "beta", {}),
    "heartbeats": ("web.beat", "acme", {}),
    "function_missing": ("web.unserved", "beta", {}),
    "xss": ("web.succeed", XSS_WORKSPACE, {"label": "<script>alert('p')</script>"}),
}
# Queued after the worker's burst: one whose job arq loses, one left waiting (fresh).
LATER_STORIES = {"job_lost": ("web.succeed", "beta", {}), "queued": ("web.wait", "acme", {})}
# Queued after the reconciler ran, past its threshold by the time anyone looks: stale.
STALE_STORIES = {"stale": ("web.stall", "beta", {})}
ALL_STORIES = {**STORIES, **LATER_STORIES, **STALE_STORIES}


@dataclass
class FilledLedger:
    env: dict[str, str]
    runs: dict[str, UUID] = field(default_factory=dict)

    @property
    def settings(self) -> DatabaseSettings:
        return DatabaseSettings.from_url(self.env["RUNLEDGER_DATABASE_URL"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def enqueue_stories(
    env: dict[str, str], stories: dict[str, tuple[str, str, dict[str, Any]]]
) -> dict[str, UUID]:
    """Queues one run per story through the real client (`env` is its environment)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        async with RunClient.from_env(jobs=CLIENT_JOBS) as client:
            return {
                story: await client.enqueue(kind, workspace=workspace, params=params)
                for story, (kind, workspace, params) in stories.items()
            }
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _lose_job(env: dict[str, str], run_id: UUID) -> None:
    """Deletes a queued run's arq job, as a flushed or failed-over Redis would."""
    import redis

    client = redis.Redis.from_url(env["RUNLEDGER_REDIS_URL"])
    try:
        client.delete(f"arq:job:{run_id}")
        client.zrem(env["RUNLEDGER_QUEUE_NAME"], str(run_id))
    finally:
        client.close()


def fill_ledger(env: dict[str, str]) -> FilledLedger:
    """One run per story, ended by a real worker; plus a lost job, a queued and a stale run."""
    filled = FilledLedger(env)
    filled.runs = asyncio.run(enqueue_stories(env, STORIES))
    worker = runledger("worker", "--burst", "--poll-delay", "0.05", "--jobs", WORKER_JOBS,
                       timeout=120, **env)  # fmt: skip
    assert worker.returncode == 0, worker.stderr[-3000:]
    later = asyncio.run(enqueue_stories(env, LATER_STORIES))
    filled.runs.update(later)
    _lose_job(env, later["job_lost"])
    healed = asyncio.run(_reconcile_once(env))
    assert [h.run_id for h in healed.healed] == [later["job_lost"]], healed
    stale_from = time.monotonic() + STALL_THRESHOLD
    filled.runs.update(asyncio.run(enqueue_stories(env, STALE_STORIES)))
    CatchUpRunner(filled.settings).run_once()
    wait_for(lambda: time.monotonic() >= stale_from, 10, "stale run past its threshold")
    return filled


async def _reconcile_once(env: dict[str, str]) -> ReconcileReport:
    """One pass of the real reconciler, as `runledger reconcile --grace 0` makes it (in
    this process: the fixture is filled once per module, and a process start is seconds)."""
    settings = DatabaseSettings.from_url(env["RUNLEDGER_DATABASE_URL"])
    async with open_reconciler(settings, QueueSettings.from_env(env), grace=0) as reconciler:
        return await reconciler.run_once()


class WebServer:
    """`runledger web` in a subprocess; `stop()` (or the fixture) ends it.

    Its output goes to a file, not a pipe: nobody reads a pipe while tests run, and once
    the access log fills one (a few hundred requests) the server would block writing.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"RUNLEDGER_SECRET_KEY": "test-secret-key-0123456789", **env}
        self.process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    def start(self) -> WebServer:
        self._log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            [RUNLEDGER, "web", "--port", str(self.port)],
            env=cli_env(**self.env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        wait_for(self._answers, 30, f"runledger web on {self.url}")
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"runledger web exited: {self.output()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        """What the server has logged so far."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> str:
        """Stops the server; returns what it logged."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        logged = self.output()
        if self._log is not None:
            self._log.close()
            self._log = None
        return logged
