"""Who sees what: every kind of operator against every route of a real `runledger web`.

Tokens for {acme}, {beta}, {acme, beta}, {*} and {nobody}, each with runs:read only,
audit:read only, or both, ask every route about every run and audit entry of a ledger a
real worker filled. Zero leaks means: a run or entry of another workspace is a 404 with
exactly the body of one that does not exist; lists, counts, stats and the audit log add
up to what the token's workspaces hold and nothing more; a missing capability is a 403
naming it (whatever the run, so it reveals nothing either); no token, a malformed one
or a revoked one is a 401 with a challenge. Health and metrics need no token and name
no workspace. The module prints how many (token, route) pairs it checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import uuid4

import httpx
import pytest

from tests.e2e.cli import runledger
from tests.web.client import Api, Ledger, assert_error, expected_counts
from tests.web.conftest import Served
from tests.web.server import XSS_WORKSPACE

RUNS, AUDIT = "runs:read", "audit:read"
WORKSPACE_SETS = {
    "acme": ["acme"],
    "beta": ["beta"],
    "acme+beta": ["acme", "beta"],
    "every": ["*"],
    "nobody": ["nobody"],
}
CAPABILITY_SETS = {"runs": [RUNS], "audit": [AUDIT], "both": [RUNS, AUDIT]}
OPERATORS = [f"{w}/{c}" for w in WORKSPACE_SETS for c in CAPABILITY_SETS]
OTHER_WORKSPACES = ["acme", "beta", XSS_WORKSPACE]


@dataclass
class Operator:
    name: str
    workspaces: set[str] | None  # None: every workspace
    capabilities: set[str]
    api: Api

    def sees(self, workspace: str) -> bool:
        return self.workspaces is None or workspace in self.workspaces


@dataclass
class Tally:
    """The (token, route) pairs whose checks all passed, and the requests they took."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    apis: list[Api] = field(default_factory=list)

    def checked(self, operator: Operator, *routes: str) -> None:
        self.pairs.update((operator.name, route) for route in routes)


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest, served: Served) -> Iterator[Tally]:
    found, failed_before = Tally(), request.session.testsfailed
    yield found
    failed = request.session.testsfailed - failed_before
    line = (
        f"authorization matrix on {served.filled.settings.kind}: {len(found.pairs)} "
        f"(token, route) pairs checked in {sum(a.requests for a in found.apis)} requests, "
        + ("0 leaks" if not failed else f"{failed} failed test(s): see above")
    )
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # shown even when output is captured
        reporter.write_line(line)


@pytest.fixture(scope="module")
def operators(served: Served, tally: Tally) -> Iterator[dict[str, Operator]]:
    made: dict[str, Operator] = {}
    for name in OPERATORS:
        workspaces, capabilities = name.split("/")
        granted = WORKSPACE_SETS[workspaces]
        api = Api(served.url, served.token(granted, CAPABILITY_SETS[capabilities]))
        scope = None if granted == ["*"] else set(granted)
        made[name] = Operator(name, scope, set(CAPABILITY_SETS[capabilities]), api)
        tally.apis.append(api)
    yield made
    for operator in made.values():
        operator.api.close()


@pytest.fixture(params=OPERATORS)
def operator(request: pytest.FixtureRequest, operators: dict[str, Operator]) -> Operator:
    return operators[request.param]


def assert_lacks(response: httpx.Response, capability: str) -> dict[str, str]:
    error = assert_error(response, 403)
    assert capability in error["message"], error
    return error


# -- runs: list, detail, timeline, stats -----------------------------------------------------


def test_the_runs_list_holds_exactly_the_tokens_workspaces(
    operator: Operator, known: Ledger, tally: Tally
) -> None:
    api = operator.api
    if RUNS not in operator.capabilities:
        assert_lacks(api.get("/api/runs"), RUNS)
        assert_lacks(api.get("/api/runs", workspace="acme", status="bogus"), RUNS)
    else:
        visible = known.in_workspaces(operator.workspaces)
        listed = [r["id"] for page in api.pages("/api/runs", limit=3) for r in page["runs"]]
        assert listed == known.newest_first(visible)
        for workspace in OTHER_WORKSPACES:
            narrowed = {r["id"] for r in api.ok("/api/runs", workspace=workspace)["runs"]}
            assert narrowed == (known.in_workspaces({workspace}) if operator.sees(workspace)
                                else set()), workspace  # fmt: skip
        for status in ("queued", "completed"):
            within = {r["id"] for r in api.ok("/api/runs", status=status)["runs"]}
            assert within <= visible
    tally.checked(operator, "runs list")


def test_a_run_outside_the_tokens_workspaces_is_a_404_like_an_unknown_one(
    operator: Operator, known: Ledger, tally: Tally
) -> None:
    api = operator.api
    for suffix, route in (("", "run detail"), ("/timeline", "timeline")):
        unknown = api.get(f"/api/runs/{uuid4()}{suffix}")
        answers = api.get_all(f"/api/runs/{run_id}{suffix}" for run_id in known.documents)
        if RUNS not in operator.capabilities:
            refusal = assert_lacks(unknown, RUNS)
            for response in answers:  # the same 403 whether the run is there or not
                assert assert_lacks(response, RUNS) == refusal
        else:
            absent = assert_error(unknown, 404)
            for (run_id, run), response in zip(known.documents.items(), answers, strict=True):
                if operator.sees(run["workspace"]):
                    assert response.status_code == 200, response.text
                else:
                    assert assert_error(response, 404) == absent, (run_id, suffix)
        tally.checked(operator, route)


def test_stats_count_only_the_tokens_workspaces(
    operator: Operator, known: Ledger, tally: Tally
) -> None:
    api = operator.api
    if RUNS not in operator.capabilities:
        assert_lacks(api.get("/api/stats"), RUNS)
    else:
        visible = [run for run in known.documents.values() if operator.sees(run["workspace"])]
        stats = api.ok("/api/stats")
        assert stats["counts"] == expected_counts(visible)
        assert {row["workspace"] for row in stats["rows"]} == {r["workspace"] for r in visible}
        for workspace in OTHER_WORKSPACES:
            narrowed = api.ok("/api/stats", workspace=workspace)
            inside = [r for r in visible if r["workspace"] == workspace]
            assert narrowed["counts"] == expected_counts(inside), workspace
            assert sum(row["runs"] for row in narrowed["rows"]) == len(inside)
    tally.checked(operator, "stats and counts")


# -- audit: list and entry ------------------------------------------------------------------


def test_the_audit_log_holds_only_the_tokens_workspaces(
    operator: Operator, known: Ledger, tally: Tally
) -> None:
    api = operator.api
    if AUDIT not in operator.capabilities:
        assert_lacks(api.get("/api/audit"), AUDIT)
        assert_lacks(api.get("/api/audit", run_id="not-a-run"), AUDIT)
    else:
        pages = api.pages("/api/audit", limit=7)
        listed = [entry["position"] for page in pages for entry in page["entries"]]
        assert listed == known.entries_where(lambda e: operator.sees(e["workspace"]))
        for run_id, run in known.documents.items():
            answer = api.ok("/api/audit", run_id=str(run_id))
            of_run = [entry["position"] for entry in answer["entries"]]
            mine = operator.sees(run["workspace"])
            assert of_run == (known.entries_with(run_id=str(run_id)) if mine else []), run_id
        for workspace in OTHER_WORKSPACES:
            narrowed = [e["position"] for e in api.ok("/api/audit", workspace=workspace,
                                                      limit=200)["entries"]]  # fmt: skip
            mine = operator.sees(workspace)
            assert narrowed == (known.entries_with(workspace=workspace) if mine else [])
    tally.checked(operator, "audit list")


def test_an_audit_entry_outside_the_tokens_workspaces_is_a_404_like_an_unknown_one(
    operator: Operator, known: Ledger, tally: Tally
) -> None:
    api = operator.api
    unknown = api.get("/api/audit/987654321")
    answers = api.get_all(f"/api/audit/{entry['position']}" for entry in known.entries)
    if AUDIT not in operator.capabilities:
        refusal = assert_lacks(unknown, AUDIT)
        for response in answers:  # the same 403 whether the entry is there or not
            assert assert_lacks(response, AUDIT) == refusal
    else:
        absent = assert_error(unknown, 404)
        for entry, response in zip(known.entries, answers, strict=True):
            if operator.sees(entry["workspace"]):
                assert response.status_code == 200 and response.json() == entry
            else:
                assert assert_error(response, 404) == absent, entry["position"]
    tally.checked(operator, "audit entry")


# -- health and metrics ----------------------------------------------------------------------


def test_health_and_metrics_answer_any_token_alike_and_name_no_workspace(
    operator: Operator, served: Served, tally: Tally
) -> None:
    anonymous = httpx.get(f"{served.url}/metrics").text
    scraped = operator.api.get("/metrics")
    assert scraped.status_code == 200
    for workspace in OTHER_WORKSPACES:
        assert workspace not in scraped.text
    families = {line.split("{")[0] for line in scraped.text.splitlines() if "{" in line}
    assert families == {line.split("{")[0] for line in anonymous.splitlines() if "{" in line}
    health = operator.api.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    tally.checked(operator, "metrics", "healthz")


# -- no token, a bad token, a revoked token --------------------------------------------------

TOKEN_ROUTES = ["/api/runs", "/api/runs/{run}", "/api/runs/{run}/timeline", "/api/audit",
                "/api/audit/1", "/api/stats"]  # fmt: skip


def routes(served: Served) -> list[str]:
    run_id = str(served.filled.runs["succeeded"])
    return [route.replace("{run}", run_id) for route in TOKEN_ROUTES]


def assert_unauthorized(response: httpx.Response) -> None:
    assert_error(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


def test_no_token_is_a_401_with_a_challenge_on_every_route(served: Served) -> None:
    with httpx.Client(base_url=served.url) as anonymous:
        for path in routes(served):
            assert_unauthorized(anonymous.get(path))
            assert_unauthorized(anonymous.get(path, params={"limit": "0"}))  # before any 400


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        "Bearer",
        "Bearer rlt_tok_0123456789_" + "A" * 43,  # well formed, never issued
        "Basic YWRtaW46YWRtaW4=",
        "rlt_tok_0123456789_" + "A" * 43,  # no scheme
        "Bearer " + "x" * 5000,
    ],
)
def test_a_malformed_or_unknown_token_is_a_401_on_every_route(
    served: Served, authorization: str
) -> None:
    with httpx.Client(base_url=served.url, headers={"Authorization": authorization}) as client:
        for path in routes(served):
            assert_unauthorized(client.get(path))


def test_a_token_with_a_wrong_secret_is_a_401(served: Served) -> None:
    token = served.token(["*"])
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    api = Api(served.url, forged)
    try:
        for path in routes(served):
            assert_unauthorized(api.get(path))
    finally:
        api.close()


def test_a_revoked_token_is_refused_at_once(served: Served) -> None:
    token = served.token(["acme"])
    token_id = "_".join(token.split("_")[1:3])  # rlt_<id>_<secret>, the id being tok_<hex>
    api = Api(served.url, token)
    try:
        assert api.get("/api/runs").status_code == 200
        revoked = runledger("token", "revoke", token_id, **served.filled.env)
        assert revoked.returncode == 0, revoked.stderr
        for path in routes(served):
            assert_unauthorized(api.get(path))
    finally:
        api.close()
