"""Every story the fixture's worker told reaches the API with its contract ending."""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import Served

EXPECTED = {
    "succeeded": ("completed", "succeeded", "job", "job.succeeded"),
    "partial": ("completed", "partially_succeeded", "job", "job.partially_succeeded"),
    "failed": ("completed", "failed", "job", "job.failed"),
    "exception": ("completed", "failed", "job", "job.exception"),
    "timeout": ("completed", "failed", "queue", "queue.timeout"),
    "retries_exhausted": ("completed", "failed", "queue", "queue.max_tries_exceeded"),
    "heartbeats": ("completed", "succeeded", "job", "job.succeeded"),
    "function_missing": ("completed", "failed", "queue", "queue.function_missing"),
    "job_lost": ("completed", "failed", "reconciler", "reconciler.job_lost"),
    "queued": ("queued", None, None, None),
}


@pytest.mark.parametrize("story", sorted(EXPECTED))
def test_each_story_reads_back_with_its_ending_and_an_explanation(
    served: Served, story: str
) -> None:
    token = served.token(["*"])
    run_id = served.filled.runs[story]
    response = httpx.get(
        f"{served.url}/api/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["status"], run["outcome"], run["ended_by"], run["reason_code"]) == EXPECTED[story]
    assert run["explanation"]["headline"]
    assert run["timeline"][0]["event"] == "queued"
    assert run["explanation"]["diagnostics"]["job_id"] == str(run_id)
