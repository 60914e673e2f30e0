"""`/api/audit` and `/api/audit/{position}` over a real `runledger web`, on both stores.

The log holds every event of every run once, newest first; each filter keeps exactly
the entries that match it, paging walks the log once each way, and bad values, cursors
and positions are refused in the contract's error shape.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.web.client import Api, Ledger, assert_error, forged_cursor, parse_time
from tests.web.conftest import Served
from tests.web.server import ALL_STORIES, XSS_WORKSPACE


def positions(api: Api, **params: Any) -> list[int]:
    """The positions of every entry the listing holds, following next_cursor to the end."""
    pages = api.pages("/api/audit", **params)
    return [entry["position"] for page in pages for entry in page["entries"]]


def test_the_log_holds_every_event_of_every_run_once_newest_first(api: Api, known: Ledger) -> None:
    entries = [e for page in api.pages("/api/audit", limit=200) for e in page["entries"]]
    every = [entry["position"] for entry in entries]
    assert len(every) == len(set(every))
    # Newest first by when each event happened, the position breaking ties.
    order = [(parse_time(entry["at"]), entry["position"]) for entry in entries]
    assert order == sorted(order, reverse=True)
    assert len(every) == sum(document["events"] for document in known.documents.values())
    assert {entry["run_id"] for entry in known.entries} == known.run_ids()
    queued = [e for e in known.entries if e["action"] == "run.queued"]
    assert len(queued) == len(ALL_STORIES)


def test_an_entry_says_when_who_what_and_where(api: Api, known: Ledger) -> None:
    for entry in known.entries:
        run = known.documents[UUID(entry["run_id"])]
        assert (entry["workspace"], entry["operation_type"]) == (
            run["workspace"],
            run["operation_type"],
        )
        assert parse_time(entry["at"])
        assert entry["actor"] and entry["action"].startswith("run.")
        assert entry["links"]["self"] == f"/api/audit/{entry['position']}"


@pytest.mark.parametrize("workspace", ["acme", "beta", XSS_WORKSPACE, "nobody"])
def test_the_workspace_filter_keeps_exactly_that_workspaces_entries(
    api: Api, known: Ledger, workspace: str
) -> None:
    expected = known.entries_with(workspace=workspace)
    assert positions(api, workspace=workspace) == expected


@pytest.mark.parametrize("operation_type", ["web.succeed", "web.beat", "web.stall", "web.never"])
def test_the_operation_type_filter_keeps_exactly_that_types_entries(
    api: Api, known: Ledger, operation_type: str
) -> None:
    expected = known.entries_with(operation_type=operation_type)
    assert positions(api, operation_type=operation_type) == expected


@pytest.mark.parametrize("story", sorted(ALL_STORIES))
def test_the_run_filter_keeps_exactly_that_runs_entries(
    api: Api, known: Ledger, served: Served, story: str
) -> None:
    run_id = served.filled.runs[story]
    found = api.ok("/api/audit", run_id=str(run_id), limit=200)["entries"]
    assert [e["position"] for e in found] == known.entries_with(run_id=str(run_id))
    assert len(found) == known.documents[run_id]["events"]
    assert found[-1]["action"] == "run.queued"


def test_the_run_filter_takes_a_run_id_in_any_uuid_spelling(api: Api, served: Served) -> None:
    run_id = served.filled.runs["heartbeats"]
    assert positions(api, run_id=run_id.hex) == positions(api, run_id=str(run_id).upper())
    assert positions(api, run_id=str(uuid4())) == []


def test_the_actor_filter_keeps_exactly_that_actors_entries(api: Api, known: Ledger) -> None:
    actors = {entry["actor"] for entry in known.entries}
    assert {"system", "reconciler"} <= actors and any(a.startswith("worker:") for a in actors)
    for actor in [*actors, "operator:nobody"]:
        assert positions(api, actor=actor) == known.entries_with(actor=actor)
    healed = api.ok("/api/audit", actor="reconciler")["entries"]
    assert [(e["action"], e["run_id"]) for e in healed] == [
        ("run.reconciled_stale", str(known.stories["job_lost"]))
    ]


def test_the_action_filter_keeps_exactly_that_actions_entries(api: Api, known: Ledger) -> None:
    actions = {entry["action"] for entry in known.entries}
    assert {"run.queued", "run.started", "run.completed", "run.queue_failed"} <= actions
    for action in [*actions, "run.nothing"]:
        assert positions(api, action=action) == known.entries_with(action=action)


def test_since_is_inclusive_and_until_exclusive(api: Api, known: Ledger) -> None:
    middle = known.entries[len(known.entries) // 2]
    at = parse_time(middle["at"])
    since = positions(api, since=middle["at"])
    until = positions(api, until=middle["at"])
    assert middle["position"] in since and middle["position"] not in until
    assert since == known.entries_where(lambda e: parse_time(e["at"]) >= at)
    assert until == known.entries_where(lambda e: parse_time(e["at"]) < at)
    in_tokyo = at.astimezone(timezone(timedelta(hours=9))).isoformat()
    assert positions(api, since=in_tokyo) == since


def test_filters_combine_as_and(api: Api, known: Ledger) -> None:
    first_start = min(parse_time(e["at"]) for e in known.entries if e["action"] == "run.started")
    params = {"workspace": "beta", "action": "run.started", "since": first_start.isoformat()}
    expected = known.entries_with(workspace="beta", action="run.started")
    assert expected and positions(api, **params) == expected
    assert positions(api, **params, until=first_start.isoformat()) == []


@pytest.mark.parametrize("limit", [1, 4, 7])
def test_next_cursors_walk_the_log_once_and_prev_cursors_walk_back(
    api: Api, known: Ledger, limit: int
) -> None:
    forward = list(api.pages("/api/audit", limit=limit))
    assert all(len(page["entries"]) == limit for page in forward[:-1])
    assert [e["position"] for p in forward for e in p["entries"]] == known.entries_where(
        lambda entry: True
    )
    assert forward[0]["prev_cursor"] is None and forward[-1]["next_cursor"] is None
    backward = list(api.pages("/api/audit", follow="prev_cursor", limit=limit,
                              cursor=forward[-1]["prev_cursor"]))  # fmt: skip
    assert [p["entries"] for p in backward] == [p["entries"] for p in reversed(forward[:-1])]


def test_a_filtered_log_pages_within_its_filter(api: Api, known: Ledger) -> None:
    expected = known.entries_with(workspace="acme")
    assert len(expected) > 3
    assert positions(api, workspace="acme", limit=3) == expected


def test_an_entry_by_position_is_the_entry_the_log_lists(api: Api, known: Ledger) -> None:
    for entry in known.entries:
        assert api.ok(f"/api/audit/{entry['position']}") == entry


@pytest.mark.parametrize(
    "position", ["0", "99999999", "9" * 30, "-1", "abc", "1.0", "1e3", "%C2%B2", "0x10"]
)
def test_a_position_with_no_entry_is_a_404_like_any_other(api: Api, position: str) -> None:
    unknown = assert_error(api.get("/api/audit/123456789"), 404)
    assert assert_error(api.get(f"/api/audit/{position}"), 404) == unknown


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("run_id", "not-a-run"),
        ("run_id", "1234"),
        ("since", "yesterday"),
        ("until", "2026-02-30T00:00:00Z"),
        ("since", "0001-01-01T00:00:00+05:00"),  # out of the calendar once in UTC
        ("until", "9999-12-31T23:59:59-05:00"),
        ("actor", "a" * 201),
        ("action", "run.\x00queued"),
        ("limit", "0"),
        ("limit", "10000"),
        ("cursor", "garbage"),
        ("cursor", forged_cursor("r", "o", datetime(2026, 1, 1).isoformat() + "Z", str(uuid4()))),
        ("cursor", forged_cursor("t", "n", 3)),
        ("cursor", forged_cursor("a", "x", 3)),
        ("cursor", forged_cursor("a", "o", -3)),
        ("cursor", forged_cursor("a", "o", "3")),
        ("cursor", forged_cursor("a", "o", 3.5)),
        ("cursor", forged_cursor("a", "o", 2**70)),
        ("cursor", forged_cursor("a", "o")),
        ("status", "queued"),  # a runs filter, not an audit one
    ],
)
def test_a_bad_audit_parameter_is_a_400_naming_it(api: Api, param: str, value: str) -> None:
    assert_error(api.get("/api/audit", {param: value}), 400, parameter=param)


def test_a_cursor_of_the_runs_list_is_refused_by_the_log(api: Api) -> None:
    runs_cursor = api.ok("/api/runs", limit=1)["next_cursor"]
    assert_error(api.get("/api/audit", cursor=runs_cursor), 400, parameter="cursor")
    audit_cursor = api.ok("/api/audit", limit=1)["next_cursor"]
    assert_error(api.get("/api/runs", cursor=audit_cursor), 400, parameter="cursor")


def test_an_entry_takes_no_query_parameter(api: Api, known: Ledger) -> None:
    position = known.entries[0]["position"]
    assert_error(api.get(f"/api/audit/{position}", limit="1"), 400, parameter="limit")
