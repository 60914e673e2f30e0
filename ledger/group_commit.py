"""Group commit: many callers' transitions saved in one transaction, each told when it is durable.

On PostgreSQL every save takes the events table's lock, so one transaction per transition
caps a whole fleet of workers at a few hundred transitions a second. A GroupCommitter owns
one writer thread: callers `submit` commands and get a future; the thread takes everything
that queued up while the previous transaction was committing and saves it as one batch.
A future resolves only after its batch committed (or with the error that refused it).
Callers on an event loop `enqueue` with a `deliver` (say `loop.call_soon_threadsafe`)
instead: one hand-over per batch settles all of the batch's commands on that loop.

A store outage never loses a command: the batch is retried with backoff until the store
answers again or the committer is closed with a deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, replace
from functools import partial

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


# Told, once, a command's transition or the error that refused it.
Settle = Callable[[Transition | Exception], None]
# Runs a callable where the caller wants its results (say, on its event loop).
Deliver = Callable[[Callable[[], object]], object]


@dataclass(slots=True)
class _Pending:
    command: RunCommand
    settle: Settle
    deliver: Deliver | None


class GroupCommitter:
    """Saves submitted commands in batches from one writer thread."""

    def __init__(
        self,
        ledger: RunLedger,
        *,
        max_batch: int = 200,
        linger: float = 0.0,
        linger_after: int = 8,
        first_backoff: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        """`linger`: after a batch of at least `linger_after` commands (the writer is
        busy), wait that long before taking the next batch, so it is larger. Each
        transaction costs about as much CPU as several commands; in a process where the
        writer shares the GIL with an event loop, fewer and larger batches also mean
        fewer hand-overs of the GIL. Idle, the first command is committed at once."""
        self.ledger = ledger
        self.max_batch = max_batch
        self.linger = linger
        self.linger_after = linger_after
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
        future: Future[Transition] = Future()
        self.enqueue(command, partial(_settle, future))
        return future

    def enqueue(self, command: RunCommand, settle: Settle, deliver: Deliver | None = None) -> None:
        """Queues a command; `settle` gets its transition once durable (or its error).

        Without `deliver`, `settle` runs on the writer thread. With one, the batch's
        settles that share it run in a single `deliver(...)` call: one wake-up of an event
        loop per batch, not one per command. A command without `at` is stamped now.
        """
        if self._closing.is_set():
            raise RuntimeError("this GroupCommitter is closed")
        if command.at is None:
            command = replace(command, at=self.ledger.clock())
        self._queue.put(_Pending(command, settle, deliver))

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
        stopping, last_size = False, 0
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            if self.linger > 0 and last_size >= self.linger_after:
                time.sleep(self.linger)
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
            last_size = len(batch)
            try:
                self._commit(batch)
            except BaseException as error:  # never let the writer thread die
                log.exception("group commit failed unexpectedly")
                failure = error if isinstance(error, Exception) else RuntimeError(error)
                _hand_over([(pending, failure) for pending in batch])

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
                _hand_over([(batch[0], failure)])
                return
            self.batches_committed += 1
            self.commands_committed += len(batch)
            _hand_over(list(zip(batch, results, strict=True)))
            return

    def _can_retry(self, error: Exception) -> bool:
        if not isinstance(error, PersistenceError) or isinstance(error, _PERMANENT):
            return False
        return self._give_up_at is None or time.monotonic() < self._give_up_at


def _hand_over(settled: list[tuple[_Pending, Transition | Exception]]) -> None:
    """Settles a batch: directly, or in one `deliver` call per destination."""
    groups: dict[Deliver, list[tuple[Settle, Transition | Exception]]] = {}
    for pending, result in settled:
        if pending.deliver is None:
            _call(pending.settle, result)
        else:
            groups.setdefault(pending.deliver, []).append((pending.settle, result))
    for deliver, group in groups.items():
        try:
            deliver(partial(_settle_all, group))
        except Exception:  # say, the caller's event loop is already closed
            log.warning("could not hand %d results back to their caller", len(group))


def _settle_all(group: list[tuple[Settle, Transition | Exception]]) -> None:
    for settle, result in group:
        _call(settle, result)


def _call(settle: Settle, result: Transition | Exception) -> None:
    try:
        settle(result)
    except Exception:  # a caller's callback must not stop the writer (or its siblings)
        log.exception("a group commit caller failed to take its result")


def _settle(future: Future[Transition], result: Transition | Exception) -> None:
    """Resolves a caller's future; one the caller cancelled meanwhile is left as it is."""
    try:
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass  # cancelled by its caller: the command itself was still applied or refused
