"""Read models of a busy ledger, written straight into the projector's tables.

`seed(settings, runs=N, audit_entries=M, heartbeats=K)` fills what `runledger migrate`
creates as the projector would from N runs' events (not written themselves): the runs
index, M audit entries, the stats and activity and, for K > 0, one running run whose K
heartbeats are also in the run timeline. All events are merged in time order (audit
positions follow time, as notification ids do) and folded by the projector's own code,
so rows, `stale_at` and counts are exactly the fold's; same arguments and `now`, same rows.

The mix: 4 workspaces (40/30/20/10 %), 5 operation types (35/25/15/15/10 %), 30 days;
97 % completed (86 % job.succeeded, then every other reason code), 2 % running (a quarter
stale), 1 % queued (four in five stale), 2 % on a second try; actors `system`,
`worker:host-X:PID`, `reconciler`; entries beyond each run's queued, started and ended
are heartbeats of the runs that started. Timings: docs/benchmarks.md ("Web API").
"""

from __future__ import annotations

import gc
import heapq
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, NamedTuple

from ledger import DatabaseSettings, OperationPolicy, stale_threshold, utcnow
from ledger.codes import EndedBy, Outcome, ReasonCode, RunStatus, default_outcome
from projections import activity, audit, runs_index, stats, timeline
from projections.db import Connection
from projections.events import LedgerEvent
from projections.runs_index import RunRecord, canonical_json
from runledger.wiring import migrate_all


def _policy(timeout: float, tries: int, queued: float, running: float) -> OperationPolicy:
    return OperationPolicy(timeout, tries, stale_queued_after=queued, stale_running_after=running)


WORKSPACES = {"acme": 40, "globex": 30, "initech": 20, "umbrella": 10}
# Stale thresholds of 20 minutes or more: a fresh run stays fresh while a benchmark runs.
OPERATIONS = {
    "billing.invoice": (35, _policy(60, 3, 1800, 1200)),
    "email.digest": (25, _policy(30, 5, 1800, 1200)),
    "crm.sync": (15, _policy(300, 3, 3600, 1800)),
    "reports.export": (15, _policy(900, 2, 3600, 2700)),
    "media.transcode": (10, _policy(3600, 1, 7200, 3600)),
}
_ENDINGS_PER_10000 = """
    job.succeeded=8600 job.partially_succeeded=200 job.failed=400 job.exception=250
    queue.timeout=150 queue.max_tries_exceeded=80 queue.expired=30 queue.aborted=40
    queue.worker_shutdown=40 queue.function_missing=5 queue.deserialize_error=5
    reconciler.stale_queued=30 reconciler.stale_running=80 reconciler.job_lost=50
    reconciler.queue_result=40
"""
ENDINGS = {ReasonCode(c): int(n) for c, n in (w.split("=") for w in _ENDINGS_PER_10000.split())}
NEVER_STARTED = {"queue.expired", "reconciler.stale_queued", "reconciler.job_lost"}
POLICY_DATA = {name: policy.to_dict() for name, (_, policy) in OPERATIONS.items()}
WORKERS = tuple(f"worker:host-{host}:{101 + n}" for n, host in enumerate("abcdef"))
HEAVY = ("acme", "media.transcode")  # the run with K heartbeats, one every 2 s
DAYS, DAY = 30, 86400.0
FLUSH_ROWS = 50_000

Event = tuple[float, str, str, dict[str, Any]]  # at (epoch seconds), kind, actor, data
Times = tuple[float, float | None, float | None, float | None]  # queued, started, until, ended


class Plan(NamedTuple):
    """One run before its events exist: what happens to it and when (epoch seconds)."""

    queued: float
    seq: int
    run_id: str
    workspace: str
    operation_type: str
    reason: ReasonCode | None  # None while queued or running
    started: float | None  # its (last) start; None if it never started
    active_until: float | None  # its last activity: the last heartbeat lands here
    ended: float | None

    def base_events(self) -> int:
        """Events besides heartbeats: queued, started, and the ending."""
        return 1 + (self.started is not None) + (self.ended is not None)


@dataclass(frozen=True)
class Seeded:
    runs: int
    audit_entries: int
    heavy_run_id: str | None  # the run with the K heartbeats, in the run timeline
    now: datetime  # what "fresh" and "stale" were laid out against
    seconds: float


def seed(
    settings: DatabaseSettings,
    runs: int,
    audit_entries: int | None = None,
    heartbeats: int = 0,
    *,
    random_seed: int = 1,
    now: datetime | None = None,
) -> Seeded:
    """Migrates, then fills the (empty) read models; M defaults to 5 per run, plus K."""
    began, at, rng = time.perf_counter(), now or utcnow(), random.Random(random_seed)
    total = 5 * runs + heartbeats if audit_entries is None else audit_entries
    list(migrate_all(settings))
    with Connection(settings, autocommit=True) as conn, _bulk_load(conn):
        plans = sorted(_plans(rng, runs, at.timestamp(), heartbeats))
        beats = _heartbeats(rng, plans, total, heartbeats)
        heavy = next(p.run_id for p in plans if p.seq == 0) if heartbeats else None
        _write(rng, plans, beats, _Rows(conn, heavy, activity.cutoff(at)))
    return Seeded(len(plans), total, heavy, at, time.perf_counter() - began)


def _plans(rng: random.Random, runs: int, now: float, heavy: int) -> Iterator[Plan]:
    names, by_name = list(WORKSPACES), list(accumulate(WORKSPACES.values()))
    kinds, by_kind = list(OPERATIONS), list(accumulate(w for w, _ in OPERATIONS.values()))
    reasons, by_reason = list(ENDINGS), list(accumulate(ENDINGS.values()))
    for seq in range(runs):
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if seq == 0 and heavy:
            started = now - 1 - 2.0 * heavy
            yield Plan(started - 2, 0, run_id, *HEAVY, None, started, now - 1, None)
            continue
        workspace = rng.choices(names, cum_weights=by_name)[0]
        kind = rng.choices(kinds, cum_weights=by_kind)[0]
        policy, reason, draw = OPERATIONS[kind][1], None, rng.random()
        if draw < 0.97:
            reason = rng.choices(reasons, cum_weights=by_reason)[0]
            times = _ended(rng, policy, reason, now - rng.uniform(0, DAYS * DAY))
        else:
            status = RunStatus.RUNNING if draw < 0.99 else RunStatus.QUEUED
            stale = rng.random() < (0.25 if status is RunStatus.RUNNING else 0.8)
            times = _active(rng, policy, status, now, stale)
        yield Plan(times[0], seq, run_id, workspace, kind, reason, *times[1:])


def _ended(rng: random.Random, policy: OperationPolicy, reason: ReasonCode, end: float) -> Times:
    """A completed run's times, ending at `end`."""
    if reason in NEVER_STARTED:
        return end - policy.stale_queued_after - rng.uniform(5, 60), None, None, end
    timeout = policy.timeout or 60.0
    work = timeout if reason is ReasonCode.QUEUE_TIMEOUT else rng.expovariate(10 / timeout)
    idle = rng.uniform(0.001, 0.05)  # from its last sign of life to its end
    if reason.ended_by is EndedBy.RECONCILER:  # healed once idle past the threshold
        idle = policy.stale_running_after + rng.uniform(5, 60)
    until = end - idle
    started = until - min(work, timeout)
    return started - rng.uniform(0.05, 30), started, until, end


def _active(
    rng: random.Random, policy: OperationPolicy, status: RunStatus, now: float, stale: bool
) -> Times:
    """A queued or running run's times. A stale one went quiet any time in the last 30
    days (a running one after starting then); a fresh one within half its threshold, so it
    stays fresh for minutes after `now`. Running runs are long jobs that heartbeat."""
    threshold = stale_threshold(status, policy) or 0.0
    fresh = now - rng.uniform(0, threshold / 2)
    quiet = now - rng.uniform(threshold + 60, DAYS * DAY)
    if status is RunStatus.QUEUED:
        return (quiet if stale else fresh), None, None, None
    started = now - rng.uniform(threshold + 120, DAYS * DAY)
    until = max(started, rng.uniform(started, quiet)) if stale else fresh
    return started - rng.uniform(0.05, 30), started, until, None


def _heartbeats(rng: random.Random, plans: list[Plan], total: int, heavy: int) -> Counter[int]:
    """Heartbeats per run (by seq) so that the runs' events add up to `total`."""
    extra = total - sum(p.base_events() for p in plans) - heavy
    if extra < 0:
        raise ValueError(f"{total:,} audit entries are fewer than these runs' own events")
    started = [p.seq for p in plans if p.started is not None and not (heavy and p.seq == 0)]
    beats = Counter(rng.choices(started, k=extra)) if started else Counter()
    if heavy:
        beats[0] = heavy
    return beats


def _events(plan: Plan, beats: int, rng: random.Random) -> list[Event]:
    """The run's events, oldest first (times never go back: the merge relies on it)."""
    queued: dict[str, Any] = {"workspace": plan.workspace, "operation_type": plan.operation_type}
    queued |= {"initiator": "system", "params_summary": {"account": plan.seq % 997}}
    queued |= {"policy": POLICY_DATA[plan.operation_type], "idempotency_key": None}  # shared
    events: list[Event] = [(plan.queued, "queued", "system", queued)]
    tries = OPERATIONS[plan.operation_type][1].max_tries
    worker, attempt = WORKERS[plan.seq % len(WORKERS)], min(tries, 1 + plan.seq % 50 // 49)
    if plan.started is not None and plan.active_until is not None:
        until = plan.active_until
        # An active run's last activity is `until`: without heartbeats, its start.
        start = plan.started if beats or plan.ended is not None else until
        events.append((start, "started", worker, {"attempt": attempt, "worker_id": worker}))
        for n in range(1, beats + 1):
            progress = {"done": n, "total": beats}
            at = start + (until - start) * n / beats
            events.append((at, "heartbeat", worker, {"attempt": attempt, "progress": progress}))
    if plan.reason is not None and plan.ended is not None:
        events.append((plan.ended, *_ending(plan.reason, attempt, worker, rng)))
    return events


def _ending(
    reason: ReasonCode, attempt: int, worker: str, rng: random.Random
) -> tuple[str, str, dict[str, Any]]:
    outcome = default_outcome(reason) or rng.choice((Outcome.SUCCEEDED, Outcome.FAILED))
    failed = outcome is Outcome.FAILED
    ending = {"outcome": outcome.value, "reason_code": reason.value}
    if reason.ended_by is EndedBy.JOB:
        summary: dict[str, Any] = {"rows": rng.randrange(1, 5000)}
        if outcome is not Outcome.SUCCEEDED:
            summary = {"error": "ValueError('invoice 4411 has no lines')"} if failed else {}
        return "completed", worker, {"attempt": attempt, **ending, "summary": summary}
    if reason.ended_by is EndedBy.QUEUE:
        error = "TimeoutError()" if reason is ReasonCode.QUEUE_TIMEOUT else None
        return "queue_failed", worker, {"attempt": attempt, **ending, "error": error}
    evidence = {"arq_job_state": "not_found", "attempts": attempt, "threshold_seconds": 1200.0}
    return "reconciled_stale", "reconciler", {**ending, "evidence": evidence}


def _write(rng: random.Random, plans: list[Plan], beats: Counter[int], out: _Rows) -> None:
    """Merges every run's events in time order and folds them as the projector does."""
    merge: list[tuple[float, int, str, int, str, str, dict[str, Any], bool]] = []
    order = 0
    with out:
        for plan in plans:
            while merge and merge[0][0] <= plan.queued:
                out.fold(heapq.heappop(merge))
            events = _events(plan, beats[plan.seq], rng)
            for version, (at, kind, actor, data) in enumerate(events, 1):
                order += 1
                last = version == len(events)
                heapq.heappush(merge, (at, order, plan.run_id, version, kind, actor, data, last))
        while merge:
            out.fold(heapq.heappop(merge))
        out.flush(final=True)


class _Rows:
    """Rows made by folding the merged events, COPYed a batch at a time by a thread of its
    own while the next batch is made (the driver releases the GIL while the database works).
    """

    def __init__(self, conn: Connection, heavy: str | None, oldest_bucket: str) -> None:
        self.conn, self.heavy, self.oldest, self.position = conn, heavy, oldest_bucket, 0
        self.folding: dict[str, RunRecord] = {}  # runs whose last event is still to come
        self.runs: list[RunRecord] = []
        self.audit: list[tuple[Any, ...]] = []
        self.timeline: list[tuple[Any, ...]] = []
        self.keys: Counter[stats.Key] = Counter()
        self.ended: Counter[activity.Key | None] = Counter()
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="seed-writer")
        self.pending: deque[Future[None]] = deque()

    def fold(self, item: tuple[Any, ...]) -> None:
        at, _, run_id, version, kind, actor, data, last = item
        self.position += 1
        stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")  # iso_utc
        event = LedgerEvent(self.position, run_id, version, kind, stamp, actor, data)
        run = runs_index.fold(self.folding.get(run_id), event)
        assert run is not None  # a run's events arrive in order, `queued` first
        details = canonical_json(data)
        self.audit.append(audit.row(event, run.workspace, run.operation_type, details))
        if run_id == self.heavy:
            self.timeline.append(timeline.row(event, details))
        if last:
            self.folding.pop(run_id, None)
            self.runs.append(run)
            self.keys[run.stats_key()] += 1
            self.ended[activity.key(run)] += 1
        elif version == 1:
            self.folding[run_id] = run  # folded in place from here on
        if len(self.audit) >= FLUSH_ROWS:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        runs, rows, beats, keys, ended = self.runs, self.audit, self.timeline, self.keys, self.ended
        self._put(lambda conn: runs_index.insert_all(conn, runs))
        self._put(lambda conn: audit.insert(conn, rows))
        self.runs, self.audit = [], []
        if final:
            self._put(lambda conn: timeline.insert(conn, beats))
            self._put(lambda conn: stats.insert_counts(conn, keys.elements()))
            self._put(lambda conn: activity.insert_counts(conn, ended.elements(), self.oldest))

    def _put(self, write: Callable[[Connection], None]) -> None:
        self.pending.append(self.writer.submit(write, self.conn))
        while len(self.pending) > 4:
            self.pending.popleft().result()  # raises what the write raised

    def __enter__(self) -> _Rows:
        return self

    def __exit__(self, *error: object) -> None:
        try:
            while self.pending and error[0] is None:
                self.pending.popleft().result()
        finally:
            self.writer.shutdown(cancel_futures=True)


TABLES = (runs_index.TABLE, audit.TABLE, timeline.TABLE, stats.TABLE, activity.TABLE)


@contextmanager
def _bulk_load(conn: Connection) -> Iterator[None]:
    """Into empty tables, without their indexes (one build from sorted rows is several times
    faster than updating them row by row), then vacuumed and analyzed as autovacuum would."""
    for table in TABLES:
        if conn.execute(f"SELECT 1 FROM {{s}}{table.name} LIMIT 1"):
            raise ValueError(f"{table.name} has rows already: seed a freshly migrated store")
    indexed = (runs_index.TABLE, audit.TABLE)
    for name in (name for table in indexed for name in table.index_names()):
        conn.execute(f"DROP INDEX IF EXISTS {{s}}{name}")
    if conn.is_postgres:  # no fsync per commit; memory for the index builds
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
    gc.disable()  # millions of acyclic objects: the collector would re-walk them repeatedly
    try:
        with conn.transaction():
            yield
    finally:
        gc.enable()
    for statement in (sql for table in indexed for sql in table.index_sql()):
        conn.execute(statement)
    for table in TABLES if conn.is_postgres else ():
        conn.execute(f"VACUUM (ANALYZE) {{s}}{table.name}")  # sets the visibility map too
    if not conn.is_postgres:
        conn.execute("ANALYZE")
