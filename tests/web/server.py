"""A ledger filled by a real worker and served by a real `runledger web` over HTTP.

`fill_ledger` queues one run per story through the real client, lets a real burst
worker run them, makes arq lose one job for the reconciler, leaves one queued, and
projects. `WebServer` runs `runledger web` in a subprocess on a free port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx

from ledger import DatabaseSettings
from tests.e2e.cli import runledger, spawn, wait_for
from workers import RunClient

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


async def _enqueue(
    env: dict[str, str], stories: dict[str, tuple[str, str, dict[str, Any]]]
) -> dict[str, UUID]:
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
    """One run per story, ended by a real worker; plus a lost job and a queued run."""
    filled = FilledLedger(env)
    filled.runs = asyncio.run(_enqueue(env, STORIES))
    worker = runledger("worker", "--burst", "--poll-delay", "0.05", "--jobs", WORKER_JOBS,
                       timeout=120, **env)  # fmt: skip
    assert worker.returncode == 0, worker.stderr[-3000:]
    later = asyncio.run(_enqueue(env, {"job_lost": ("web.succeed", "beta", {}),
                                       "queued": ("web.succeed", "acme", {})}))  # fmt: skip
    filled.runs.update(later)
    _lose_job(env, later["job_lost"])
    healed = runledger("reconcile", "--grace", "0", **env)
    assert healed.returncode == 0, healed.stderr
    projected = runledger("project", "--once", **env)
    assert projected.returncode == 0, projected.stderr
    return filled


class WebServer:
    """`runledger web` in a subprocess; `stop()` (or the fixture) ends it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"RUNLEDGER_SECRET_KEY": "test-secret-key-0123456789", **env}
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> WebServer:
        self.process = spawn("web", "--port", str(self.port), **self.env)
        wait_for(self._answers, 30, f"runledger web on {self.url}")
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            _, err = self.process.communicate()
            raise AssertionError(f"runledger web exited: {err[-2000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

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
        _, err = self.process.communicate(timeout=10)
        self.process = None
        return err
