"""Replay's reading side: the event log read and folded in a thread, ahead of the writer.

Reading and decoding are Python work; writing rows is mostly the database's (SQLite's
b-trees, PostgreSQL's server process) and both drivers release the GIL while they wait
for it. So one thread reads, decodes and folds batch N+1 on its own connection while
the caller writes batch N. The fold stays in this one thread, in event order, so the
result is exactly the sequential one; the runs are the caller's once `batches` ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger import DatabaseSettings
from projections.db import Connection
from projections.events import EventLog
from projections.projector import RunFolder

_DONE = None


@dataclass(frozen=True)
class FoldedBatch:
    timeline_rows: list[tuple[Any, ...]]
    audit_rows: list[tuple[Any, ...]]
    position: int  # the batch's last event
    events: int


class FoldingReader:
    """Folds every event up to `head` into `folder`, yielding each batch's rows in order."""

    def __init__(self, settings: DatabaseSettings, batch_size: int, head: int) -> None:
        self.folder = RunFolder()
        self._settings = settings
        self._batch_size = batch_size
        self._head = head
        # Two batches ahead at most: memory stays bounded by the batch size.
        self._queue: queue.Queue[FoldedBatch | BaseException | None] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay-reader", daemon=True)

    def __enter__(self) -> FoldingReader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()  # the writer failed or finished: the reader stops putting
        self._thread.join()

    def batches(self) -> Iterator[FoldedBatch]:
        while (item := self._queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
        self._thread.join()  # the fold is complete: `folder` is the caller's now

    def _run(self) -> None:
        try:
            self._read_all()
        except BaseException as error:  # handed to the writer, which raises it
            self._put(error)
            return
        self._put(_DONE)

    def _read_all(self) -> None:
        log = EventLog(self._settings)
        position = 0
        with Connection(self._settings, autocommit=True) as conn:
            while not self._stopping.is_set():
                read = log.read(conn, position, self._batch_size)
                batch = [e for e in read if e.position <= self._head]
                if not batch:
                    return
                self.folder.fold(batch)
                timeline_rows, audit_rows = self.folder.take_rows()
                position = batch[-1].position
                self._put(FoldedBatch(timeline_rows, audit_rows, position, len(batch)))

    def _put(self, item: FoldedBatch | BaseException | None) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
