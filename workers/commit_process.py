"""The committer process: a worker's ledger writer, running outside the worker's GIL.

In one process the GroupCommitter's writer thread and arq's event loop are both
CPU-bound and take turns on one GIL. Here the GroupCommitter runs in a child process of
its own; the worker sends it commands over a pipe and gets back, per command, a small
reply sent only after the command's transaction committed.

Wire format (kept small so the pipe costs little CPU on either side):
worker → here: `encode_commands([(seq, command, at)])`, at most one message per
`ProcessCommitter.pace`, or an empty message to drain and stop. Each message is
committed as soon as the committer is free (the worker's pace does the batching).
here → worker (pickled): `("ready",)`, `("results", [(seq, reply)], batches, commands)`,
`("log", level, logger, message)` (warnings of this process, re-logged by the worker),
`("closed",)`. A reply is `(effect, status, reason_code)` as strings, or
`(None, error type name, message)` when the command was refused.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection
from typing import Any
from uuid import UUID

from ledger import (
    CompleteRun,
    DatabaseSettings,
    FailByQueue,
    GroupCommitter,
    ReconcileStale,
    RecordHeartbeat,
    RecordLateSignal,
    RunCommand,
    RunLedger,
    ScheduleRetry,
    StartRun,
    Transition,
)

Reply = tuple[str | None, str, str | None]

# The commands a worker sends, by their index on the wire. A command of any other type
# still travels, pickled whole (index -1).
_WIRE_TYPES: tuple[type[RunCommand], ...] = (
    StartRun,
    CompleteRun,
    FailByQueue,
    ScheduleRetry,
    RecordHeartbeat,
    RecordLateSignal,
    ReconcileStale,
)
_WIRE_INDEX = {kind: index for index, kind in enumerate(_WIRE_TYPES)}
# Each type's fields after run_id and `at`, in the order a row carries them.
_WIRE_FIELDS = tuple(
    tuple(f.name for f in fields(kind) if f.name not in ("run_id", "at")) for kind in _WIRE_TYPES
)


def encode_commands(batch: Iterable[tuple[int, RunCommand, datetime]]) -> bytes:
    """One message of `(seq, command, at)`: each command a flat row of plain values.

    Pickling the dataclasses themselves goes through copyreg and UUID's own
    `__getstate__` for every object; a row of builtins pickles in C, and its run id as
    the UUID's integer. `at` is the command's time, stamped by the sender; a UTC time
    travels naive (pickling `timezone.utc` costs more than the rest of the row) and
    any other time as it is, in a 1-tuple.
    """
    rows: list[tuple[Any, ...]] = []
    for seq, command, at in batch:
        index = _WIRE_INDEX.get(type(command), -1)
        if index < 0:
            rows.append((seq, index, replace(command, at=at)))
            continue
        values = command.__dict__
        stamp = at.replace(tzinfo=None) if at.tzinfo is UTC else (at,)
        rows.append(
            (seq, index, command.run_id.int, stamp, *[values[n] for n in _WIRE_FIELDS[index]])
        )
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)


def decode_commands(data: bytes) -> list[tuple[int, RunCommand]]:
    """The `(seq, command)` pairs of one `encode_commands` message."""
    batch: list[tuple[int, RunCommand]] = []
    for row in pickle.loads(data):
        seq, index = row[0], row[1]
        if index < 0:
            batch.append((seq, row[2]))
            continue
        kind, names, stamp = _WIRE_TYPES[index], _WIRE_FIELDS[index], row[3]
        at = stamp.replace(tzinfo=UTC) if isinstance(stamp, datetime) else stamp[0]
        command = kind(UUID(int=row[2]), at=at, **dict(zip(names, row[4:], strict=True)))
        batch.append((seq, command))
    return batch


def encode(result: Transition | Exception) -> Reply:
    """A reply carrying only what the worker reads (the effect, status and reason)."""
    if isinstance(result, Exception):
        return (None, type(result).__name__, str(result))
    run = result.run
    reason = None if run.reason_code is None else str(run.reason_code)
    return (str(result.effect), str(run.status), reason)


class _Outbox:
    """Sends to the worker from any thread of this process, one message at a time."""

    def __init__(self, conn: Connection, committer: list[GroupCommitter]) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.committer = committer
        self.settled: list[tuple[int, Reply]] = []

    def send(self, message: tuple[Any, ...]) -> None:
        # OSError: the worker is gone, nobody is left to tell.
        with self.lock, contextlib.suppress(OSError):
            self.conn.send(message)

    def deliver(self, settle_batch: Callable[[], object]) -> None:
        """GroupCommitter's `deliver`: a batch's settles, sent as one message."""
        settle_batch()
        batch, self.settled = self.settled, []
        done = self.committer[0]
        self.send(("results", batch, done.batches_committed, done.commands_committed))

    def settle(self, seq: int, result: Transition | Exception) -> None:
        self.settled.append((seq, encode(result)))


class _ForwardWarnings(logging.Handler):
    """Hands this process's warnings to the worker, whose logging configuration rules."""

    def __init__(self, outbox: _Outbox) -> None:
        super().__init__(logging.WARNING)
        self.outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        self.outbox.send(("log", record.levelno, record.name, record.getMessage()))


def serve(
    conn: Connection,
    make_ledger: Callable[[DatabaseSettings], RunLedger],
    settings: DatabaseSettings,
    options: dict[str, Any],
) -> None:
    """The committer process's main: commits what the worker sends until told to stop
    (or until the worker is gone), draining everything it already received."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the worker
    # handles them (its shutdown still records transitions), so this process must
    # outlive them and stop only when the worker says so or is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ledger = make_ledger(settings)
    holder: list[GroupCommitter] = []
    outbox = _Outbox(conn, holder)
    logging.getLogger().addHandler(_ForwardWarnings(outbox))
    logging.getLogger().setLevel(logging.WARNING)
    close_timeout = options.pop("close_timeout", 30.0)
    committer = GroupCommitter(ledger, **options)
    holder.append(committer)
    outbox.send(("ready",))
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break  # the worker died: commit what we have, then go
            if not message:
                break
            for seq, command in decode_commands(message):
                _enqueue(committer, outbox, seq, command)
    finally:
        committer.close(timeout=close_timeout)
        ledger.close()
        outbox.send(("closed",))


def _enqueue(committer: GroupCommitter, outbox: _Outbox, seq: int, command: RunCommand) -> None:
    committer.enqueue(command, partial(outbox.settle, seq), outbox.deliver)
