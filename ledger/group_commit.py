"""Group commit: many callers' transitions saved in one transaction, each told when it is durable.

On PostgreSQL every save takes the events table's lock, so one transaction per transition
caps a whole fleet of workers at a few hundred transitions a second. A GroupCommitter owns
one writer thread: callers `submit` commands and get a future; the thread takes everything
that queued up while the previous transaction was committing and saves it as one batch.
A future resolves only after its batch committed (or with the error that refused it).

A store outage never loses a command: the batch is retried with backoff until the store
answers again or the committer is closed with a deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    NotSupportedError,
    PersistenceError,
    ProgrammingError,
)

from ledger.application import RunLedger, Transition
from ledger.commands import RunCommand
from ledger.errors import StoreUnavailableError

log = logging.getLogger(__name__)

# Store errors that another try cannot cure (a missing table, a malformed value).
_PERMANENT = (IntegrityError, ProgrammingError, DataError, NotSupportedError)


@dataclass
class _Pending:
    command: RunCommand
    future: Future[Transition] = field(default_factory=Future)


class GroupCommitter:
    """Saves submitted commands in batches from one writer thread."""

    def __init__(
        self,
        ledger: RunLedger,
        *,
        max_batch: int = 200,
        first_backoff: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.batches_committed = 0
        self.commands_committed = 0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._give_up_at: float | None = None
        self._thread = threading.Thread(
            target=self._run, name="runledger-group-commit", daemon=True
        )
        self._thread.start()

    def submit(self, command: RunCommand) -> Future[Transition]:
        """Queues a command; the future resolves once it is durable (or was refused)."""
        if self._closing.is_set():
            raise RuntimeError("this GroupCommitter is closed")
        pending = _Pending(replace(command, at=command.at or self.ledger.clock()))
        self._queue.put(pending)
        return pending.future

    def close(self, timeout: float | None = 30.0) -> None:
        """Commits what was submitted, then stops. Past `timeout`, a store that is still
        down fails the remaining futures with StoreUnavailableError instead of hanging."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._give_up_at = None if timeout is None else time.monotonic() + timeout
        self._queue.put(None)
        self._thread.join()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._commit(batch)
            except BaseException as error:  # never let the writer thread die
                log.exception("group commit failed unexpectedly")
                for pending in batch:
                    _settle(
                        pending.future,
                        error if isinstance(error, Exception) else RuntimeError(error),
                    )

    def _commit(self, batch: list[_Pending]) -> None:
        delay = self.first_backoff
        while True:
            try:
                results = self.ledger.execute_many([p.command for p in batch])
            except Exception as error:
                if self._can_retry(error):
                    log.warning("ledger write failed, retrying in %.2fs: %s", delay, error)
                    time.sleep(delay)
                    delay = min(delay * 2, self.max_backoff)
                    continue
                if len(batch) > 1:
                    # One command may be what fails (say, a value that cannot be encoded):
                    # each on its own, so it fails alone and the others commit.
                    for pending in batch:
                        self._commit([pending])
                    return
                failure = error
                if isinstance(error, PersistenceError) and not isinstance(error, _PERMANENT):
                    failure = StoreUnavailableError(f"event store still failing: {error}")
                _settle(batch[0].future, failure)
                return
            self.batches_committed += 1
            self.commands_committed += len(batch)
            for pending, result in zip(batch, results, strict=True):
                _settle(pending.future, result)
            return

    def _can_retry(self, error: Exception) -> bool:
        if not isinstance(error, PersistenceError) or isinstance(error, _PERMANENT):
            return False
        return self._give_up_at is None or time.monotonic() < self._give_up_at


def _settle(future: Future[Transition], result: Transition | Exception) -> None:
    """Resolves a caller's future; one the caller cancelled meanwhile is left as it is."""
    try:
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass  # cancelled by its caller: the command itself was still applied or refused
