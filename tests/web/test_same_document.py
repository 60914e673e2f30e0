"""Same document everywhere: `runledger runs show --json` prints what `GET /api/runs/{id}`
answers, for runs of every ending, on both stores (the `served` fixture: a ledger a real
worker filled, served by a real `runledger web`).

Both encode the same way: compact UTF-8 JSON, Starlette's JSONResponse encoding, the
command adding one newline. So a run whose document does not depend on the clock (every
terminal run) is the same bytes from both, nothing normalised.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest

from tests.e2e.cli import ROOT, RUNLEDGER, cli_env
from tests.web.conftest import Served
from tests.web.server import STORIES

TERMINAL = sorted([*STORIES, "job_lost"])


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.token(["*"])


def cli(served: Served, *args: str) -> bytes:
    """stdout of `runledger runs ARGS --json`, as bytes (no decoding to normalise them)."""
    done = subprocess.run(
        [RUNLEDGER, "runs", *args, "--json"],
        env=cli_env(**served.filled.env),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,  # asserted below, with its stderr
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def api(served: Served, token: str, path: str, **query: str) -> bytes:
    response = httpx.get(
        f"{served.url}{path}", params=query, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("story", TERMINAL)
def test_a_terminal_run_is_the_same_bytes_from_the_command_and_the_api(
    served: Served, token: str, story: str
) -> None:
    run_id = str(served.filled.runs[story])

    from_api = api(served, token, f"/api/runs/{run_id}")
    from_cli = cli(served, "show", run_id)

    assert json.loads(from_cli) == json.loads(from_api)
    assert json.loads(from_api)["status"] == "completed"
    assert from_cli == from_api + b"\n"


def without_the_clock(document: dict[str, Any]) -> dict[str, Any]:
    """A queued or running run's document without what depends on when it is read.

    Its headline and details say how long it has waited and when it turns stale ("since
    10:42:00 UTC (3.8 s)", "in 1 min 56 s"), and its freshness flips at the threshold;
    the command and the API read it at two different instants, so those differ by
    design. Everything else, its diagnostics included, comes from the ledger alone.
    """
    kept = {key: value for key, value in document.items() if key != "freshness"}
    kept["explanation"] = {"diagnostics": document["explanation"]["diagnostics"]}
    return kept


def test_every_run_reads_the_same_but_for_the_clock(served: Served, token: str) -> None:
    compared: dict[str, str] = {}
    for story, run_id in served.filled.runs.items():
        from_api = json.loads(api(served, token, f"/api/runs/{run_id}"))
        from_cli = json.loads(cli(served, "show", str(run_id)))
        compared[story] = from_api["status"]
        if from_api["status"] == "completed":
            assert from_cli == from_api, story
        else:
            assert without_the_clock(from_cli) == without_the_clock(from_api), story

    assert compared["queued"] == "queued"
    assert set(TERMINAL) <= set(compared)


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "completed"},
        {"status": "completed", "workspace": "beta", "outcome": "failed", "ended_by": "queue"},
        {"status": "completed", "workspace": "acme", "limit": "2"},
    ],
    ids=["completed", "beta-failed", "acme-paged"],
)
def test_runs_list_json_is_the_same_bytes_as_get_api_runs(
    served: Served, token: str, filters: dict[str, str]
) -> None:
    options: list[str] = []
    for name, value in filters.items():
        options += [f"--{name.replace('_', '-')}", value]

    from_api = api(served, token, "/api/runs", **filters)
    from_cli = cli(served, "list", *options)

    assert from_cli == from_api + b"\n"
    page = json.loads(from_api)
    assert page["runs"], "the filters match some runs"
    if "limit" in filters:
        assert page["next_cursor"], "more runs than one page"
        following = {**filters, "cursor": page["next_cursor"]}
        assert cli(served, "list", *options, "--cursor", page["next_cursor"]) == (
            api(served, token, "/api/runs", **following) + b"\n"
        )
