"""The committer's side of the pipe: one thread, in a process of its own (`process_main`)
or in the worker's (LocalCommitter). What arrived while a batch committed is the next
batch; while the store is down it reads on between tries, so an outage never fills the
pipe."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from eventsourcing import persistence as es

from ledger import DatabaseSettings, RunCommand, RunLedger, StoreUnavailableError, Transition
from workers.committer.wire import reply_of

log = logging.getLogger(__name__)
MakeLedger = Callable[[DatabaseSettings], RunLedger]
MAX_BATCH, CLOSE_TIMEOUT = 200, 30.0  # commands a transaction; seconds to drain at stop
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 5.0
# Store errors that another try cannot cure (a missing table, a malformed value).
PERMANENT = (es.IntegrityError, es.ProgrammingError, es.DataError, es.NotSupportedError)
_SENDING = threading.Lock()  # the store's pool threads send their warnings too


class Pipe(logging.Handler):
    """The worker's end, what it sent that is not committed (`backlog`), and the logging
    handler that sends this side's warnings to the worker's log."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(logging.WARNING)
        self.conn, self.backlog = conn, list[tuple[int, RunCommand]]()
        self.give_up_at: float | None = None  # set once told to stop, or the worker died

    def send(self, message: tuple[Any, ...]) -> None:
        with _SENDING, contextlib.suppress(OSError):  # the worker is gone: no one to tell
            self.conn.send(message)

    def emit(self, record: logging.LogRecord) -> None:
        self.send(("log", record.levelno, record.name, record.getMessage()))

    def take(self, timeout: float | None) -> bool:
        """Reads what arrives within `timeout` (None: waits); True while there is work."""
        while self.give_up_at is None and self.conn.poll(timeout):
            with contextlib.suppress(EOFError, OSError):  # the worker died: drain, stop
                if (batch := self.conn.recv()) is not None:  # None: drain, then stop
                    self.backlog += [(seq, replace(c, at=at)) for seq, c, at in batch]
                    timeout = 0
                    continue
            self.give_up_at = time.monotonic() + CLOSE_TIMEOUT
        return bool(self.backlog)

    def pause(self, delay: float) -> bool:
        """Waits before the next try, reading meanwhile; False: stopping, and too late."""
        end = time.monotonic() + delay
        while self.give_up_at is None and (left := end - time.monotonic()) > 0:
            self.take(left)
        time.sleep(max(0.0, end - time.monotonic()))
        return self.give_up_at is None or time.monotonic() < self.give_up_at


def commit_batch(
    ledger: RunLedger, commands: Sequence[RunCommand], pause: Callable[[float], bool]
) -> list[Transition | Exception]:
    """Per command, its durable transition or the error that refused it. A store that
    does not answer is tried again, backing off, until `pause` gives up; a batch that
    fails otherwise is committed a command at a time, so the bad one fails alone."""
    delay = FIRST_BACKOFF
    while True:
        try:
            return ledger.execute_many(commands)
        except Exception as error:
            if not isinstance(error, es.PersistenceError) or isinstance(error, PERMANENT):
                if len(commands) > 1:
                    return [r for c in commands for r in commit_batch(ledger, [c], pause)]
                return [error]
            log.warning("ledger write failed, retrying in %.2fs: %s", delay, error)
            if not pause(delay):
                return [StoreUnavailableError(f"event store still down: {error}")] * len(commands)
            delay = min(delay * 2, MAX_BACKOFF)


def serve(pipe: Pipe, make_ledger: MakeLedger, settings: DatabaseSettings) -> None:
    """Commits until told to stop or the worker is gone, then what came before; closes
    the pipe last, which tells the worker it stopped."""
    batches = commands = 0
    with contextlib.closing(pipe.conn), contextlib.closing(make_ledger(settings)) as ledger:
        pipe.send(("ready",))
        while pipe.take(0 if pipe.backlog else None):
            batch, pipe.backlog = pipe.backlog[:MAX_BATCH], pipe.backlog[MAX_BATCH:]
            results = commit_batch(ledger, [command for _, command in batch], pipe.pause)
            batches, commands = batches + 1, commands + len(batch)
            replies = [(s, reply_of(r)) for (s, _), r in zip(batch, results, strict=True)]
            pipe.send(("results", replies, batches, commands))


def process_main(conn: Connection, make_ledger: MakeLedger, settings: DatabaseSettings) -> None:
    """The committer process. It leaves its process group's signals to the worker (whose
    shutdown still commits), and its warnings to the worker's logging configuration."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, handlers=[pipe := Pipe(conn)])
    serve(pipe, make_ledger, settings)
