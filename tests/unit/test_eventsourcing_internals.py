"""Each eventsourcing internal that ledger/eventstore.py relies on is still there, as it was.

An eventsourcing upgrade that moves or reshapes one of them fails here, naming it, rather
than somewhere deep in a worker or a replay. When one fails: read the release's changes
for that internal, adapt ledger/eventstore.py (the only module that touches it), then
this pin.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import pytest
from eventsourcing import persistence
from eventsourcing.application import Application, LRUCache, ProcessingEvent, Repository

from ledger import OperationPolicy, OperationRun, RunLedger
from ledger.eventstore import (
    BOOKKEEPING_FIELDS,
    events_table,
    log_statements,
    notification_channel,
    run_id_text,
    save_runs,
    stored_state,
)
from tests import ledger_calls

RELEASE = version("eventsourcing")
AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def pinned(what: str, condition: bool, found: object = None) -> None:
    """Fails with the internal's name and what this release has instead."""
    assert condition, f"eventsourcing {RELEASE}: {what} changed (found: {found})"


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def queued_run() -> OperationRun:
    return OperationRun.queue(
        run_id=uuid.uuid4(),
        workspace="acme",
        operation_type="t",
        policy=OperationPolicy(timeout=9),
        actor="system",
        at=AT,
        params_summary={"id": uuid.uuid4()},
    )


def test_the_installed_release_is_the_one_these_pins_were_written_for() -> None:
    pinned("the release (pins written for 9.5.x)", RELEASE.startswith("9.5."), RELEASE)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (Application._record, ["self", "processing_event"]),
        (Application._take_snapshots, ["self", "processing_event"]),
        (Application._notify, ["self", "recordings"]),
    ],
    ids=["_record", "_take_snapshots", "_notify"],
)
def test_the_save_steps_the_fast_save_calls_keep_their_signatures(
    method: Callable[..., Any], expected: list[str]
) -> None:
    found = parameters(method)
    pinned(f"Application.{method.__name__}'s parameters", found == expected, found)


def test_application_save_still_records_then_snapshots_then_notifies() -> None:
    source = inspect.getsource(Application.save)
    steps = [source.find(step) for step in ("_record(", "_take_snapshots(", "_notify(")]
    pinned("Application.save's steps", -1 not in steps and steps == sorted(steps), steps)


def test_a_processing_event_is_built_empty_and_holds_events_and_aggregates() -> None:
    processing: ProcessingEvent[uuid.UUID] = ProcessingEvent()
    pinned("ProcessingEvent.events", processing.events == [], vars(processing))
    pinned("ProcessingEvent.aggregates", processing.aggregates == {}, vars(processing))
    pinned("ProcessingEvent.tracking", processing.tracking is None, vars(processing))


def test_the_repository_and_cache_calls_the_ledger_makes_exist() -> None:
    found = parameters(Repository.get)
    pinned("Repository.get(deepcopy_from_cache=)", "deepcopy_from_cache" in found, found)
    found = parameters(LRUCache.get)
    pinned("LRUCache.get(key, evict=)", found[:2] == ["self", "key"] and "evict" in found, found)
    pinned("LRUCache.put", parameters(LRUCache.put)[:3] == ["self", "key", "value"])


def test_stored_events_are_folded_through_the_mapper_and_mutate() -> None:
    mapper = Application[uuid.UUID]().mapper
    pinned("Mapper.to_domain_event", parameters(mapper.to_domain_event) == ["stored_event"])
    event = next(iter(queued_run().collect_events()))
    run = mapper.to_domain_event(mapper.to_stored_event(event)).mutate(None)  # type: ignore[attr-defined]
    pinned("an aggregate event's mutate(None)", isinstance(run, OperationRun), run)


def test_the_stored_json_layout_is_the_one_the_replay_decoder_mirrors() -> None:
    mapper = Application[uuid.UUID]().mapper
    event = next(iter(queued_run().collect_events()))
    stored = mapper.to_stored_event(event)  # type: ignore[arg-type]
    raw = json.loads(stored.state)
    stamp = raw["timestamp"]
    pinned("a datetime's transcoding", set(stamp) == {"_type_", "_data_"}, stamp)
    pinned("a datetime's ISO form", stamp["_data_"] == AT.isoformat(), stamp)
    wrapped = raw["params_summary"]["id"]
    pinned("a UUID's transcoding", wrapped.get("_type_") == "uuid_hex", wrapped)
    domain = set(vars(mapper.to_domain_event(stored)))
    extra = set(raw) - domain
    pinned("the bookkeeping fields", extra <= set(BOOKKEEPING_FIELDS), sorted(extra))
    pinned("class_version in a versioned event", "class_version" in raw, sorted(raw))
    state = stored_state(stored.state)
    pinned("the unwrapped state", state["params_summary"]["id"] == wrapped["_data_"], state)


def test_the_persistence_errors_the_code_base_catches_are_public() -> None:
    for name in ("IntegrityError", "OperationalError", "PersistenceError", "ProgrammingError"):
        pinned(f"eventsourcing.persistence.{name}", hasattr(persistence, name))


# -- against each store: table, channel, columns and id layout ----------------------------


def test_the_tables_and_channel_are_named_as_the_recorder_names_them(ledger: RunLedger) -> None:
    recorder: Any = ledger.recorder
    table = events_table(ledger.settings)
    pinned("the events table's name", recorder.events_table_name == table, recorder)
    if ledger.settings.is_postgres:
        found = recorder.channel_name
        pinned("the NOTIFY channel", found == notification_channel(ledger.settings), found)
        pinned("the datastore's schema", recorder.datastore.schema == ledger.settings.schema)


def test_the_bulk_reader_uses_the_recorders_datastore(ledger: RunLedger) -> None:
    bulk = RunLedger(ledger.settings, bulk_reads=True)
    try:
        pinned(
            "the PostgreSQL recorder (bulk reads)", bulk.bulk_reads == ledger.settings.is_postgres
        )
        if bulk.bulk_reads:
            run_id = ledger.queue(
                operation_type="t", workspace="w", policy=OperationPolicy(timeout=9)
            ).run_id
            [state] = bulk.states([run_id])
            pinned("the datastore's dict rows", state.id == run_id, state)
    finally:
        bulk.close()


def test_the_notification_log_columns_and_ids_are_as_the_decoder_reads_them(
    ledger: RunLedger,
) -> None:
    from projections.db import Connection
    from projections.events import EventLog

    run = queued_run()
    save_runs(ledger, [run])
    with Connection(ledger.settings) as conn:
        [event] = EventLog(ledger.settings).read(conn, 0, 10)
        [row] = conn.execute(log_statements(ledger.settings).select, (0, 1))
    raw_id = row[1]
    pinned("the originator id's stored form", run_id_text(raw_id) == str(run.id), raw_id)
    pinned("the notification log's rows", event.run_id == str(run.id) and event.version == 1)
    reloaded = ledger_calls.get_run(ledger, run.id)
    pinned("a run saved by save_runs", reloaded.version == 1, reloaded)
