"""`/api/stats`, `/api/openapi.json`, `/healthz` and `/metrics`, and what every route shares:
the error shape for a wrong method, an unknown or repeated parameter, and the security
headers. Against a real `runledger web`, on both stores.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.web.client import Api, Ledger, assert_error, expected_counts
from tests.web.conftest import Served
from tests.web.server import ALL_STORIES

CONTRACT_PATHS = {
    "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/timeline", "/api/audit",
    "/api/audit/{position}", "/api/stats", "/api/openapi.json", "/healthz", "/metrics",
}  # fmt: skip
TOKEN_ROUTES = [p for p in sorted(CONTRACT_PATHS) if p.startswith("/api/") and "openapi" not in p]
WORKSPACES = {workspace for _, workspace, _ in ALL_STORIES.values()}


def concrete(path: str, served: Served, known: Ledger) -> str:
    """A route template with a real run id and audit position in it."""
    run_id, position = served.filled.runs["heartbeats"], known.entries[0]["position"]
    return path.replace("{run_id}", str(run_id)).replace("{position}", str(position))


# -- stats -----------------------------------------------------------------------------------


def test_stats_count_every_run_by_status_outcome_ending_and_freshness(
    api: Api, known: Ledger
) -> None:
    stats = api.ok("/api/stats")
    assert stats["counts"] == expected_counts(list(known.documents.values()))
    assert stats["counts"]["stale"] == 1
    assert sum(row["runs"] for row in stats["rows"]) == len(known.documents)


@pytest.mark.parametrize(
    ("param", "value"),
    [("workspace", "acme"), ("workspace", "beta"), ("workspace", "nobody"),
     ("operation_type", "web.succeed"), ("operation_type", "web.never")],
)  # fmt: skip
def test_stats_narrow_to_a_workspace_or_an_operation_type(
    api: Api, known: Ledger, param: str, value: str
) -> None:
    stats = api.ok("/api/stats", {param: value})
    runs = [run for run in known.documents.values() if run[param] == value]
    assert stats["counts"] == expected_counts(runs)
    assert {row[param] for row in stats["rows"]} <= {value}
    assert sum(row["runs"] for row in stats["rows"]) == len(runs)


def test_stats_narrowed_both_ways_count_the_runs_in_both(api: Api, known: Ledger) -> None:
    stats = api.ok("/api/stats", workspace="beta", operation_type="web.succeed")
    runs = [r for r in known.documents.values()
            if r["workspace"] == "beta" and r["operation_type"] == "web.succeed"]  # fmt: skip
    assert runs and stats["counts"] == expected_counts(runs)


# -- openapi ---------------------------------------------------------------------------------


def test_the_openapi_document_is_3_1_and_lists_every_route(served: Served) -> None:
    response = httpx.get(f"{served.url}/api/openapi.json")  # no token needed
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == CONTRACT_PATHS
    for path, item in document["paths"].items():
        assert set(item) == {"get"}, path
        assert "200" in item["get"]["responses"], path


def test_every_documented_parameter_is_one_the_route_takes(
    api: Api, served: Served, known: Ledger
) -> None:
    document = api.ok("/api/openapi.json")
    for path in TOKEN_ROUTES:
        operation = document["paths"][path]["get"]
        assert {"400", "401", "403"} <= set(operation["responses"]), path
        for parameter in operation["parameters"]:
            if parameter["in"] != "query":
                continue
            # An empty value means "not filtered", so a route that takes it answers 200.
            response = api.get(concrete(path, served, known), {parameter["name"]: ""})
            assert response.status_code == 200, (path, parameter["name"], response.text)


# -- health and metrics ----------------------------------------------------------------------


def test_health_says_the_database_and_redis_answer_and_the_models_are_current(
    served: Served,
) -> None:
    response = httpx.get(f"{served.url}/healthz")  # no token needed
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["database"]["ok"] is True and health["redis"]["ok"] is True
    assert health["projection"]["events_behind"] == 0
    assert health["projection"]["position"] == health["projection"]["head"] > 0


def scrape(served: Served) -> tuple[str, dict[str, list[Any]]]:
    response = httpx.get(f"{served.url}/metrics")  # no token needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        families.setdefault(family.name, []).extend(family.samples)
    return response.text, families


def test_metrics_count_runs_by_type_status_outcome_and_reason(
    served: Served, known: Ledger
) -> None:
    _, families = scrape(served)
    exported = {
        (s.labels["operation_type"], s.labels["status"], s.labels["outcome"],
         s.labels["reason_code"]): s.value
        for s in families["runledger_runs"]
    }  # fmt: skip
    expected = Counter(
        (run["operation_type"], run["status"], run["outcome"] or "", run["reason_code"] or "")
        for run in known.documents.values()
    )
    assert exported == {key: float(n) for key, n in expected.items()}


def test_metrics_count_stale_runs_per_type_and_the_projection_lag(
    served: Served, known: Ledger
) -> None:
    _, families = scrape(served)
    stale = {s.labels["operation_type"]: s.value for s in families["runledger_stale_runs"]}
    every_type = {run["operation_type"] for run in known.documents.values()}
    assert stale == {kind: 1.0 if kind == "web.stall" else 0.0 for kind in every_type}
    assert [s.value for s in families["runledger_projection_lag_events"]] == [0.0]
    assert [s.value for s in families["runledger_projection_lag_seconds"]] == [0.0]


def test_metrics_time_requests_by_route_template_never_by_raw_path(
    api: Api, served: Served
) -> None:
    run_id = served.filled.runs["succeeded"]
    api.ok(f"/api/runs/{run_id}")
    api.get(f"/api/runs/{run_id}/no-such-view")
    _, families = scrape(served)
    samples = families["runledger_http_request_duration_seconds"]
    routes = {s.labels["route"] for s in samples}
    assert "/api/runs/{run_id}" in routes and "unmatched" in routes
    assert {s.name for s in samples} >= {
        "runledger_http_request_duration_seconds_bucket",
        "runledger_http_request_duration_seconds_count",
    }


def test_metrics_name_no_workspace_and_no_run(served: Served, known: Ledger) -> None:
    text, _ = scrape(served)
    for workspace in WORKSPACES:
        assert workspace not in text, workspace
    for run_id in known.run_ids():
        assert run_id not in text and run_id.replace("-", "") not in text


# -- what every route shares -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_method_other_than_get_is_a_405_in_the_error_shape(
    api: Api, served: Served, known: Ledger, method: str
) -> None:
    for path in sorted(CONTRACT_PATHS):
        response = api.http.request(method, concrete(path, served, known), json={})
        assert_error(response, 405)
        assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("path", TOKEN_ROUTES)
def test_every_route_refuses_an_unknown_parameter_by_name(
    api: Api, served: Served, known: Ledger, path: str
) -> None:
    response = api.get(concrete(path, served, known), {"delete": "1"})
    assert_error(response, 400, parameter="delete")


@pytest.mark.parametrize("path", [p for p in TOKEN_ROUTES if "{" not in p])
def test_every_route_refuses_a_parameter_given_twice_by_name(api: Api, path: str) -> None:
    response = api.get(path, [("workspace", "acme"), ("workspace", "beta")])
    assert_error(response, 400, parameter="workspace")


def test_an_unknown_api_path_is_a_404_in_the_error_shape(api: Api) -> None:
    assert_error(api.get("/api/nothing"), 404)
    assert_error(api.get("/api/runs/x/y/z"), 404)


def test_every_api_response_carries_the_security_headers(
    api: Api, served: Served, known: Ledger
) -> None:
    anonymous = httpx.Client(base_url=served.url)
    responses = [
        *(api.get(concrete(path, served, known)) for path in sorted(CONTRACT_PATHS)),
        api.get("/api/runs", limit="0"),  # 400
        anonymous.get("/api/runs"),  # 401
        api.get("/api/runs/not-a-run"),  # 404
        api.http.post("/api/runs"),  # 405
    ]
    anonymous.close()
    assert {r.status_code for r in responses} == {200, 400, 401, 404, 405}
    for response in responses:
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] in {"same-origin", "no-referrer", "strict-origin"}
        if response.url.path.startswith("/api/"):
            assert headers["cache-control"] == "no-store"
