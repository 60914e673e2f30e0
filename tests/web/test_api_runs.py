"""`/api/runs`, `/api/runs/{id}` and `/api/runs/{id}/timeline` over a real `runledger web`.

Every filter returns exactly the runs that have its value, paging walks every run once
in both directions, and each bad id, value, cursor or limit is refused with the
contract's error naming the parameter (never a 5xx). On both stores.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from ledger import EndedBy, Freshness, Outcome, ReasonCode, RunStatus
from tests.web.client import Api, Ledger, assert_error, forged_cursor, parse_time
from tests.web.conftest import Served
from tests.web.server import ALL_STORIES, XSS_WORKSPACE

CHOICES = {
    "status": [m.value for m in RunStatus],
    "outcome": [m.value for m in Outcome],
    "freshness": [m.value for m in Freshness],
    "ended_by": [m.value for m in EndedBy],
    "reason_code": [m.value for m in ReasonCode],
}
EDGE_OF_TIME = "0001-01-01T00:00:00+05:00"  # out of the calendar once in UTC
WORKSPACES = ["acme", "beta", XSS_WORKSPACE, "nobody"]
OPERATION_TYPES = [*sorted({kind for kind, _, _ in ALL_STORIES.values()}), "web.never"]
RUN_FIELDS = {
    "id", "workspace", "operation_type", "status", "outcome", "freshness", "ended_by",
    "reason_code", "explanation", "attempts", "queued_at", "started_at", "last_activity_at",
    "completed_at",
}  # fmt: skip


def listed(api: Api, **params: Any) -> list[str]:
    """The ids of every run the listing holds, following next_cursor to the end."""
    return [run["id"] for page in api.pages("/api/runs", **params) for run in page["runs"]]


def stories(served: Served, *names: str) -> set[str]:
    return {str(served.filled.runs[name]) for name in names}


# -- listing and filters ---------------------------------------------------------------------


def test_the_list_holds_every_run_newest_first(api: Api, known: Ledger) -> None:
    page = api.ok("/api/runs")
    assert [run["id"] for run in page["runs"]] == known.newest_first(known.run_ids())
    assert page["next_cursor"] is None and page["prev_cursor"] is None
    for run in page["runs"]:
        assert set(run) >= RUN_FIELDS, RUN_FIELDS - set(run)
        assert run["explanation"]["headline"]


@pytest.mark.parametrize(
    ("param", "value"), [(param, value) for param, values in CHOICES.items() for value in values]
)
def test_each_filter_value_lists_exactly_the_runs_that_have_it(
    api: Api, known: Ledger, param: str, value: str
) -> None:
    expected = known.run_ids(lambda run: run[param] == value)
    assert listed(api, **{param: value}) == known.newest_first(expected)


@pytest.mark.parametrize("workspace", WORKSPACES)
def test_the_workspace_filter_lists_exactly_that_workspaces_runs(
    api: Api, served: Served, workspace: str
) -> None:
    expected = {s for s, (_, ws, _) in ALL_STORIES.items() if ws == workspace}
    assert set(listed(api, workspace=workspace)) == stories(served, *expected)


@pytest.mark.parametrize("operation_type", OPERATION_TYPES)
def test_the_operation_type_filter_lists_exactly_that_types_runs(
    api: Api, served: Served, operation_type: str
) -> None:
    expected = {s for s, (kind, _, _) in ALL_STORIES.items() if kind == operation_type}
    assert set(listed(api, operation_type=operation_type)) == stories(served, *expected)


def test_the_filters_find_the_runs_the_worker_left_behind(api: Api, served: Served) -> None:
    assert set(listed(api, status="queued")) == stories(served, "queued", "stale")
    assert set(listed(api, freshness="stale")) == stories(served, "stale")
    assert set(listed(api, freshness="fresh")) == stories(served, "queued")
    assert listed(api, status="running") == []
    assert set(listed(api, ended_by="reconciler")) == stories(served, "job_lost")
    assert set(listed(api, reason_code="queue.timeout")) == stories(served, "timeout")
    queue_failed = stories(served, "timeout", "retries_exhausted", "function_missing")
    assert set(listed(api, ended_by="queue", outcome="failed")) == queue_failed
    assert set(listed(api, outcome="partially_succeeded")) == stories(served, "partial")


def test_filters_combine_as_and(api: Api, known: Ledger) -> None:
    expected = known.run_ids(
        lambda r: r["workspace"] == "acme" and r["status"] == "completed" and r["ended_by"] == "job"
    )
    assert expected
    assert listed(api, workspace="acme", status="completed", ended_by="job") == (
        known.newest_first(expected)
    )


def test_queued_after_is_inclusive_and_queued_before_exclusive(api: Api, known: Ledger) -> None:
    order = known.newest_first(known.run_ids())
    middle = order[len(order) // 2]
    at = known.documents[UUID(middle)]["queued_at"]
    cut = parse_time(at)
    times = {i: parse_time(known.documents[UUID(i)]["queued_at"]) for i in order}
    after = listed(api, queued_after=at)
    before = listed(api, queued_before=at)
    assert middle in after and middle not in before
    assert after == [i for i in order if times[i] >= cut]
    assert before == [i for i in order if times[i] < cut]
    assert sorted(after + before) == sorted(order)


def test_a_time_means_the_same_moment_in_any_offset(api: Api, known: Ledger) -> None:
    order = known.newest_first(known.run_ids())
    cut = parse_time(known.documents[UUID(order[3])]["queued_at"])
    in_utc = listed(api, queued_after=cut.isoformat())
    in_paris = listed(api, queued_after=cut.astimezone(timezone(timedelta(hours=2))).isoformat())
    naive_is_utc = listed(api, queued_after=cut.astimezone(UTC).replace(tzinfo=None).isoformat())
    assert in_utc == in_paris == naive_is_utc == order[:4]


def test_a_queued_window_lists_only_the_runs_inside_it(api: Api, known: Ledger) -> None:
    order = known.newest_first(known.run_ids())
    at = {i: parse_time(known.documents[UUID(i)]["queued_at"]) for i in order}
    newest, oldest = at[order[1]], at[order[-2]]
    window = listed(api, queued_after=oldest.isoformat(), queued_before=newest.isoformat())
    assert window == [i for i in order if oldest <= at[i] < newest] == order[2:-1]
    assert listed(api, queued_after="2000-01-01T00:00:00Z", queued_before="2000-01-02") == []


def test_an_empty_filter_value_means_not_filtered(api: Api, known: Ledger) -> None:
    blanks = {name: "" for name in [*CHOICES, "workspace", "operation_type", "queued_after"]}
    assert listed(api, **blanks) == known.newest_first(known.run_ids())


# -- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_next_cursors_walk_every_run_once_and_prev_cursors_walk_back(
    api: Api, known: Ledger, limit: int
) -> None:
    forward = list(api.pages("/api/runs", limit=limit))
    assert all(len(page["runs"]) == limit for page in forward[:-1])
    assert 1 <= len(forward[-1]["runs"]) <= limit
    ids = [run["id"] for page in forward for run in page["runs"]]
    assert ids == known.newest_first(known.run_ids())
    assert forward[0]["prev_cursor"] is None and forward[-1]["next_cursor"] is None
    assert all(page["prev_cursor"] for page in forward[1:])

    backward = list(api.pages("/api/runs", follow="prev_cursor", limit=limit,
                              cursor=forward[-1]["prev_cursor"]))  # fmt: skip
    ids_of = lambda pages: [[run["id"] for run in page["runs"]] for page in pages]  # noqa: E731
    assert ids_of(backward) == ids_of(reversed(forward[:-1]))
    assert backward[-1]["prev_cursor"] is None


def test_a_filtered_listing_pages_within_its_filter(api: Api, known: Ledger) -> None:
    expected = known.newest_first(known.run_ids(lambda run: run["workspace"] == "beta"))
    assert len(expected) > 2
    assert listed(api, workspace="beta", limit=2) == expected


def test_limit_bounds_the_page(api: Api, known: Ledger) -> None:
    everything = known.newest_first(known.run_ids())
    one = api.ok("/api/runs", limit=1)
    assert [run["id"] for run in one["runs"]] == everything[:1]
    assert one["next_cursor"] is not None
    assert [run["id"] for run in api.ok("/api/runs", limit=200)["runs"]] == everything


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "10000", "201", "-1", "ten", "1.5", "1e3"])
def test_a_limit_outside_1_to_200_is_a_400_naming_limit(api: Api, limit: str) -> None:
    error = assert_error(api.get("/api/runs", limit=limit), 400, parameter="limit")
    assert "200" in error["message"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        *((param, "bogus") for param in CHOICES),
        ("status", "COMPLETED"),
        ("queued_after", "yesterday"),
        ("queued_before", "2026-13-01T00:00:00Z"),
        ("queued_after", EDGE_OF_TIME),
        ("queued_before", "9999-12-31T23:59:59-05:00"),
        ("workspace", "w" * 201),
        ("operation_type", "web.\x00succeed"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_filter(api: Api, param: str, value: str) -> None:
    assert_error(api.get("/api/runs", {param: value}), 400, parameter=param)


@pytest.mark.parametrize("name", ["page", "Status", "sort", "workspace[]"])
def test_an_unknown_query_parameter_is_a_400_naming_it(api: Api, name: str) -> None:
    error = assert_error(api.get("/api/runs", {name: "x"}), 400, parameter=name)
    assert "status" in error["message"]  # it says what is accepted


def test_a_repeated_parameter_is_a_400_naming_it(api: Api) -> None:
    repeated = [("status", "queued"), ("status", "completed")]
    assert_error(api.get("/api/runs", repeated), 400, parameter="status")


def _forged_cursors(real: str) -> dict[str, str]:
    kind, direction, stamp, run_id = json.loads(base64.urlsafe_b64decode(real + "=="))
    return {
        "garbage": "not-a-cursor",
        "not base64": "!!!!",
        "base64 of no JSON": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "cut short": real[: len(real) // 2],
        "too long": real + "A" * 200,
        "of the audit log": forged_cursor("a", "o", 3),
        "of a timeline": forged_cursor("t", "n", 2),
        "another kind": forged_cursor("x", direction, stamp, run_id),
        "a direction that is none": forged_cursor(kind, "sideways", stamp, run_id),
        "a run id that is no UUID": forged_cursor(kind, direction, stamp, "run-1"),
        "a time that is no time": forged_cursor(kind, direction, "noon", run_id),
        "a naive time": forged_cursor(kind, direction, "2026-01-01T00:00:00", run_id),
        "a time at the calendar's edge": forged_cursor(kind, direction, EDGE_OF_TIME, run_id),
        "a number for the time": forged_cursor(kind, direction, 12, run_id),
        "a field too many": forged_cursor(kind, direction, stamp, run_id, 1),
        "an object": base64.urlsafe_b64encode(b'{"r": 1}').decode().rstrip("="),
    }


def test_a_bad_cursor_is_a_400_naming_cursor(api: Api) -> None:
    real = api.ok("/api/runs", limit=1)["next_cursor"]
    for what, cursor in _forged_cursors(real).items():
        response = api.get("/api/runs", limit=1, cursor=cursor)
        assert response.status_code == 400, (what, response.text)
        assert_error(response, 400, parameter="cursor")


# -- one run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("story", sorted(ALL_STORIES))
def test_a_runs_document_agrees_with_its_list_item_and_its_audit_entries(
    api: Api, known: Ledger, served: Served, story: str
) -> None:
    run_id = str(served.filled.runs[story])
    document = api.ok(f"/api/runs/{run_id}")
    item = next(run for run in api.ok("/api/runs")["runs"] if run["id"] == run_id)
    for field in RUN_FIELDS - {"explanation"}:
        assert document[field] == item[field], field
    if document["status"] == "completed":  # a waiting run's headline counts the seconds
        assert document["explanation"]["headline"] == item["explanation"]["headline"]
    for field in ("queued_at", "last_activity_at", "started_at", "completed_at"):
        assert document[field] is None or parse_time(document[field]).tzinfo is not None
    audit = known.entries_with(run_id=run_id)
    assert document["events"] == len(audit)
    assert document["timeline"][0]["event"] == "queued"


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "12345", "0" * 33, "c261fd64-6493-4649-914b-3ad13d7b70eZ", "%00"]
)
def test_a_malformed_run_id_is_a_404_like_an_unknown_one(api: Api, bad_id: str) -> None:
    unknown = assert_error(api.get(f"/api/runs/{uuid4()}"), 404)
    assert assert_error(api.get(f"/api/runs/{bad_id}"), 404) == unknown
    assert assert_error(api.get(f"/api/runs/{bad_id}/timeline"), 404) == unknown
    assert assert_error(api.get(f"/api/runs/{uuid4()}/timeline"), 404) == unknown


def test_a_run_takes_no_query_parameter(api: Api, served: Served) -> None:
    run_id = served.filled.runs["succeeded"]
    assert_error(api.get(f"/api/runs/{run_id}", fold="true"), 400, parameter="fold")


# -- a run's timeline ------------------------------------------------------------------------


def timeline(api: Api, run_id: UUID, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a run's timeline, without the time since the one before (which
    restarts on each page)."""
    path = f"/api/runs/{run_id}/timeline"
    pages = api.pages(path, **params)
    return [_without_gap(entry) for page in pages for entry in page["entries"]]


def _without_gap(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "since_previous_seconds"}


@pytest.mark.parametrize("story", sorted(ALL_STORIES))
def test_an_unfolded_timeline_holds_every_event_once_in_order(
    api: Api, known: Ledger, served: Served, story: str
) -> None:
    run_id = served.filled.runs[story]
    events = known.documents[run_id]["events"]
    whole = timeline(api, run_id, fold="false", limit=200)
    assert [e["version"] for e in whole] == list(range(1, events + 1))
    for limit in (1, 2):
        assert timeline(api, run_id, fold="false", limit=limit) == whole, limit
    positions = [e["position"] for e in whole]
    assert sorted(positions) == sorted(known.entries_with(run_id=str(run_id)))


def test_a_folded_timeline_tells_a_run_of_heartbeats_in_one_entry(api: Api, served: Served) -> None:
    run_id = served.filled.runs["heartbeats"]
    unfolded = timeline(api, run_id, fold="false")
    folded = timeline(api, run_id)  # folding is the default
    beats = [e for e in unfolded if e["event"] == "heartbeat"]
    assert len(beats) == 3
    assert [e["event"] for e in folded] == ["queued", "started", "heartbeats", "completed"]
    fold = folded[2]["details"]
    assert fold["count"] == 3
    assert fold["last_progress"] == {"done": 3, "total": 3}
    assert fold["first_version"] == beats[0]["version"]
    assert fold["last_version"] == beats[-1]["version"]
    assert [e for e in folded if e["event"] != "heartbeats"] == [
        e for e in unfolded if e["event"] != "heartbeat"
    ]  # every other event is kept as it is
    for limit in (1, 2, 3):
        assert timeline(api, run_id, fold="true", limit=limit) == folded, limit


def test_the_run_document_shows_the_first_page_of_the_folded_timeline(
    api: Api, served: Served
) -> None:
    run_id = served.filled.runs["heartbeats"]
    document = api.ok(f"/api/runs/{run_id}")
    page = api.ok(f"/api/runs/{run_id}/timeline")
    assert document["timeline"] == page["entries"]
    assert document["events"] == page["events"] == 6


@pytest.mark.parametrize(
    ("param", "value"),
    [("fold", "maybe"), ("fold", "1"), ("limit", "0"), ("limit", "10000"), ("cursor", "garbage"),
     ("cursor", forged_cursor("r", "o", datetime.now(UTC).isoformat(), str(uuid4()))),
     ("cursor", forged_cursor("t", "n", -1)), ("cursor", forged_cursor("t", "n", True)),
     ("since", "2026-01-01")],
)  # fmt: skip
def test_a_bad_timeline_parameter_is_a_400_naming_it(
    api: Api, served: Served, param: str, value: str
) -> None:
    run_id = served.filled.runs["heartbeats"]
    assert_error(api.get(f"/api/runs/{run_id}/timeline", {param: value}), 400, parameter=param)
