"""`runledger demo --check`: every story ends as documented, and the JSON API, with the
demo's own token, tells each one with an explanation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from runledger.demo.stories import STORIES
from tests.e2e.cli import spawn, wait_for
from tests.web.server import WebServer, free_port

pytestmark = pytest.mark.timeout(240)


def test_the_demo_tells_every_story_and_the_api_explains_each(tmp_path: Path) -> None:
    directory, report_path, port = tmp_path / "demo", tmp_path / "report.json", free_port()
    started = time.monotonic()
    demo = spawn("demo", "--check", "--dir", str(directory), "--report", str(report_path),
                 "--port", str(port))  # fmt: skip
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 20, "the demo's dashboard")
        up_after = time.monotonic() - started
        out, err = demo.communicate(timeout=200)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    print(f"the demo's dashboard answered {up_after:.1f} s after `runledger demo` started")
    assert demo.returncode == 0, out[-3000:] + err[-3000:]
    assert "every story told" in out
    assert not _answers(f"http://127.0.0.1:{port}/healthz")  # it stopped what it started

    report = json.loads(report_path.read_text())
    server = WebServer({"RUNLEDGER_DATABASE_URL": report["database_url"]}).start()
    try:
        headers = {"Authorization": f"Bearer {report['token']}"}
        for story in STORIES:
            run = httpx.get(
                f"{server.url}/api/runs/{report['runs'][story.key]}", headers=headers
            ).json()
            ending = (run["status"], run["outcome"], run["ended_by"], run["reason_code"])
            if story.key in ("stale", "running"):
                # Seen so while the demo ran (told); the demo's stop moved them on since.
                assert story.key in report["told"], story.key
                continue
            assert ending == story.ending, story.key
            assert run["explanation"]["headline"], story.key
            assert story.told(run), story.key
        assert "will be reconciled" in " ".join(report["details"]["stale"])
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_queue_only_queues_each_job_told_story_once_and_only_for_the_demos_jobs(
    migrated_url: str, redis_server: str, queue_name: str
) -> None:
    from tests.e2e.cli import runledger

    env = {"RUNLEDGER_DATABASE_URL": migrated_url, "RUNLEDGER_REDIS_URL": redis_server,
           "RUNLEDGER_QUEUE_NAME": queue_name, "RUNLEDGER_JOBS": "runledger.demo.jobs"}  # fmt: skip
    first = runledger("demo", "--queue-only", **env)
    again = runledger("demo", "--queue-only", **env)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    ids = [
        line.rsplit(" ", 1)[1] for line in first.stdout.splitlines() if line.startswith("queued")
    ]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert again.stdout == first.stdout  # the same runs: idempotency keys
    other = runledger("demo", "--queue-only", **{**env, "RUNLEDGER_JOBS": "myapp.jobs"})
    assert other.returncode == 0 and "no demo runs to queue" in other.stdout
