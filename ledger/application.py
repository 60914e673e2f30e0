"""RunLedger: the application service that appends run transitions to the event store."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent

from ledger.codes import Actor, Outcome, ReasonCode
from ledger.commands import (
    CompleteRun,
    FailByQueue,
    ReconcileStale,
    RecordHeartbeat,
    RecordLateSignal,
    RunCommand,
    ScheduleRetry,
    StartRun,
)
from ledger.errors import ConflictRetriesExhaustedError, LedgerError, RunNotFoundError
from ledger.limits import bounded_summary, check_name, is_plain
from ledger.policy import OperationPolicy
from ledger.prefetch import prefetch_runs, read_runs
from ledger.run import Effect, OperationRun, RunState
from ledger.settings import DatabaseSettings

# Run ids derived from idempotency keys live in their own uuid5 namespace.
IDEMPOTENCY_NAMESPACE = UUID("6f4f8d1e-2a53-5b7c-9a43-0c5d7e1f9b21")
DEFAULT_CONFLICT_TRIES = 8

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def run_id_for_key(workspace: str, operation_type: str, idempotency_key: str) -> UUID:
    """The run id an idempotency key stands for, within one workspace and operation type."""
    return uuid.uuid5(
        IDEMPOTENCY_NAMESPACE, f"{workspace}\x1f{operation_type}\x1f{idempotency_key}"
    )


@dataclass(frozen=True)
class QueueResult:
    run_id: UUID
    created: bool  # False: the idempotency key named a run that already existed


@dataclass(frozen=True)
class Transition:
    """What one command did, and the run's state after it (durable when returned)."""

    command: RunCommand
    effect: Effect
    run: RunState


class RunLedger(Application[UUID]):
    """Appends run transitions; each command is get → apply → save, retried on conflict."""

    name = "RunLedger"
    # Reads the stored events of many runs in one query; None: one read per run.
    select_many: Callable[[Sequence[UUID]], Sequence[StoredEvent]] | None = None

    def __init__(
        self,
        settings: DatabaseSettings | None = None,
        *,
        create_tables: bool = False,
        clock: Clock = utcnow,
        conflict_tries: int = DEFAULT_CONFLICT_TRIES,
        cache_size: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        """`cache_size` > 0 keeps that many runs in memory between commands (a worker's
        Started then Completed read the store once, not twice). Another process's write
        to a cached run makes the next save conflict; the run is then evicted and
        reloaded, so the cache is never trusted past a conflict. Commands mutate cached
        runs in place (no copy per command): under one lock, and any run a failed save
        touched is evicted, so the cache only ever holds what the store holds. A run
        that a batch ends leaves the cache: nothing but a rare late signal reads it
        again, and keeping it would grow a worker's memory with every run it served
        until the cache is full (tests/chaos/test_load.py measured it)."""
        self.settings = settings or DatabaseSettings.from_env()
        self.clock = clock
        self.conflict_tries = conflict_tries
        merged = self.settings.eventsourcing_env(create_table=create_tables)
        if cache_size > 0:
            merged.update(AGGREGATE_CACHE_MAXSIZE=str(cache_size), AGGREGATE_CACHE_FASTFORWARD="n")
        merged.update(env or {})
        super().__init__(env=merged)
        self._writing = threading.RLock()
        # On SQLite, one save at a time (see `save`); reads of the cache need not wait.
        self._saving: contextlib.AbstractContextManager[object] = (
            contextlib.nullcontext() if self.settings.is_postgres else threading.RLock()
        )

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Saves runs as `Application.save` does, without its per-object protocol checks.

        `ProcessingEvent.collect_events` tests each object against runtime-checkable
        protocols, which on Python 3.11 costs more than building the event itself; the
        ledger only ever saves OperationRuns, which are known to hold pending events.
        Anything else takes the library's own path.

        On SQLite, one save at a time per ledger (`queue` from several threads): SQLite
        writes one at a time anyway, but eventsourcing's pool lets a second writer thread
        wait for the first for 5 s only (its pool timeout, which no setting changes),
        so a write held up in another process (replay's swap on a big ledger) failed
        concurrent enqueues with ConnectionUnavailableError long before
        SQLITE_LOCK_TIMEOUT. Here each waits its turn, then for the lock itself."""
        with self._saving:
            if kwargs or not all(type(obj) is OperationRun for obj in objs):
                return super().save(*objs, **kwargs)
            processing: ProcessingEvent[UUID] = ProcessingEvent()
            for run in objs:
                processing.events.extend(run.collect_events())
                processing.aggregates[run.id] = run
            recordings = self._record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
            return recordings

    def close(self) -> None:
        """Closes the store's connections; on SQLite, once no command or save is in flight.

        eventsourcing's pool closes the connections in use too, and an SQLite connection
        closed under another thread's statement (say, an enqueue whose caller gave up
        while its save waits for the lock another process holds) crashes the process."""
        if self.settings.is_postgres or not hasattr(self, "_saving"):
            super().close()
            return
        with self._writing, self._saving:
            super().close()

    # -- queries ----------------------------------------------------------------------------

    def get_run(self, run_id: UUID) -> OperationRun:
        """A run of the caller's own (a copy when it comes from the cache)."""
        with self._writing:
            return self._load(run_id, copy=True)

    def _load(self, run_id: UUID, *, copy: bool = False) -> OperationRun:
        try:
            return self.repository.get(run_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            raise RunNotFoundError(run_id) from None

    def state(self, run_id: UUID) -> RunState:
        return self.get_run(run_id).state()

    def states(self, run_ids: Sequence[UUID], *, chunk: int = 1000) -> list[RunState]:
        """The states of the runs the store holds among `run_ids` (the others are left
        out), in one query per `chunk` runs when `select_many` is set, else one read each:
        the reconciler checks thousands of runs a pass when a backlog waits in Redis."""
        if self.select_many is None:
            found = []
            for run_id in run_ids:
                with contextlib.suppress(RunNotFoundError):
                    found.append(self.state(run_id))
            return found
        return [
            run.state()
            for start in range(0, len(run_ids), chunk)
            for run in read_runs(self, run_ids[start : start + chunk])
        ]

    def run_events(self, run_id: UUID) -> list[Any]:
        """Every stored event of one run, oldest first."""
        events = list(self.events.get(run_id))
        if not events:
            raise RunNotFoundError(run_id)
        return events

    # -- commands ---------------------------------------------------------------------------

    def queue(
        self,
        *,
        operation_type: str,
        workspace: str,
        policy: OperationPolicy,
        initiator: str = Actor.SYSTEM,
        params_summary: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        actor: str = Actor.SYSTEM,
        at: datetime | None = None,
        queue_name: str | None = None,
    ) -> QueueResult:
        """Appends `Queued` for a new run. A repeated key returns the same run.

        Refuses (InputRefusedError) a name no store can hold or no one can read (blank,
        past NAME_LIMIT, a NUL or a lone surrogate: ledger.limits, whose full rule the
        client applies); the params summary is stored cleaned and cut to its limits."""
        run = self._queued_run(
            operation_type=operation_type,
            workspace=workspace,
            policy=policy,
            initiator=initiator,
            params_summary=params_summary,
            idempotency_key=idempotency_key,
            actor=actor,
            at=at,
            queue_name=queue_name,
        )
        run_id = run.id
        try:
            self.save(run)
        except IntegrityError:
            if idempotency_key is None:
                raise
            self.get_run(run_id)  # it exists: the key was used before
            return QueueResult(run_id, created=False)
        return QueueResult(run_id, created=True)

    def queue_many(self, requests: Sequence[Mapping[str, Any]]) -> list[QueueResult]:
        """Appends `Queued` for many runs in one transaction; each request holds the
        keyword arguments of `queue`, and the results are in the same order.

        One save of many runs costs a fraction of as many saves (one transaction, one
        table lock on PostgreSQL). A repeated idempotency key, or one key twice in the
        batch, makes the save conflict: nothing of it is kept, and each request is then
        queued alone, exactly as `queue` does, so each result says `created` truly."""
        runs = [self._queued_run(**request) for request in requests]
        if not runs:
            return []
        try:
            self.save(*runs)
        except IntegrityError:
            return [self.queue(**request) for request in requests]
        return [QueueResult(run.id, created=True) for run in runs]

    def _queued_run(
        self,
        *,
        operation_type: str,
        workspace: str,
        policy: OperationPolicy,
        initiator: str = Actor.SYSTEM,
        params_summary: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        actor: str = Actor.SYSTEM,
        at: datetime | None = None,
        queue_name: str | None = None,
    ) -> OperationRun:
        """A new run holding its pending `Queued`, once its names pass the checks: what
        `queue` and `queue_many` save."""
        for what, name in (
            ("workspace", workspace),
            ("operation type", operation_type),
            ("initiator", initiator),
            ("actor", actor),
            ("idempotency key", idempotency_key),
        ):
            if name is not None:
                check_name(what, name, strict=False)
        if params_summary and not is_plain(params_summary):
            params_summary = bounded_summary(params_summary)
        if idempotency_key is not None:
            run_id = run_id_for_key(workspace, operation_type, idempotency_key)
        else:
            run_id = uuid.uuid4()
        return OperationRun.queue(
            run_id=run_id,
            workspace=workspace,
            operation_type=operation_type,
            policy=policy,
            actor=actor,
            at=at or self.clock(),
            initiator=initiator,
            params_summary=params_summary,
            idempotency_key=idempotency_key,
            queue_name=queue_name,
        )

    def execute(self, command: RunCommand) -> Transition:
        """Applies one command and saves it; a concurrent writer makes it reload and retry."""
        for _ in range(self.conflict_tries):
            with self._writing:
                run = self._load(command.run_id)
                try:
                    effect = command.apply(run, command.at or self.clock())
                    if run.pending_events:
                        self.save(run)
                except IntegrityError:
                    self._forget(command.run_id)
                    continue
                except BaseException:
                    self._forget(command.run_id)
                    raise
                return Transition(command, effect, run.state())
        raise ConflictRetriesExhaustedError(command.run_id, self.conflict_tries)

    def execute_many(self, commands: Sequence[RunCommand]) -> list[Transition | Exception]:
        """Applies many commands, of many runs, and saves them all in one transaction.

        The result lists, per command and in order, its transition or the error that
        refused it (a refused command changes nothing). If another writer wins a race for
        any of the runs, nothing of the batch is kept and each command is executed on its
        own. Store errors (the database is down) propagate: nothing of the batch was saved.
        """
        runs: dict[UUID, OperationRun] = {}
        with self._writing:
            try:
                prefetch_runs(self, commands, runs)
                results = [self._apply(command, runs) for command in commands]
                dirty = [run for run in runs.values() if run.pending_events]
                if dirty:
                    self.save(*dirty)
                    self._forget(*[run.id for run in dirty if run.is_terminal])
            except IntegrityError:
                self._forget(*runs)
                return [self._execute_alone(c) for c in commands]
            except BaseException:
                self._forget(*runs)  # they may hold events the store never got
                raise
        return results

    def _apply(self, command: RunCommand, runs: dict[UUID, OperationRun]) -> Transition | Exception:
        try:
            run = runs.get(command.run_id) or self._load(command.run_id)
            runs[command.run_id] = run
            effect = command.apply(run, command.at or self.clock())
        except COMMAND_ERRORS as error:
            return error
        return Transition(command, effect, run.state())

    def _forget(self, *run_ids: UUID) -> None:
        """Drops cached runs that another writer has moved on from, or a failed save left
        holding unsaved events."""
        cache = self.repository.cache
        if cache is not None:
            for run_id in run_ids:
                with contextlib.suppress(KeyError):
                    cache.get(run_id, evict=True)

    def _execute_alone(self, command: RunCommand) -> Transition | Exception:
        try:
            return self.execute(command)
        except COMMAND_ERRORS as error:
            return error

    # -- one method per transition, for callers that hold no command objects ----------------

    def start(self, run_id: UUID, *, attempt: int, worker_id: str, actor: str) -> Transition:
        return self.execute(StartRun(run_id, actor, attempt=attempt, worker_id=worker_id))

    def heartbeat(
        self, run_id: UUID, *, attempt: int, actor: str, progress: dict[str, Any] | None = None
    ) -> Transition:
        return self.execute(
            RecordHeartbeat(run_id, actor, attempt=attempt, progress=progress or {})
        )

    def schedule_retry(
        self,
        run_id: UUID,
        *,
        attempt: int,
        reason: str,
        actor: str,
        defer_seconds: float = 0.0,
        error: str | None = None,
    ) -> Transition:
        command = ScheduleRetry(
            run_id, actor, attempt=attempt, reason=reason, defer_seconds=defer_seconds, error=error
        )
        return self.execute(command)

    def complete(
        self,
        run_id: UUID,
        *,
        attempt: int,
        reason_code: ReasonCode,
        actor: str,
        summary: dict[str, Any] | None = None,
    ) -> Transition:
        command = CompleteRun(
            run_id, actor, attempt=attempt, reason_code=reason_code, summary=summary or {}
        )
        return self.execute(command)

    def fail_by_queue(
        self,
        run_id: UUID,
        *,
        attempt: int,
        reason_code: ReasonCode,
        actor: str,
        error: str | None = None,
    ) -> Transition:
        command = FailByQueue(run_id, actor, attempt=attempt, reason_code=reason_code, error=error)
        return self.execute(command)

    def reconcile_stale(
        self,
        run_id: UUID,
        *,
        reason_code: ReasonCode,
        evidence: dict[str, Any],
        outcome: Outcome | None = None,
        observed_last_activity_at: datetime | None = None,
        actor: str = Actor.RECONCILER,
    ) -> Transition:
        command = ReconcileStale(
            run_id,
            actor,
            reason_code=reason_code,
            evidence=evidence,
            outcome=outcome,
            observed_last_activity_at=observed_last_activity_at,
        )
        return self.execute(command)

    def record_late_signal(
        self,
        run_id: UUID,
        *,
        signal: str,
        attempt: int,
        actor: str,
        details: dict[str, Any] | None = None,
    ) -> Transition:
        command = RecordLateSignal(
            run_id, actor, signal=signal, attempt=attempt, details=details or {}
        )
        return self.execute(command)


# Errors that refuse one command of a batch without touching the others.
COMMAND_ERRORS = (LedgerError, ValueError)
