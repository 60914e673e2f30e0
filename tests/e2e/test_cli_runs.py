"""`runledger runs list/show` as an operator runs them, over a projected ledger on each store.

The ledger holds a run in every state and every ending (tests/integration/workload.py),
plus one queued an hour ago (stale now) in a workspace whose name carries a terminal
escape. Bad input gets one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from ledger import DatabaseSettings, RunLedger, utcnow
from projections import MonitoringView, Scope
from projections.db import Connection
from projections.document import run_document
from projections.events import EventLog
from projections.projector import catch_up
from tests.e2e.cli import one_clear_line, runledger
from tests.integration.workload import FAST, mixed_workload
from web.openapi_schemas import SCHEMAS

EVIL_WORKSPACE = "ops\x1b[2J"  # an ANSI "clear screen" in a workspace name

STATES = {
    "queued": "queued",
    "running": "running",
    "retried": "succeeded",
    "queue_failed": "failed by queue",
    "stale": "failed by reconciler",
    "lost": "failed by reconciler",
    "partial": "partially succeeded",
    "stale_now": "stale",
}


@dataclass
class Ledger:
    url: str
    runs: dict[str, UUID]

    def cli(self, *args: str) -> tuple[int, str, str]:
        done = runledger("runs", *args, RUNLEDGER_DATABASE_URL=self.url)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self.cli(*args, "--json")
        assert code == 0, err
        assert len(out.splitlines()) == 1, "one JSON document, on one line"
        return json.loads(out)

    def listed(self, *filters: str) -> set[UUID]:
        return {UUID(run["id"]) for run in self.json("list", *filters)["runs"]}


@pytest.fixture
def ledger(migrated_url: str) -> Ledger:
    """Every state and ending, projected, as `runledger project` would leave it."""
    settings = DatabaseSettings.from_url(migrated_url)
    app = RunLedger(settings)
    try:
        runs = mixed_workload(app)
        runs["stale_now"] = app.queue(
            operation_type="inventory.sync",
            workspace=EVIL_WORKSPACE,
            policy=FAST,
            at=utcnow() - timedelta(hours=1),
        ).run_id
    finally:
        app.close()
    with Connection(settings) as conn:
        catch_up(conn, EventLog(settings), batch_size=500)
    return Ledger(migrated_url, runs)


def test_list_shows_each_run_with_its_state_explanation_and_age(ledger: Ledger) -> None:
    code, table, err = ledger.cli("list")

    assert code == 0, err
    header, *rows = table.splitlines()
    assert header.split() == ["ID", "WORKSPACE", "TYPE", "STATE", "QUEUED", "EXPLANATION"]
    by_id = {row.split()[0]: row for row in rows}
    assert set(by_id) == {str(run_id) for run_id in ledger.runs.values()}
    documents = {run["id"]: run for run in ledger.json("list")["runs"]}
    for story, run_id in ledger.runs.items():
        row, run = by_id[str(run_id)], documents[str(run_id)]
        assert f"  {STATES[story]}  " in row, row
        assert " ago  " in row
        headline = run["explanation"]["headline"]
        if run["status"] == "completed":
            assert row.endswith(headline), row
        else:  # "… since 10:00:00 UTC (1.6 s)": it reads the clock, so only its start
            assert " ".join(headline.split()[:3]) in row, row
    assert "1 h ago" in by_id[str(ledger.runs["stale_now"])]


def test_list_escapes_control_characters_from_the_ledger(ledger: Ledger) -> None:
    _, table, _ = ledger.cli("list")

    assert "\x1b" not in table
    assert "ops\\x1b[2J" in table


def test_list_filters_as_the_api_does(ledger: Ledger) -> None:
    runs = ledger.runs

    assert ledger.listed("--workspace", "beta", "--status", "completed") == {
        runs["queue_failed"],
        runs["stale"],
        runs["lost"],
    }
    assert ledger.listed("--outcome", "failed", "--ended-by", "reconciler") == {
        runs["stale"],
        runs["lost"],
    }
    assert ledger.listed("--reason-code", "queue.timeout") == {runs["queue_failed"]}
    assert ledger.listed("--freshness", "stale") == {runs["stale_now"]}
    assert ledger.listed("--freshness", "fresh") == {runs["queued"], runs["running"]}
    assert ledger.listed("--status", "running") == {runs["running"]}
    assert ledger.listed("--operation-type", "report.build", "--outcome", "succeeded") == {
        runs["retried"]
    }
    half_an_hour_ago = (utcnow() - timedelta(minutes=30)).isoformat()
    assert ledger.listed("--queued-before", half_an_hour_ago) == {runs["stale_now"]}
    assert runs["stale_now"] not in ledger.listed("--queued-after", half_an_hour_ago)
    assert ledger.listed("--workspace", "nobody") == set()


def test_list_json_is_one_document_shaped_like_the_api(ledger: Ledger) -> None:
    document = ledger.json("list", "--limit", "3")

    assert set(document) == {"runs", "next_cursor", "prev_cursor"}
    assert len(document["runs"]) == 3
    assert document["next_cursor"] and document["prev_cursor"] is None
    for run in document["runs"]:
        assert set(run) == set(SCHEMAS["Run"]["properties"])
        assert set(run["explanation"]) == {"headline", "details", "diagnostics"}


def test_list_pages_through_every_run_with_the_cursors_it_prints(ledger: Ledger) -> None:
    code, table, _ = ledger.cli("list", "--limit", "3")
    assert code == 0
    last = table.splitlines()[-1]
    assert last.startswith("more: --cursor ")

    seen: list[str] = []
    cursor = last.removeprefix("more: --cursor ")
    first = ledger.json("list", "--limit", "3")
    seen += [run["id"] for run in first["runs"]]
    while cursor:
        page = ledger.json("list", "--limit", "3", "--cursor", cursor)
        seen += [run["id"] for run in page["runs"]]
        cursor = page["next_cursor"]

    assert sorted(seen) == sorted(str(run_id) for run_id in ledger.runs.values())
    assert len(seen) == len(set(seen))


def test_show_tells_the_explanation_then_the_timeline_then_diagnostics(ledger: Ledger) -> None:
    run_id = str(ledger.runs["queue_failed"])
    document = ledger.json("show", run_id)

    code, text, err = ledger.cli("show", run_id)

    assert code == 0, err
    lines = text.splitlines()
    assert lines[0] == document["explanation"]["headline"]
    assert lines[1].strip() == document["explanation"]["details"][0]
    timeline = lines.index(f"timeline ({document['events']} events; times in UTC)")
    diagnostics = lines.index("diagnostics")
    assert 0 < timeline < diagnostics
    header, *rows = lines[timeline + 1 : diagnostics - 1]
    start, end = header.index("EVENT"), header.index("ACTOR")
    events = [row[start:end].strip() for row in rows]
    assert events == [entry["event"] for entry in document["timeline"]]
    assert "failed by queue (queue.timeout)" in text
    assert any(line.split() == ["error", "TimeoutError()"] for line in lines[diagnostics:])


def test_show_json_is_the_run_document_the_api_serves(ledger: Ledger) -> None:
    run_id = ledger.runs["partial"]
    view = MonitoringView(DatabaseSettings.from_url(ledger.url))
    try:
        expected = run_document(view, Scope.every_workspace(), run_id, utcnow())
    finally:
        view.close()

    assert ledger.json("show", str(run_id)) == expected


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("show", "not-a-run"), ["'not-a-run'", "run id"]),
        (("show", "00000000-0000-0000-0000-000000000000"), ["no run", "runs list"]),
        (("list", "--status", "finished"), ["--status", "queued, running, completed"]),
        (("list", "--reason-code", "job.ok"), ["--reason-code", "job.succeeded"]),
        (("list", "--freshness", "old"), ["--freshness", "stale"]),
        (("list", "--queued-after", "yesterday"), ["--queued-after", "ISO 8601"]),
        (("list", "--limit", "0"), ["--limit", "1 to 200"]),
        (("list", "--limit", "10000"), ["--limit", "1 to 200"]),
        (("list", "--cursor", "forged"), ["--cursor", "not a cursor"]),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    ledger: Ledger, args: tuple[str, ...], words: list[str]
) -> None:
    code, out, err = ledger.cli(*args)

    assert code == 2
    assert out == ""
    line = one_clear_line(err)
    assert line.startswith("runledger runs")
    for word in words:
        assert word in line, line


def test_an_unreachable_database_is_one_clear_line() -> None:
    done = runledger("runs", "list", RUNLEDGER_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")

    assert done.returncode == 2
    line = one_clear_line(done.stderr)
    assert "cannot reach the database" in line and "RUNLEDGER_DATABASE_URL" in line


def test_runs_before_migrate_ask_for_migrate(sqlite_url: str) -> None:
    done = runledger("runs", "show", str(UUID(int=1)), RUNLEDGER_DATABASE_URL=sqlite_url)

    assert done.returncode == 2
    assert "runledger migrate" in one_clear_line(done.stderr)
