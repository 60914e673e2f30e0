"""Private servers for the chaos and fault tests, the `runledger` processes they run, and
the application thread that queues runs.

The PostgreSQL and Redis on this machine are shared (other people's test runs use them
at the same moment), so a test that stops, restarts or wipes a server does it to one of
its own: `PrivatePostgres` (an `initdb` cluster in a temporary directory, on a free port,
run as the `postgres` OS user when we are root, since PostgreSQL refuses to run as root)
and `PrivateRedis` (`redis-server` with no persistence, on a free port). Each is made per
test module and always stopped in a `finally`.

`Fleet` starts `runledger` processes (workers, projector, web, one-shot commands), each
logging to a file of its own under one directory, so a test can SIGKILL and restart them,
read what they logged, and hand the logs to the secrets scan. `Enqueuer` queues runs at
a steady pace through the real `RunClient`, trying a failed enqueue again with the same
idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledger import DatabaseSettings, RunLedger
from projections.db import Connection
from projections.projector import READ_MODELS
from projections.replay import replay
from tests.e2e.cli import ROOT, RUNLEDGER, cli_env
from workers import QueueSettings, RunClient, load_operations

# What the chaos tests put in their database URLs: PostgreSQL's trust authentication
# ignores it, and the secrets scan looks for it in every log.
DATABASE_PASSWORD = "chaos-Pw-7f3e9c1d5b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(probe: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        time.sleep(every)
    return value


# -- PostgreSQL -----------------------------------------------------------------------------


def _postgres_bindir() -> Path:
    """The directory of initdb and pg_ctl: pg_config's, else the newest Debian one."""
    pg_config = shutil.which("pg_config")
    candidates: list[Path] = []
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(done.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(debian.iterdir(), key=lambda p: float(p.name), reverse=True)
        candidates += [v / "bin" for v in versions]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    pytest.fail(
        "the fault tests run a PostgreSQL cluster of their own and need the server binaries "
        "(initdb, pg_ctl): apt-get install postgresql",
        pytrace=False,
    )


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: `initdb` in a temporary directory, `pg_ctl` start,
    stop and restart. As root it runs as the `postgres` OS user (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="runledger-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(
                    "running as root, the private PostgreSQL needs the `postgres` OS user "
                    "to run as (PostgreSQL refuses to run as root)",
                    pytrace=False,
                )
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def url(self, dbname: str = "postgres", *, password: str = DATABASE_PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *command: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*self._as, *command], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"

    def create(self) -> PrivatePostgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        return self.start()

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off -c full_page_writes=off"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.logfile), "-w", "-t", "60", "start")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash as clients see it: every backend dies at once, no
        checkpoint, crash recovery at the next start."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        status = [*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(status, capture_output=True, check=False).returncode == 0

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            if self.data.exists() and self.is_running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        yield server.create()
    finally:
        server.destroy()


# -- Redis ----------------------------------------------------------------------------------


class PrivateRedis:
    """`redis-server` on a free port with no persistence: a restart loses every key."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "the fault tests run a Redis of their own: apt-get install redis-server",
                pytrace=False,
            )
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="runledger-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.starts += 1
        log = (self.root / f"redis-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_until(self.answers, 20, f"the private Redis on port {self.port}")
        return self

    def answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """Gone at once, and with it every key (nothing was persisted)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        yield server.start()
    finally:
        server.stop()


# -- runledger processes --------------------------------------------------------------------


@dataclass
class Process:
    """One `runledger` process of a Fleet, and the file it logs to."""

    role: str
    popen: subprocess.Popen[str]
    log: Path
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Fleet:
    """`runledger` processes of one test, each in a session of its own (so a SIGKILL can
    take a worker's committer process with it) and logging to `logs/<n>-<role>.log`."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[Process] = []
        self._lock = threading.Lock()  # processes are spawned from several threads
        logs.mkdir(parents=True, exist_ok=True)

    def spawn(self, role: str, *args: str, stdout: Path | None = None) -> Process:
        """Starts `runledger ARGS`; its stderr (and its stdout, unless `stdout` names a
        file of its own) goes to its log."""
        with self._lock:
            path = self.logs / f"{len(self.processes):03d}-{role}.log"
            with path.open("w") as log, (stdout or path).open("a") as out:
                popen = subprocess.Popen(
                    [RUNLEDGER, *args],
                    env=cli_env(**self.env),
                    stdout=out,
                    stderr=log,
                    text=True,
                    cwd=ROOT,
                    start_new_session=True,
                )
            process = Process(role, popen, path)
            self.processes.append(process)
        return process

    def run(self, role: str, *args: str, timeout: float = 120) -> tuple[int, str]:
        """A one-shot command: its exit code and what it printed on stdout."""
        out = self.logs / f"{role}-{uuid.uuid4().hex[:8]}.out"
        process = self.spawn(role, *args, stdout=out)
        try:
            code = process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(process, group=True)
            raise AssertionError(f"runledger {' '.join(args)} took over {timeout:g} s") from None
        return code, out.read_text(errors="replace")

    def kill(self, process: Process, *, group: bool = False) -> float:
        """SIGKILL, and the time it was sent; `group` takes its children with it."""
        killed_at = time.time()
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)
        process.popen.wait(timeout=30)
        return killed_at

    def terminate(self, process: Process, timeout: float = 30) -> int:
        """SIGTERM and wait: the process's own orderly stop."""
        if process.alive():
            process.popen.send_signal(signal.SIGTERM)
        try:
            return process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(process, group=True)
            raise AssertionError(f"{process.role} {process.pid} ignored SIGTERM") from None

    def close(self) -> None:
        """Kills whatever is still running, children included."""
        for process in self.processes:
            if process.alive():
                with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(process, group=True)
            # A committer whose worker was killed alone drains and exits by itself; one
            # still there is stopped with its session.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


# -- an application queueing runs ----------------------------------------------------------


class Enqueuer(threading.Thread):
    """An application thread queueing `types` (one run each) through a RunClient, paced
    at `rate` runs a second. Each run has an idempotency key, and an enqueue that fails
    (the database or Redis is down) is tried again with the same key, as an application
    would, until `give_up_after` seconds: so each planned run exists exactly once."""

    def __init__(
        self,
        env: dict[str, str],
        jobs: str,
        types: list[str],
        *,
        rate: float,
        workspace: str = "acme",
        give_up_after: float = 60.0,
        defer_by: float | None = None,
    ) -> None:
        super().__init__(daemon=True, name="chaos-enqueuer")
        self.env, self.jobs, self.types = env, jobs, types
        self.rate, self.workspace = rate, workspace
        self.give_up_after, self.defer_by = give_up_after, defer_by
        self.queued: dict[UUID, str] = {}
        self.queued_at: dict[UUID, float] = {}
        self.slowest = 0.0  # seconds, the longest one enqueue took (its retries included)
        self.failures: list[str] = []  # one line per enqueue tried again
        self.error: BaseException | None = None
        self.prefix = uuid.uuid4().hex[:8]

    def run(self) -> None:
        try:
            asyncio.run(self._enqueue_all())
        except BaseException as error:
            self.error = error

    async def _enqueue_all(self) -> None:
        queue = QueueSettings(self.env["RUNLEDGER_REDIS_URL"], self.env["RUNLEDGER_QUEUE_NAME"])
        ledger = RunLedger(DatabaseSettings.from_url(self.env["RUNLEDGER_DATABASE_URL"]))
        started = time.monotonic()
        try:
            async with RunClient(ledger, queue.client(), load_operations(self.jobs)) as client:
                for index, operation_type in enumerate(self.types):
                    pause = started + index / self.rate - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                    began = time.monotonic()
                    run_id = await self._enqueue(client, operation_type, f"{self.prefix}-{index}")
                    self.slowest = max(self.slowest, time.monotonic() - began)
                    self.queued[run_id] = operation_type
                    self.queued_at[run_id] = time.time()
        finally:
            ledger.close()

    async def _enqueue(self, client: RunClient, operation_type: str, key: str) -> UUID:
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                return await client.enqueue(
                    operation_type,
                    workspace=self.workspace,
                    idempotency_key=key,
                    defer_by=self.defer_by,
                )
            except Exception as error:
                if time.monotonic() > deadline:
                    raise
                self.failures.append(f"{type(error).__name__}: {str(error)[:200]}")
                await asyncio.sleep(0.2)

    def finish(self, timeout: float = 120) -> dict[UUID, str]:
        self.join(timeout=timeout)
        assert not self.is_alive(), "the enqueuer is stuck"
        if self.error is not None:
            raise AssertionError(f"enqueueing failed: {self.error!r}") from self.error
        return self.queued


# -- what the store holds -------------------------------------------------------------------


TERMINAL = {"Completed", "QueueFailed", "ReconciledStale"}  # the event names that end a run


def record_of(events: list[Any], *, heartbeats: bool = True) -> list[tuple[object, ...]]:
    """A run's events as the job modules' RECORDS spell them: each event's name, with its
    attempt, and the reason of a retry or an ending (heartbeats left out if asked)."""
    rows: list[tuple[object, ...]] = []
    for event in events:
        name = type(event).__name__
        if name == "Queued":
            rows.append((name,))
        elif name in TERMINAL:
            rows.append((name, getattr(event, "attempt", None), event.reason_code))
        elif name == "RetryScheduled":
            rows.append((name, event.attempt, event.reason))
        elif heartbeats or name != "Heartbeat":
            rows.append((name, event.attempt))
    return rows


def events_by_run(ledger: RunLedger, page: int = 2000) -> dict[UUID, list[Any]]:
    """Every event in the event store, read through its notification log (so a run the
    test never heard of shows too), decoded by eventsourcing's own mapper, per run."""
    runs: dict[UUID, list[Any]] = {}
    start = 1
    while notifications := ledger.recorder.select_notifications(start, page):
        for notification in notifications:
            event = ledger.mapper.to_domain_event(notification)
            runs.setdefault(event.originator_id, []).append(event)
        start = notifications[-1].id + 1
    for events in runs.values():
        events.sort(key=lambda e: e.originator_version)
    return runs


def read_models(settings: DatabaseSettings) -> dict[str, list[tuple[object, ...]]]:
    """Every read model's rows, in a stable order (what a replay must reproduce)."""
    with Connection(settings) as conn:
        return {table.name: table.dump(conn) for table in READ_MODELS}


def assert_read_models_equal_a_replay(settings: DatabaseSettings) -> int:
    """Replays the event store into fresh read models and compares; returns the rows."""
    live = read_models(settings)
    replay(settings)
    rebuilt = read_models(settings)
    for name, rows in live.items():
        assert rows == rebuilt[name], f"{name}: the live read model differs from a replay"
    return sum(len(rows) for rows in live.values())
