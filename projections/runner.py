"""The catch-up runner: keeps the read models current, exactly once, through outages.

It projects batches until the ledger's head, then waits for news: on PostgreSQL a
LISTEN on the channel eventsourcing NOTIFYs on every insert (with a polling fallback,
since a notification can be missed while reconnecting), on SQLite a short poll (its
eventsourcing module has no subscription). Each batch commits its rows with the
tracking position, so a crash at any point loses or repeats nothing.

Supervised: a dropped connection or a restarting database makes it reconnect with
exponential backoff rather than stall or die. Errors a retry cannot cure (a missing
table, an undecodable event) propagate.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg import sql

from ledger import DatabaseSettings, LedgerError
from ledger.eventstore import notification_channel
from projections.db import DISCONNECTED, Connection
from projections.events import EventLog
from projections.projector import catch_up_batch

log = logging.getLogger(__name__)


class ReadModelsMissingError(LedgerError):
    hint = "run `runledger migrate` first"


@dataclass(frozen=True)
class RunnerOptions:
    batch_size: int = 500
    poll_interval: float = 0.5  # SQLite's poll; PostgreSQL's fallback is `listen_fallback`
    listen_fallback: float = 5.0
    first_backoff: float = 0.1
    max_backoff: float = 5.0


class _Waker(Protocol):
    def wait(self, timeout: float) -> None: ...


class CatchUpRunner:
    """Projects the ledger's events into the read models; `stop()` ends `run_forever`."""

    def __init__(self, settings: DatabaseSettings, options: RunnerOptions | None = None) -> None:
        self.settings = settings
        self.options = options or RunnerOptions()
        self.log = EventLog(settings)
        self.projected = 0  # events projected by this runner, for logs and tests
        self.reconnects = 0
        self._served = False
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run_once(self) -> int:
        """Catches up to the ledger's head and returns how many events it projected."""
        with Connection(self.settings) as conn:
            return self._catch_up(conn)

    def run_forever(self) -> None:
        backoff = self.options.first_backoff
        while not self._stopping.is_set():
            try:
                self._serve()
                return
            except DISCONNECTED as error:
                _raise_if_schema_missing(error)
                if self._served:  # it was up: an outage starts the backoff afresh
                    backoff = self.options.first_backoff
                self._served = False
                self.reconnects += 1
                log.warning("database unavailable (%s); reconnecting in %.1fs", error, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self.options.max_backoff)

    def _serve(self) -> None:
        with Connection(self.settings) as conn, self._waker() as waker:
            while not self._stopping.is_set():
                caught_up = self._catch_up(conn) == 0
                self._served = True
                if caught_up:
                    waker.wait(self._idle_wait())

    def _catch_up(self, conn: Connection) -> int:
        total = 0
        try:
            while not self._stopping.is_set():
                count = catch_up_batch(conn, self.log, self.options.batch_size)
                if count == 0:
                    break
                total += count
                log.debug("projected %d events", count)
        except (psycopg.errors.UndefinedTable, sqlite3.OperationalError) as error:
            _raise_if_schema_missing(error)
            raise
        if total:
            self.projected += total
            log.info("projected %d events (%d since start)", total, self.projected)
        return total

    def _idle_wait(self) -> float:
        if self.settings.is_postgres:
            return self.options.listen_fallback
        return self.options.poll_interval

    @contextmanager
    def _waker(self) -> Iterator[_Waker]:
        if not self.settings.is_postgres:
            yield _PollWaker(self._stopping)
            return
        listener = psycopg.connect(self.settings.conninfo(), autocommit=True, connect_timeout=5)
        try:
            # LISTEN before catching up, so an insert committed meanwhile still wakes us.
            listener.execute(
                sql.SQL("LISTEN {}").format(sql.Identifier(notification_channel(self.settings)))
            )
            yield _ListenWaker(listener, self._stopping)
        finally:
            listener.close()


class _PollWaker:
    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping

    def wait(self, timeout: float) -> None:
        self._stopping.wait(timeout)


class _ListenWaker:
    """Returns at the first NOTIFY, at `timeout` (the polling fallback), or on stop."""

    slice = 0.25  # how often a stop request is noticed while waiting

    def __init__(
        self, conn: psycopg.Connection[tuple[object, ...]], stopping: threading.Event
    ) -> None:
        self._conn = conn
        self._stopping = stopping

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for _ in self._conn.notifies(timeout=min(self.slice, remaining), stop_after=1):
                return


def _raise_if_schema_missing(error: BaseException) -> None:
    text = str(error)
    if isinstance(error, psycopg.errors.UndefinedTable) or "no such table" in text:
        raise ReadModelsMissingError(
            f"the read models' tables do not exist ({text.splitlines()[0]})"
        ) from error
