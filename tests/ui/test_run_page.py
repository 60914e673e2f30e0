"""/operations/{run_id}: the explanation first, then the timeline, then the diagnostics;
the same 404 for a malformed, an unknown and another workspace's run; 403 named."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from projections import Scope
from projections.document import run_document
from tests.ui.conftest import Site
from tests.ui.html import parse

EVERYTHING = Scope.every_workspace()


def _document(site: Site, role: str) -> dict[str, object]:
    found = run_document(site.view, EVERYTHING, site.runs[role], site.clock())
    assert found is not None
    return found


@pytest.mark.parametrize("role", ["orphaned", "lost", "stale", "timeout", "partial", "queued"])
def test_the_page_explains_the_run_before_anything_else(
    site: Site, browser: TestClient, role: str
) -> None:
    html = browser.get(f"/operations/{site.runs[role]}").text
    page = parse(html)
    main = page.one("main")
    first = next(e for e in main.walk() if e.tag == "section")
    assert first.get("data-testid") == "explanation"
    explanation = _document(site, role)["explanation"]
    assert isinstance(explanation, dict)
    assert first.one("h1").text == explanation["headline"]
    assert [li.text for li in first.all("li")] == explanation["details"]
    order = [html.index(f'data-testid="{part}"') for part in ("explanation", "timeline")]
    order.append(html.index('id="diagnostics"'))
    assert order == sorted(order)


def test_a_reconciled_run_says_how_the_reconciler_found_it(site: Site, browser: TestClient) -> None:
    page = parse(browser.get(f"/operations/{site.runs['orphaned']}").text)
    explanation = page.one(data_testid="explanation")
    assert explanation.one(data_testid="run-state").get("data-badge") == "failed_by_reconciler"
    assert "the reconciler closed it" in explanation.one("h1").text
    details = explanation.one("ul").text
    assert "the threshold is 5 min" in details and "arq still had it queued" in details


def test_the_timeline_shows_every_event_with_actor_attempt_and_time_since_the_last(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get(f"/operations/{site.runs['running']}").text)
    steps = page.one(data_testid="timeline").all("li", data_testid="timeline-step")
    assert [s.get("data-event") for s in steps] == ["queued", "started", "heartbeats"]
    folded = steps[2]
    assert "4 heartbeats" in folded.text and "last progress 80/100" in folded.text
    assert "worker:web-1:4121" in folded.text and "attempt 1" in folded.text
    assert steps[1].one(class_="step__since").text == "+6 s"
    assert not steps[0].all(class_="step__since"), "nothing comes before the first event"


def test_the_diagnostics_are_collapsed_and_hold_the_raw_evidence(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get(f"/operations/{site.runs['failed_job']}").text)
    diagnostics = page.one("details", id="diagnostics")
    assert "open" not in diagnostics.attrs
    rows = {row.get("data-key"): row for row in diagnostics.all(class_=True) if row.get("data-key")}
    assert rows["job_id"].text.endswith(str(site.runs["failed_job"]))
    assert rows["worker_id"].text.endswith("worker:web-1:4121")
    assert "stripe.error.CardError: card_declined" in rows["error"].one("pre").text
    payloads = diagnostics.all("pre", data_testid="payload")
    assert len(payloads) == 3 and '"worker_id": "worker:web-1:4121"' in payloads[1].text


def test_timeline_pages_follow_a_cursor(site: Site, browser: TestClient) -> None:
    page = parse(browser.get(f"/operations/{site.runs['retries']}?cursor=").text)
    assert page.one(data_testid="timeline").all("li", data_testid="timeline-step")
    bad = browser.get(f"/operations/{site.runs['retries']}?cursor=forged")
    assert bad.status_code == 400
    assert parse(bad.text).one(data_testid="filter-error").one("li").get("data-parameter") == (
        "cursor"
    )


def test_a_malformed_an_unknown_and_another_workspaces_run_are_the_same_404(
    site: Site,
) -> None:
    client = site.browser(["acme"])
    foreign = site.runs["lost"]  # in beta
    answers = [
        client.get(path)
        for path in (
            f"/operations/{foreign}",
            "/operations/00000000-0000-4000-8000-000000000000",
            "/operations/not-a-run-id",
        )
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].text == answers[1].text == answers[2].text
    page = parse(answers[0].text)
    assert page.one(data_testid="error-page").get("data-status") == "404"
    assert "No run with this id in your workspaces." in page.text
    assert client.get(f"/operations/{site.runs['queued']}").status_code == 200


def test_a_token_without_runs_read_gets_a_403_naming_it(site: Site) -> None:
    client = site.client()
    from tests.ui.conftest import login

    login(client, site.token(["*"], ["audit:read"]))
    for path in ("/operations", f"/operations/{site.runs['queued']}", "/operations/live"):
        response = client.get(path)
        assert response.status_code == 403, path
        page = parse(response.text)
        assert page.one(data_testid="error-page").get("data-capability") == "runs:read"
        assert "runs:read" in page.one(data_testid="error-message").text
    assert client.get("/audit").status_code == 200
