"""Reading a batch's runs: the cached ones from memory, the rest in one query where it can.

A group-committed batch holds the `Started` of several runs a worker has never seen;
one read per run costs a query and a round trip each. A ledger built with `bulk_reads`
(a worker's, on PostgreSQL) reads all of them at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from ledger.commands import RunCommand
from ledger.run import OperationRun

RunReader = Callable[[Sequence[UUID]], list[OperationRun]]


def prefetch_runs(
    cache: Any,
    read_many: RunReader | None,
    commands: Sequence[RunCommand],
    runs: dict[UUID, OperationRun],
) -> None:
    """Puts the batch's runs in `runs`: those in `cache` (eventsourcing's LRU cache, or
    None), then the rest in one `read_many`, if any. A run not found is left out: its
    command is refused on its own."""
    missing: list[UUID] = []
    for run_id in dict.fromkeys(c.run_id for c in commands):
        with contextlib.suppress(KeyError):
            cached = cache.get(run_id) if cache is not None else None
            if isinstance(cached, OperationRun):
                runs[run_id] = cached
                continue
        missing.append(run_id)
    if read_many is None or len(missing) < 2:
        return  # each is read on its own, if at all
    for run in read_many(missing):
        runs[run.id] = run
        if cache is not None:
            cache.put(run.id, run)
