"""Connections for concurrent readers, so requests never queue on one connection.

On PostgreSQL a psycopg pool lends each reader a connection (checked before it is lent,
so a database restart costs the first reader nothing but a reconnect). SQLite
connections cannot be shared between threads while in use, and are cheap: each thread
keeps one of its own (WAL mode lets them read while a writer commits).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from ledger import DatabaseSettings
from projections.db import DISCONNECTED, Connection

DEFAULT_POOL_SIZE = 10
DEFAULT_WAIT_SECONDS = 5.0  # how long a reader waits for a connection before it is refused


class ReadConnections:
    """Lends autocommit connections to the read API's queries, one per concurrent reader."""

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        max_size: int = DEFAULT_POOL_SIZE,
        wait: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self._wait = wait
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._lock = threading.Lock()
        self._pool = None
        if settings.is_postgres:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                settings.conninfo(),
                min_size=1,
                max_size=max_size,
                kwargs={"autocommit": True, "connect_timeout": 5},
                check=ConnectionPool.check_connection,
                timeout=wait,
                open=False,
                name="runledger-read",
            )
            self._pool.open(wait=False)

    @contextmanager
    def connection(self, wait: float | None = None) -> Iterator[Connection]:
        """A connection for one unit of work; a dropped one is discarded, not lent again.
        `wait` (PostgreSQL): how long to wait for one, if not the pool's own wait."""
        if self._pool is not None:
            with self._pool.connection(timeout=self._wait if wait is None else wait) as raw:
                yield Connection(self.settings, raw=raw)
            return
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = Connection(self.settings, autocommit=True)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        try:
            yield conn
        except DISCONNECTED:
            self._discard(conn)
            raise

    def _discard(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._opened:
                self._opened.remove(conn)
        conn.close()

    def close(self) -> None:
        if self._pool is not None:
            with suppress(Exception):
                self._pool.close(timeout=2)
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
