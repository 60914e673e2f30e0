"""The instruments of the load test (tests/chaos/test_load.py): the commit latency log's
reader, the resident-memory sampler, the web readers, and the figures made of them.

- `LatencyLog` reads the file the workers append `COMMAND SECONDS` lines to
  (RUNLEDGER_COMMIT_LATENCY_LOG, workers/tracking.py: a hook handing a transition over
  to its durable commit). Its terminal commands also count the runs ended so far, with
  no query of the database the load is measuring.
- `MemorySampler` reads every process's VmRSS from /proc once a second (no psutil: it
  is not a dependency), the processes the test started and their children (a worker's
  committer process and multiprocessing's resource tracker), each sample tagged with the
  runs ended so far, so growth is measured against work done, not time.
- `BacklogEnqueuer` is an application queueing runs as fast as the workers take them,
  with at most a window of runs queued but not yet ended (a steady stream, not a dump:
  see its docstring).
- `Readers` are the operators: each logs in through the login form, as a browser would,
  and reads `/operations` (HTML, with its session cookie) and `/api/runs` (with a
  bearer token) in turn until told to stop, timing every answer.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx

from tests.chaos.servers import Enqueuer, Process
from workers import RunClient

TERMINAL_COMMANDS = {"CompleteRun", "FailByQueue"}  # what a worker ends a run with
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile (`q` in 0-100) of `values`: a value that was seen."""
    ordered = sorted(values)
    assert ordered, "no values"
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def millis(seconds: float) -> float:
    return round(seconds * 1000, 1)


# -- the commit latency log --------------------------------------------------------------


class LatencyLog:
    """Tails the commit latency file; thread-safe (the sampler and the test read it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latencies: dict[str, list[float]] = {}
        self.ended = 0
        self._offset = 0
        self._lock = threading.Lock()

    def read(self) -> int:
        """Reads the lines appended since the last call; returns the runs ended so far."""
        with self._lock:
            if not self.path.exists():
                return self.ended
            with self.path.open("rb") as file:
                file.seek(self._offset)
                chunk = file.read()
            whole = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits
            self._offset += len(whole)
            for line in whole.decode().splitlines():
                command, seconds = line.split()
                self.latencies.setdefault(command, []).append(float(seconds))
                self.ended += command in TERMINAL_COMMANDS
            return self.ended

    def every(self) -> list[float]:
        with self._lock:
            return [s for values in self.latencies.values() for s in values]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {command: len(values) for command, values in sorted(self.latencies.items())}


def latency_figures(log: LatencyLog) -> dict[str, object]:
    """p50, p99 and worst over every durable command, then per command type (ms)."""
    every = log.every()
    figures: dict[str, object] = {
        "commands": len(every),
        "p50_ms": millis(percentile(every, 50)),
        "p99_ms": millis(percentile(every, 99)),
        "max_ms": millis(max(every)),
    }
    figures["by_command"] = {
        command: {
            "commands": len(values),
            "p50_ms": millis(percentile(values, 50)),
            "p99_ms": millis(percentile(values, 99)),
        }
        for command, values in sorted(log.latencies.items())
    }
    return figures


# -- the application ----------------------------------------------------------------------


class Backlog:
    """The runs queued and not yet ended, shared by the enqueuers: at most `window`."""

    def __init__(self, ended: Callable[[], int], window: int) -> None:
        self.ended, self.window = ended, window
        self.queued = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One more run may be queued now (and is counted), or the window is full."""
        with self._lock:
            if self.queued - self.ended() >= self.window:
                return False
            self.queued += 1
            return True


class BacklogEnqueuer(Enqueuer):
    """An Enqueuer that queues each run as soon as the backlog has room for it.

    Dumping every run at once would leave thousands waiting in Redis for minutes, and
    the reconciler cron, which rechecks every queued run idle past its 10 s grace (one
    event-store read each, to tell a lost job from a waiting one), would spend each pass
    on the backlog (tests/chaos/test_load.py's docstring has the figures). A window of
    a few seconds of work keeps both workers busy all the time, so the throughput is
    still theirs.
    """

    def __init__(self, env: dict[str, str], jobs: str, types: list[str], backlog: Backlog) -> None:
        super().__init__(env, jobs, types, rate=1e6)  # paced by the backlog, not a rate
        self.backlog = backlog

    async def _enqueue(self, client: RunClient, operation_type: str, key: str) -> UUID:
        while not self.backlog.take():
            await asyncio.sleep(0.01)
        return await super()._enqueue(client, operation_type, key)


# -- resident memory ------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def children(pid: int) -> list[int]:
    """The direct children of `pid` (/proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def child_role(pid: int) -> str:
    """What a child of a runledger process is, from its command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    if "resource_tracker" in cmdline:
        return "resource-tracker"
    if "spawn_main" in cmdline:
        return "committer"
    return "child"


@dataclass
class Sample:
    at: float  # seconds since the sampler started
    ended: int  # runs ended so far
    rss: dict[str, int]  # KiB, by process label


class MemorySampler(threading.Thread):
    """Every `every` seconds: the VmRSS of each named process and of its children."""

    def __init__(
        self, processes: dict[str, Process], ended: Callable[[], int], every: float = 1.0
    ) -> None:
        super().__init__(daemon=True, name="load-memory-sampler")
        self.processes, self.ended, self.every = processes, ended, every
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        next_at = began
        while True:
            ended = self.ended()
            self.samples.append(Sample(time.monotonic() - began, ended, self._rss()))
            next_at += self.every
            if self.stopping.wait(max(0.0, next_at - time.monotonic())):
                break
        ended = self.ended()  # and a last one, once told to stop
        self.samples.append(Sample(time.monotonic() - began, ended, self._rss()))

    def _rss(self) -> dict[str, int]:
        rss: dict[str, int] = {}
        for label, process in self.processes.items():
            self._take(rss, label, process.pid)
            for child in children(process.pid):
                self._take(rss, f"{label} {child_role(child)}", child)
        return rss

    def _take(self, rss: dict[str, int], label: str, pid: int) -> None:
        kib = rss_kib(pid)
        if kib is not None:
            rss[label] = kib

    def stop(self) -> list[Sample]:
        self.stopping.set()
        self.join(timeout=10)
        return self.samples


def at_runs(samples: list[Sample], runs: int) -> Sample:
    """The first sample taken once `runs` runs had ended."""
    return next(s for s in samples if s.ended >= runs)


@dataclass(frozen=True)
class Memory:
    """One process's resident memory over the load, in MiB."""

    at: dict[int, float | None]  # runs ended -> RSS then
    warm: float | None  # at the warm-up mark
    end: float  # once every run had ended
    peak_after_warm: float

    @property
    def growth_pct(self) -> float | None:
        return None if not self.warm else round((self.end / self.warm - 1) * 100, 1)

    def as_json(self) -> dict[str, object]:
        return {
            "mib_at_runs": {str(runs): value for runs, value in self.at.items()},
            "warm_mib": self.warm,
            "end_mib": self.end,
            "growth_pct": self.growth_pct,
            "peak_after_warm_mib": self.peak_after_warm,
        }


def memory_figures(
    samples: list[Sample], runs: int, warm: float, marks: Iterable[float]
) -> dict[str, Memory]:
    """Per process: its RSS at each mark (a fraction of the runs), at the warm-up mark and
    at the end, and its peak after warm-up."""
    warm_sample, end_sample = at_runs(samples, round(runs * warm)), at_runs(samples, runs)
    after_warm = [s for s in samples if s.at >= warm_sample.at]
    marked = {round(runs * m): at_runs(samples, round(runs * m)) for m in marks}
    return {
        label: Memory(
            at={n: mib(sample.rss.get(label)) for n, sample in marked.items()},
            warm=mib(warm_sample.rss.get(label)),
            end=mib(end_sample.rss[label]) or 0.0,
            peak_after_warm=mib(max(s.rss.get(label, 0) for s in after_warm)) or 0.0,
        )
        for label in sorted(end_sample.rss)
    }


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def memory_table(figures: dict[str, Memory]) -> str:
    """The per-process RSS table the test prints: MiB at each mark of runs ended."""
    marks = list(next(iter(figures.values())).at)
    title = "MiB at runs ended"
    width = max(len(title), *(len(label) for label in figures))
    head = f"{title:<{width}} | " + " | ".join(f"{m:>6}" for m in marks)
    lines = [f"{head} | growth | peak", "-" * (len(head) + 17)]
    for label, memory in figures.items():
        cells = " | ".join(f"{memory.at[m]!s:>6}" for m in marks)
        growth = f"{memory.growth_pct:+.1f}%" if memory.growth_pct is not None else "-"
        lines.append(f"{label:<{width}} | {cells} | {growth:>6} | {memory.peak_after_warm}")
    return "\n".join(lines)


# -- the web's readers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    path: str
    status: int  # 0: no HTTP answer
    seconds: float
    at: float  # time.monotonic() when it was asked


def logged_in(url: str, token: str) -> httpx.Client:
    """A client with an operator's session, made through the login form."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    form = client.get("/login")
    found = CSRF_FIELD.search(form.text)
    assert found, "the login page holds no CSRF field"
    response = client.post("/login", data={"csrf": found.group(1), "token": token})
    assert response.status_code == 303, response.text
    return client


class Readers:
    """`clients` threads, each reading PATHS in turn with a pause between two answers."""

    PATHS = ("/operations", "/api/runs")

    def __init__(self, url: str, token: str, *, clients: int, pause: float) -> None:
        self.url, self.token, self.pause = url, token, pause
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.logged_in = threading.Semaphore(0)  # released once per client logged in
        self.threads = [
            threading.Thread(target=self._read, args=(n,), daemon=True, name=f"reader-{n}")
            for n in range(clients)
        ]

    def start(self, timeout: float = 60) -> None:
        """Starts every client; returns once each has logged in (and is reading)."""
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for _ in self.threads:
            left = deadline - time.monotonic()
            assert self.logged_in.acquire(timeout=max(0.0, left)), "a login hangs"
        assert self.errors == [], f"logins failed: {self.errors}"

    def _read(self, number: int) -> None:
        try:
            client = logged_in(self.url, self.token)
        except Exception as error:  # every client must read: the test fails
            with self._lock:
                self.errors.append(f"reader {number}: {type(error).__name__}: {error}")
            self.logged_in.release()
            return
        self.logged_in.release()
        bearer = {"Authorization": f"Bearer {self.token}"}
        turn = number  # the clients start on different paths
        try:
            while not self.stopping.is_set():
                path = self.PATHS[turn % len(self.PATHS)]
                turn += 1
                self._ask(client, path, bearer if path.startswith("/api/") else {})
                self.stopping.wait(self.pause)
        finally:
            client.close()

    def _ask(self, client: httpx.Client, path: str, headers: dict[str, str]) -> None:
        began = time.monotonic()
        try:
            status = client.get(path, headers=headers).status_code
        except httpx.HTTPError as error:
            status = 0
            with self._lock:
                self.errors.append(f"{path}: {type(error).__name__}: {error}")
        with self._lock:
            self.answers.append(Answer(path, status, time.monotonic() - began, began))

    def stop(self) -> list[Answer]:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        return self.answers


def reader_figures(answers: list[Answer], during: tuple[float, float]) -> dict[str, object]:
    """Per path: answers, of them not 200, p50 and p95 and worst (ms), over the answers
    asked during the load (`during`: its monotonic start and end)."""
    figures: dict[str, object] = {}
    for path in Readers.PATHS:
        mine = [a for a in answers if a.path == path and during[0] <= a.at <= during[1]]
        seconds = [a.seconds for a in mine]
        figures[path] = {
            "answers": len(mine),
            "not_200": sum(a.status != 200 for a in answers if a.path == path),
            "per_s": round(len(mine) / max(1e-9, during[1] - during[0]), 1),
            "p50_ms": millis(percentile(seconds, 50)),
            "p95_ms": millis(percentile(seconds, 95)),
            "max_ms": millis(max(seconds)),
        }
    return figures
