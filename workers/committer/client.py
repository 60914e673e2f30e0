"""The worker's side of the pipe: ProcessCommitter and LocalCommitter (docs/workers.md).

What jobs submit in one turn of the event loop leaves as one message; each waiter
resolves when the server replies that its command committed, or was refused. If the
server dies, another starts and every command it had not acknowledged is sent again, in
order (commands are idempotent). If two starts in a row die before they are ready, every
pending and later command fails with CommitterDiedError: none is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, cast

from ledger import DatabaseSettings, LedgerError, RunCommand
from ledger.application import Clock
from workers.committer.server import MakeLedger, Pipe, process_main, serve
from workers.committer.wire import Committed, Refused

log = logging.getLogger(__name__)
Pending = tuple[RunCommand, datetime, "asyncio.Future[Committed]"]


class CommitterDiedError(LedgerError):
    """The committer died and could not be started again."""


class ProcessCommitter:
    """Commits from a child process, off the worker's GIL. Its pipe and its exit are
    watched with `loop.add_reader`: the worker runs no thread for it."""

    def __init__(self, make_ledger: MakeLedger, settings: DatabaseSettings, clock: Clock) -> None:
        """`clock` stamps each command once, here: a resent one keeps its time."""
        self.make_ledger, self.settings, self.clock = make_ledger, settings, clock
        self.batches_committed = self.commands_committed = self.restarts = self.messages_sent = 0
        self._pending: dict[int, Pending] = {}  # by sequence number: the unacknowledged
        self._outbox: list[tuple[int, RunCommand, datetime]] = []
        self._seq = self._unready_deaths = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing, self._dead = False, cast("Exception | None", None)
        self._closed: asyncio.Future[None] | None = None  # done once the server stopped
        self._start()

    def _start(self) -> None:
        self._conn, theirs = multiprocessing.Pipe(duplex=True)
        self.process = self._launch(theirs)
        self.pid = getattr(self.process, "pid", None)  # a thread has none
        self._ready = False  # it said so, and can commit
        self._watched = {self._conn.fileno(): self._on_readable}
        if isinstance(self.process, BaseProcess):
            self._watched[self.process.sentinel] = self._lost
        if self._loop is not None:
            self._watch(True)

    def _launch(self, conn: Connection) -> BaseProcess | threading.Thread:
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        args = (conn, self.make_ledger, self.settings)
        process = context.Process(target=process_main, args=args, name="runledger-committer")
        process.daemon = True  # never outlives the worker
        process.start()
        conn.close()
        return process

    def _watch(self, on: bool) -> None:
        assert self._loop is not None
        for fd, callback in self._watched.items():
            _ = self._loop.add_reader(fd, callback) if on else self._loop.remove_reader(fd)

    async def commit(self, command: RunCommand) -> Committed:
        """Waits until the command is durable. Cancelling the wait never cancels the
        command: it stays pending (and is resent after a restart) until acknowledged."""
        if self._dead is not None:
            raise self._dead
        if self._closing:
            raise RuntimeError("this committer is closed")
        if (loop := self._loop) is None:
            self._loop = loop = asyncio.get_running_loop()
            self._watch(True)
        self._seq, at = self._seq + 1, command.at or self.clock()
        waiter: asyncio.Future[Committed] = loop.create_future()
        self._pending[self._seq] = (command, at, waiter)
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append((self._seq, command, at))
        return await waiter

    def _flush(self) -> None:
        if not self._outbox or not self._ready:
            return
        batch, self._outbox = self._outbox, []
        try:
            self._conn.send(batch)
            self.messages_sent += 1
        except OSError:
            self._lost()  # all of it is still pending: the next server gets it

    def _on_readable(self) -> None:
        try:  # one message per call: the loop calls again while the pipe holds more
            self._receive(self._conn.recv())
        except (EOFError, OSError):
            self._lost()

    def _receive(self, message: tuple[Any, ...]) -> None:
        if message[0] == "results":
            _, replies, self.batches_committed, self.commands_committed = message
            for seq, reply in replies:
                self._settle(seq, reply)
        elif message[0] == "ready":
            self._ready, self._unready_deaths = True, 0
            self._flush()
            if self._closing:
                self._conn.send(None)  # drain and stop
        elif message[0] == "log":
            logging.getLogger(message[2]).log(message[1], "%s", message[3])

    def _settle(self, seq: int, reply: Committed | Refused) -> None:
        if (pending := self._pending.pop(seq, None)) is None or pending[2].done():
            return  # a resent command's second reply, or a wait its job gave up
        if isinstance(reply, Refused):
            pending[2].set_exception(reply.error_for(pending[0].run_id))
        else:
            pending[2].set_result(reply)

    def _lost(self) -> None:
        """The server died or stopped, or its pipe broke: done if it drained as told, else
        start another and resend, or give up."""
        if self._conn.closed:
            return
        self._watch(False)
        with contextlib.suppress(EOFError, OSError):  # what it said before it went counts
            while self._conn.poll():
                if (message := self._conn.recv())[0] != "ready":  # no more to send it
                    self._receive(message)
        self._conn.close()
        if self._closing and not self._pending:
            return self._done()  # it drained and stopped as told: aclose joins it
        if isinstance(self.process, BaseProcess):
            self.process.kill()  # if only its pipe broke
        self.process.join()
        self._unready_deaths += not self._ready
        if self._unready_deaths >= 2:
            return self._fail_all(CommitterDiedError("the committer cannot be started"))
        log.error(
            "the committer died with %d commands unacknowledged: restarting", len(self._pending)
        )
        self.restarts += 1
        self._start()
        self._outbox = [(seq, cmd, at) for seq, (cmd, at, _) in sorted(self._pending.items())]

    def _fail_all(self, error: Exception) -> None:
        log.error("%s; %d commands fail", error, len(self._pending))
        self._dead = error
        for _, _, waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._pending.clear()
        self._done()

    def _done(self) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    async def aclose(self) -> None:
        """Drains: returns once every submitted command was committed (or refused)."""
        if self._closing:
            return
        self._closing = True
        if self._loop is None and isinstance(self.process, BaseProcess):
            self.process.kill()  # never used: nothing to drain, nor to wait for
        elif self._loop is None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        elif self._dead is None:
            self._closed = self._loop.create_future()
            self._flush()
            if self._ready:  # else it is sent once the server is ready
                self._conn.send(None)
            await self._closed
        self._conn.close()
        await asyncio.to_thread(self.process.join)


class LocalCommitter(ProcessCommitter):
    """Commits from a thread of the worker: the same batching and guarantees, without a
    second interpreter to start, where a process hop does not pay (docs/workers.md)."""

    def _launch(self, conn: Connection) -> threading.Thread:
        args = (Pipe(conn), self.make_ledger, self.settings)
        thread = threading.Thread(target=serve, args=args, name="runledger-committer", daemon=True)
        thread.start()
        return thread
