"""The worker's side of the pipe: what jobs submit in one turn of the event loop leaves as
one message, and each waiter resolves when the server replies (docs/workers.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol, cast

from ledger import DatabaseSettings, LedgerError, RunCommand
from ledger.application import Clock
from workers.committer.server import MakeLedger, Pipe, process_main, serve
from workers.committer.wire import Committed, Refused

log = logging.getLogger(__name__)
Pending = tuple[RunCommand, datetime, "asyncio.Future[Committed]"]


class CommitterDiedError(LedgerError):
    """The committer died and could not be started again."""


class Committer(Protocol):
    """`commit` returns once its command is durable, or raises why not; `aclose`, once all are."""

    batches_committed: int
    commands_committed: int

    async def commit(self, command: RunCommand) -> Committed: ...

    async def aclose(self) -> None: ...


class ProcessCommitter:
    """Commits from a child process, off the worker's GIL, watched with `loop.add_reader`.
    A server that dies is started again and sent every unacknowledged command, in order;
    if two starts in a row die unready, every pending and later command fails."""

    def __init__(self, make_ledger: MakeLedger, settings: DatabaseSettings, clock: Clock) -> None:
        """`clock` stamps each command once, here: a resent one keeps its time."""
        self.make_ledger, self.settings, self.clock = make_ledger, settings, clock
        self.batches_committed = self.commands_committed = self.restarts = self.messages_sent = 0
        self._pending: dict[int, Pending] = {}  # by sequence number: the unacknowledged
        self._outbox: list[tuple[int, RunCommand, datetime]] = []
        self._seq = self._unready_deaths = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing, self._dead = False, cast("Exception | None", None)
        self._closed = asyncio.Event()  # set once the server stopped, or could not start
        self._start()

    def _start(self) -> None:
        self._conn, theirs = multiprocessing.Pipe(duplex=True)
        self.process = self._launch(theirs)
        self.pid = getattr(self.process, "pid", None)  # a thread has none
        self._ready = False  # it said so, and can commit
        self._watched = {self._conn.fileno(): self._on_readable}
        if isinstance(self.process, BaseProcess):
            self._watched[self.process.sentinel] = self._lost
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
        if (loop := self._loop) is not None:  # else from the first commit, which finds it
            for fd, callback in self._watched.items():
                _ = loop.add_reader(fd, callback) if on else loop.remove_reader(fd)

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
                if (pending := self._pending.pop(seq, None)) is None or pending[2].done():
                    continue  # a resent command's second reply, or a wait its job gave up
                if isinstance(reply, Refused):
                    pending[2].set_exception(reply.error_for(pending[0].run_id))
                else:
                    pending[2].set_result(reply)
        elif message[0] == "ready":
            self._ready, self._unready_deaths = True, 0
            self._flush()
            if self._closing:
                self._conn.send(None)  # drain and stop
        elif message[0] == "log":
            logging.getLogger(message[2]).log(message[1], "%s", message[3])

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
            return self._closed.set()  # it drained and stopped as told: aclose joins it
        if isinstance(self.process, BaseProcess):
            self.process.kill()  # if only its pipe broke
        self.process.join()
        self._unready_deaths += not self._ready
        if self._unready_deaths >= 2:  # every pending and later command fails
            self._dead = error = CommitterDiedError("the committer cannot be started")
            log.error("%s; %d commands fail", error, len(self._pending))
            for _, _, waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(error)
            self._pending.clear()
            return self._closed.set()
        log.error("the committer died, %d commands unacknowledged: restarting", len(self._pending))
        self.restarts += 1
        self._start()
        self._outbox = [(seq, cmd, at) for seq, (cmd, at, _) in sorted(self._pending.items())]

    async def aclose(self) -> None:
        """Drains: returns once every submitted command was committed (or refused)."""
        if self._closing:
            return
        self._closing = True
        if self._loop is None and isinstance(self.process, BaseProcess):
            self.process.kill()  # never used: nothing to drain (a thread stops at EOF)
        elif self._loop is not None and self._dead is None:
            self._flush()
            if self._ready:  # else it is sent once the server is ready
                self._conn.send(None)
            await self._closed.wait()
        self._conn.close()
        await asyncio.to_thread(self.process.join)


class LocalCommitter(ProcessCommitter):
    """The same server and guarantees on a thread of the worker: no interpreter to start."""

    def _launch(self, conn: Connection) -> threading.Thread:
        args = (Pipe(conn), self.make_ledger, self.settings)
        thread = threading.Thread(target=serve, args=args, name="runledger-committer", daemon=True)
        thread.start()
        return thread
