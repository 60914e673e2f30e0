"""Reading a batch's runs: the cached ones from memory, the rest in one query where it can.

A group-committed batch holds the `Started` of several runs a worker has never seen;
one read per run costs a query and a round trip each. `RunLedger.select_many`, when set
(the worker sets it on PostgreSQL), reads all of them at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.commands import RunCommand
from ledger.run import OperationRun

if TYPE_CHECKING:
    from ledger.application import RunLedger


def prefetch_runs(
    app: RunLedger, commands: Sequence[RunCommand], runs: dict[UUID, OperationRun]
) -> None:
    """Puts the batch's runs in `runs`: cached ones, then the rest in one read (if the
    ledger can). A run not found is left out: its command is refused on its own."""
    cache = app.repository.cache
    missing: list[UUID] = []
    for run_id in dict.fromkeys(c.run_id for c in commands):
        with contextlib.suppress(KeyError):
            cached = cache.get(run_id) if cache is not None else None
            if isinstance(cached, OperationRun):
                runs[run_id] = cached
                continue
        missing.append(run_id)
    if app.select_many is None or len(missing) < 2:
        return  # each is read on its own, if at all
    for run in read_runs(app, missing):
        runs[run.id] = run
        if cache is not None:
            cache.put(run.id, run)


def read_runs(app: RunLedger, run_ids: Sequence[UUID]) -> list[OperationRun]:
    """The runs of `run_ids` the store holds, read in one query (`app.select_many`, which
    must be set); a run not found is left out."""
    assert app.select_many is not None
    stored: dict[UUID | str, list[StoredEvent]] = {}
    for record in app.select_many(run_ids):
        stored.setdefault(record.originator_id, []).append(record)
    found = []
    for records in stored.values():
        # eventsourcing's project_aggregate, without its per-event protocol assertion.
        run: OperationRun | None = None
        for record in records:
            event = cast("OperationRun.Event", app.mapper.to_domain_event(record))
            run = event.mutate(run)
        if isinstance(run, OperationRun):
            found.append(run)
    return found
