"""ProcessCommitter: the worker's side of its committer process (workers.commit_process).

Asyncio-native: the pipe and the process's sentinel are watched with `loop.add_reader`,
so the worker runs no thread for it. Commands submitted in one pass of the event loop
leave in one message; each waiter resolves when the committer process reports its
command committed (or refused).

If the committer process dies, it is restarted and every command it had not
acknowledged is sent again, in order: commands are idempotent, so one that was in fact
committed changes nothing the second time. A restart that fails fails every pending and
later command loudly (CommitterDiedError); nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple

from ledger import (
    DatabaseSettings,
    Effect,
    LedgerError,
    RunCommand,
    RunLedger,
    RunNotFoundError,
    RunStatus,
)
from workers.commit_process import Reply, encode_commands, serve

log = logging.getLogger(__name__)
# How long a committer process may take to start (imports, the ledger's pool).
START_TIMEOUT = 60.0


class Committed(NamedTuple):
    """What a durable command did: all the worker needs of its Transition."""

    effect: Effect
    status: RunStatus
    reason_code: str | None


_COMMITTED: dict[Reply, Committed] = {}


def committed(reply: Reply) -> Committed:
    """The Committed a successful reply stands for (a handful of distinct ones, kept)."""
    known = _COMMITTED.get(reply)
    if known is None:
        effect, status, reason = reply
        assert effect is not None, "a refusal is not a commit"
        known = Committed(Effect(effect), RunStatus(status), reason)
        if len(_COMMITTED) < 1024:
            _COMMITTED[reply] = known
    return known


class CommitRefusedError(LedgerError):
    """The committer process refused a command with an error the worker cannot rebuild."""


class CommitterDiedError(LedgerError):
    """The committer process died and could not be restarted."""


class ProcessCommitter:
    """Commits through a child process; `await commit(command)` returns once durable."""

    def __init__(
        self,
        make_ledger: Callable[[DatabaseSettings], RunLedger],
        ledger: RunLedger,
        *,
        pace: float = 0.0,
        **options: Any,
    ) -> None:
        """`ledger` lends its settings and clock (commands are stamped here, as a
        GroupCommitter would); `make_ledger` builds the committer process's own ledger.
        `pace`: at most one message to the committer process per `pace` seconds; what
        comes sooner waits for the next one (the first after a quiet spell goes at once).
        `options` are the GroupCommitter's, plus `close_timeout`."""
        self.make_ledger, self.settings, self.clock = make_ledger, ledger.settings, ledger.clock
        self.options = options
        self.pace = pace
        self._last_flush = float("-inf")
        self.batches_committed = self.commands_committed = self.restarts = 0
        self.messages_sent = 0  # batches of commands sent to the committer process
        # seq -> the command, its time, and who waits for it; unacknowledged ones only.
        self._pending: dict[int, tuple[RunCommand, datetime, asyncio.Future[Committed]]] = {}
        self._outbox: list[tuple[int, RunCommand, datetime]] = []
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = self._closed = False
        self._dead: Exception | None = None
        self._closed_event: asyncio.Event | None = None
        self._restarting: asyncio.Task[None] | None = None
        self.process, self._conn = self._spawn()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _spawn(self) -> tuple[BaseProcess, Connection]:
        """Starts a committer process and waits (blocking) until it is ready."""
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        ours, theirs = context.Pipe(duplex=True)
        args = (theirs, self.make_ledger, self.settings, dict(self.options))
        process = context.Process(target=serve, args=args, name="runledger-committer")
        process.daemon = True
        process.start()
        theirs.close()
        try:
            ready = ours.poll(START_TIMEOUT) and ours.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False  # it died while starting (its traceback is on stderr)
        if not ready:
            process.kill()
            ours.close()
            raise CommitterDiedError("the committer process did not start")
        return process, ours

    async def commit(self, command: RunCommand) -> Committed:
        """Waits until the command is durable. Cancelling the wait never cancels the
        command: it stays pending (and is resent after a restart) until acknowledged."""
        if self._dead is not None:
            raise self._dead
        if self._closing:
            raise RuntimeError("this ProcessCommitter is closed")
        loop = self._attach()
        at = command.at or self.clock()  # stamped once: a resent command keeps its time
        self._seq += 1
        waiter: asyncio.Future[Committed] = loop.create_future()
        self._pending[self._seq] = (command, at, waiter)
        if not self._outbox:
            wait = self._last_flush + self.pace - loop.time()
            if wait > 0:
                loop.call_later(wait, self._flush)
            else:
                loop.call_soon(self._flush)
        self._outbox.append((self._seq, command, at))
        return await waiter

    def _attach(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._watch()
        return self._loop

    def _watch(self) -> None:
        assert self._loop is not None
        self._loop.add_reader(self._conn.fileno(), self._on_readable)
        self._loop.add_reader(self.process.sentinel, self._lost)

    def _unwatch(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._conn.fileno())
        self._loop.remove_reader(self.process.sentinel)

    def _flush(self) -> None:
        if not self._outbox or self._restarting is not None or self._dead is not None:
            return
        batch, self._outbox = self._outbox, []
        if self._loop is not None:
            self._last_flush = self._loop.time()
        try:
            self._conn.send_bytes(encode_commands(batch))
            self.messages_sent += 1
        except OSError:
            self._lost()  # everything sent is still pending: the restart resends it

    def _on_readable(self) -> None:
        # One message per call: the loop calls again while the pipe has more. (Asking
        # `poll()` first would build a selector twice per message.)
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            self._lost()
        else:
            self._receive(message)

    def _receive(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "results":
            _, replies, self.batches_committed, self.commands_committed = message
            for seq, reply in replies:
                self._settle(seq, reply)
        elif kind == "log":
            logging.getLogger(message[2]).log(message[1], "%s", message[3])
        elif kind == "closed" and self._closed_event is not None:
            self._closed_event.set()

    def _settle(self, seq: int, reply: Reply) -> None:
        entry = self._pending.pop(seq, None)
        if entry is None:
            return  # a resent command's second acknowledgement
        command, _, waiter = entry
        if waiter.cancelled():
            return  # its job stopped waiting; the command itself is durable
        effect, status, reason = reply
        if effect is not None:
            waiter.set_result(committed(reply))
        elif status == RunNotFoundError.__name__:
            waiter.set_exception(RunNotFoundError(command.run_id))
        else:
            waiter.set_exception(CommitRefusedError(f"{status}: {reason}"))

    def _lost(self) -> None:
        """The committer process died (or its pipe broke): restart it, resend."""
        if self._restarting is not None or self._closed or self._loop is None:
            return
        self._unwatch()
        # What it sent before it went still counts (its exit and its last message can be
        # seen in either order).
        with contextlib.suppress(EOFError, OSError):
            while self._conn.poll():
                self._receive(self._conn.recv())
        if self._closing and self._closed_event is not None and self._closed_event.is_set():
            return  # it had drained and stopped: not a death
        log.error(
            "the committer process (pid %s) died with %d commands unacknowledged: restarting",
            self.process.pid,
            len(self._pending),
        )
        self._restarting = self._loop.create_task(self._restart())

    async def _restart(self) -> None:
        self._conn.close()
        self.process.kill()  # if only its pipe broke; then reap it
        await asyncio.to_thread(self.process.join)
        try:
            self.process, self._conn = await asyncio.to_thread(self._spawn)
        except Exception as error:
            self._fail_everything(CommitterDiedError(f"committer process restart failed: {error}"))
            return
        finally:
            self._restarting = None
        self.restarts += 1
        self._watch()
        # Every unacknowledged command, in submission order (the unsent ones included).
        self._outbox = [
            (seq, command, at) for seq, (command, at, _) in sorted(self._pending.items())
        ]
        self._flush()
        if self._closing:
            self._conn.send_bytes(b"")  # drain and stop

    def _fail_everything(self, error: Exception) -> None:
        log.error("%s; %d commands fail", error, len(self._pending))
        self._dead = error
        for _, _, waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._pending.clear()
        if self._closed_event is not None:
            self._closed_event.set()

    async def aclose(self) -> None:
        """Drains: returns once every submitted command was committed (or refused)."""
        if self._closing:
            return
        self._closing = True
        if self._dead is not None:
            pass  # it could not be restarted: its commands have already failed
        elif self._loop is None:  # never used: nothing to drain
            self._conn.send_bytes(b"")  # drain and stop
        else:
            self._closed_event = asyncio.Event()
            self._flush()
            if self._restarting is None:  # else the restart sends it, after resending
                self._conn.send_bytes(b"")  # drain and stop
            await self._closed_event.wait()
            self._unwatch()
        self._closed = True
        self._conn.close()
        await asyncio.to_thread(self.process.join)
