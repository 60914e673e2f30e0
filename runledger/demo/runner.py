"""Driving the demo: stores, processes, the runs that tell each story (queueing.py), and
watching the dashboard's JSON API until every story is told.

The orphan is the one story that needs timing: its worker is SIGKILLed at a moment
chosen so that the run turns stale well before the next reconciler pass, so the
dashboard shows it stale ("will be reconciled at ...") for several seconds, and then
reconciled as `reconciler.stale_running`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from rich.console import Console

from ledger import DatabaseSettings, utcnow
from runledger.demo.orphan_jobs import ORPHAN_QUEUE
from runledger.demo.queueing import JOBS, ORPHAN_JOBS, queue_story_runs
from runledger.demo.stories import BY_KEY, STORIES, Document
from runledger.demo.supervisor import Supervisor, free_port, runledger_command
from runledger.wiring import migrate_all

RECONCILE_INTERVAL = 10  # seconds between reconciler passes (a divisor of 60)
ORPHAN_STALE_AFTER = 46.0  # demo.rebuild_thumbnails' stale_running_after
# The orphan's worker dies when its run's stale time (the kill + the threshold, less up
# to one heartbeat) falls early in a reconcile interval: it then shows stale for at
# least ~5 s before the pass that heals it.
KILL_SLOT = (1.2, 4.5)


@dataclass
class Options:
    check: bool = False
    directory: Path | None = None
    port: int | None = None
    report: Path | None = None
    timeout: float = 150.0


@dataclass
class Demo:
    options: Options
    console: Console
    directory: Path = field(init=False)
    supervisor: Supervisor = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    token: str = ""
    login_link: str = ""
    runs: dict[str, UUID] = field(default_factory=dict)
    told: dict[str, float] = field(default_factory=dict)
    headlines: dict[str, str] = field(default_factory=dict)
    details: dict[str, list[str]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    orphan_killed: bool = False

    # -- setting up -------------------------------------------------------------------------

    def prepare(self) -> None:
        """A fresh directory, a private Redis, a migrated SQLite ledger, a token."""
        if self.options.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="runledger-demo-"))
        else:
            self.directory = self.options.directory.absolute()
            shutil.rmtree(self.directory, ignore_errors=True)  # every demo starts afresh
            self.directory.mkdir(parents=True)
        self.supervisor = Supervisor(self.directory)
        redis_port, web_port = free_port(), self.options.port or _default_port()
        self.url = f"http://127.0.0.1:{web_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RUNLEDGER_")},
            "RUNLEDGER_DATABASE_URL": f"sqlite:///{self.directory / 'ledger.db'}",
            "RUNLEDGER_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "RUNLEDGER_JOBS": JOBS,
            "RUNLEDGER_RECONCILE_INTERVAL": str(RECONCILE_INTERVAL),
            "RUNLEDGER_SECRET_KEY": secrets.token_urlsafe(32),
            "RUNLEDGER_WEB_PORT": str(web_port),
        }
        self.supervisor.start_redis(redis_port)
        list(migrate_all(self.settings))
        self.token, code = _create_token(self.settings)
        self.login_link = f"{self.url}/login/link/{code}"

    @property
    def settings(self) -> DatabaseSettings:
        return DatabaseSettings.from_url(self.env["RUNLEDGER_DATABASE_URL"])

    def start_processes(self) -> None:
        cli = runledger_command()
        self.supervisor.start("web", [*cli, "web"], self.env)
        # The dashboard first: it is up while the rest start.
        self.supervisor.wait_for_port(int(self.env["RUNLEDGER_WEB_PORT"]), "web", timeout=30)
        self.supervisor.start("projector", [*cli, "project"], self.env)
        for n in (1, 2):
            self.supervisor.start(f"worker-{n}", [*cli, "worker", "--poll-delay", "0.1"], self.env)
        orphans = {**self.env, "RUNLEDGER_QUEUE_NAME": ORPHAN_QUEUE, "RUNLEDGER_JOBS": ORPHAN_JOBS}
        self.supervisor.start("orphan-worker", [*cli, "worker", "--poll-delay", "0.1"], orphans)

    # -- telling the stories ----------------------------------------------------------------

    async def queue_runs(self) -> None:
        self.runs.update(await queue_story_runs(self.env))

    async def watch(self) -> bool:
        """Polls the API until every story is told (True) or the time is up (False)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        deadline = time.monotonic() + self.options.timeout
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=5) as http:
            while len(self.told) < len(STORIES) and time.monotonic() < deadline:
                for name in list(self.supervisor.processes):
                    self.supervisor.check_alive(name)
                for story in STORIES:
                    if story.key not in self.told:
                        document = await _document(http, self.runs[story.key])
                        if document is not None:
                            await self._look(story.key, document)
                await asyncio.sleep(0.4)
        return len(self.told) == len(STORIES)

    async def _look(self, key: str, document: Document) -> None:
        if key == "orphaned" and not self.orphan_killed:
            self._maybe_kill_orphan(document)
        if BY_KEY[key].told(document):
            self.told[key] = time.monotonic() - self.started
            self.headlines[key] = document["explanation"]["headline"]
            self.details[key] = list(document["explanation"]["details"])
            seconds = f"{self.told[key]:5.1f}s"
            self.console.print(
                f"  [green]✓[/green] {seconds}  {BY_KEY[key].title}: {self.headlines[key]}",
                highlight=False, markup=True, soft_wrap=True,
            )  # fmt: skip
            if key == "job_lost":
                await self._bring_back_lost_job()

    def _maybe_kill_orphan(self, document: Document) -> None:
        """Kills the orphan's worker mid-job, in the slot that keeps it visibly stale."""
        if document["status"] != "running" or document["heartbeats"] < 1:
            return
        phase = (time.time() + ORPHAN_STALE_AFTER) % RECONCILE_INTERVAL
        if KILL_SLOT[0] <= phase <= KILL_SLOT[1] or document["heartbeats"] >= 12:
            self.supervisor.kill("orphan-worker")
            self.orphan_killed = True
            self.console.print(
                "  [yellow]![/yellow] SIGKILLed the orphan's worker mid-job, on purpose: "
                "the reconciler will close its run"
            )

    async def _bring_back_lost_job(self) -> None:
        """The lost job turns up again (as after a Redis failover): a late signal."""
        from arq.constants import default_queue_name

        from workers.settings import QueueSettings

        redis = QueueSettings(self.env["RUNLEDGER_REDIS_URL"], default_queue_name).client()
        try:
            await redis.enqueue_job(
                "demo.sync_inventory", _job_id=str(self.runs["job_lost"]), warehouse="south"
            )
        finally:
            await redis.aclose()

    # -- the end ----------------------------------------------------------------------------

    def write_report(self) -> None:
        if self.options.report is None:
            return
        report: dict[str, Any] = {
            "url": self.url,
            "token": self.token,
            # The other secrets of the demo, so a test can scan the logs for each.
            "secret_key": self.env["RUNLEDGER_SECRET_KEY"],
            "login_code": self.login_link.rsplit("/", 1)[-1],
            "database_url": self.env["RUNLEDGER_DATABASE_URL"],
            "runs": {k: str(v) for k, v in self.runs.items()},
            "told": self.told,
            "headlines": self.headlines,
            "details": self.details,
            "stories": {s.key: list(s.ending) for s in STORIES},
        }
        # It holds the demo's token and secret key: readable by its owner only, from the
        # moment it exists (write_text then chmod would leave it world-readable a while).
        path = self.options.report
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            os.fchmod(out.fileno(), 0o600)  # an older report may have had wider rights
            out.write(json.dumps(report, indent=2))

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self.options.directory is None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _default_port() -> int:
    import socket

    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 8000)) != 0:
            return 8000
    return free_port()


def _create_token(settings: DatabaseSettings) -> tuple[str, str]:
    """The demo operator's token, and a one-time login link's code for it."""
    from projections.pool import ReadConnections
    from web.login_links import LoginLinks
    from web.tokens import TokenStore

    connections = ReadConnections(settings, max_size=1)
    try:
        info, token = TokenStore(connections).create("demo", ["*"], [], utcnow())
        code = LoginLinks(connections).create(info.id, utcnow())
    finally:
        connections.close()
    return token, code


async def _document(http: httpx.AsyncClient, run_id: UUID) -> Document | None:
    try:
        response = await http.get(f"/api/runs/{run_id}")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None  # not projected yet
    document: Document = response.json()
    return document
