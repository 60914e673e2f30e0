"""RunLedger: the application service that appends run transitions to the event store."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording

from ledger import eventstore
from ledger.commands import RunCommand
from ledger.errors import ConflictRetriesExhaustedError, LedgerError, RunNotFoundError
from ledger.prefetch import RunReader, prefetch_runs
from ledger.queueing import QueueRequest, QueueResult, queued_run
from ledger.run import Effect, OperationRun, RunState
from ledger.settings import DatabaseSettings

DEFAULT_CONFLICT_TRIES = 8

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class Transition:
    """What one command did, and the run's state after it (durable when returned)."""

    command: RunCommand
    effect: Effect
    run: RunState


class RunLedger(Application[UUID]):
    """Appends run transitions; each command is get → apply → save, retried on conflict."""

    name = eventstore.APPLICATION_NAME

    def __init__(
        self,
        settings: DatabaseSettings | None = None,
        *,
        create_tables: bool = False,
        clock: Clock = utcnow,
        conflict_tries: int = DEFAULT_CONFLICT_TRIES,
        cache_size: int = 0,
        bulk_reads: bool = False,
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
        until the cache is full (tests/chaos/test_load.py measured it).

        `bulk_reads` reads the unseen runs of a batch in one query where the store can
        (PostgreSQL): a worker's batches and the reconciler's passes read many at once."""
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
        self._read_many: RunReader | None = eventstore.bulk_reader(self) if bulk_reads else None

    @property
    def bulk_reads(self) -> bool:
        """Whether many runs are read in one query (asked for, and the store can)."""
        return self._read_many is not None

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Saves runs as `Application.save` does, without its per-object protocol checks
        (`eventstore.save_runs`): the ledger only ever saves OperationRuns, which are known
        to hold pending events. Anything else takes the library's own path.

        On SQLite, one save at a time per ledger (`queue` from several threads): SQLite
        writes one at a time anyway, but eventsourcing's pool lets a second writer thread
        wait for the first for 5 s only (its pool timeout, which no setting changes),
        so a write held up in another process (replay's swap on a big ledger) failed
        concurrent enqueues with ConnectionUnavailableError long before
        SQLITE_LOCK_TIMEOUT. Here each waits its turn, then for the lock itself."""
        with self._saving:
            if kwargs or not all(type(obj) is OperationRun for obj in objs):
                return super().save(*objs, **kwargs)
            return eventstore.save_runs(self, objs)

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

    def _load(self, run_id: UUID, *, copy: bool = False) -> OperationRun:
        try:
            return self.repository.get(run_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            raise RunNotFoundError(run_id) from None

    def state(self, run_id: UUID) -> RunState:
        with self._writing:  # a cached run is mutated in place under this lock
            return self._load(run_id).state()

    def states(self, run_ids: Sequence[UUID], *, chunk: int = 1000) -> list[RunState]:
        """The states of the runs the store holds among `run_ids` (the others are left
        out), in one query per `chunk` runs with `bulk_reads`, else one read each: the
        reconciler checks thousands of runs a pass when a backlog waits in Redis."""
        if self._read_many is None:
            found = []
            for run_id in run_ids:
                with contextlib.suppress(RunNotFoundError):
                    found.append(self.state(run_id))
            return found
        return [
            run.state()
            for start in range(0, len(run_ids), chunk)
            for run in self._read_many(run_ids[start : start + chunk])
        ]

    # -- commands ---------------------------------------------------------------------------

    def queue(self, request: QueueRequest | None = None, /, **fields: Any) -> QueueResult:
        """Appends `Queued` for a new run (the request, or its fields as keywords); a
        repeated idempotency key returns the same run. See `queueing.queued_run` for
        what is refused and how the params summary is stored."""
        if request is None:
            request = QueueRequest(**fields)
        elif fields:
            raise TypeError("queue takes a QueueRequest or its fields, not both")
        run = queued_run(request, self.clock)
        try:
            self.save(run)
        except IntegrityError:
            if request.idempotency_key is None:
                raise
            self.state(run.id)  # it exists: the key was used before
            return QueueResult(run.id, created=False)
        return QueueResult(run.id, created=True)

    def queue_many(self, requests: Sequence[QueueRequest]) -> list[QueueResult]:
        """Appends `Queued` for many runs in one transaction; the results are in order.

        One save of many runs costs a fraction of as many saves (one transaction, one
        table lock on PostgreSQL). A repeated idempotency key, or one key twice in the
        batch, makes the save conflict: nothing of it is kept, and each request is then
        queued alone, exactly as `queue` does, so each result says `created` truly."""
        runs = [queued_run(request, self.clock) for request in requests]
        if not runs:
            return []
        try:
            self.save(*runs)
        except IntegrityError:
            return [self.queue(request) for request in requests]
        return [QueueResult(run.id, created=True) for run in runs]

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
                prefetch_runs(self.repository.cache, self._read_many, commands, runs)
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


# Errors that refuse one command of a batch without touching the others.
COMMAND_ERRORS = (LedgerError, ValueError)
