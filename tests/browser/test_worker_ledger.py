"""The pages over a ledger real workers filled (tests/browser/sites.py: worker_site),
served by a real `runledger web`: a badge per kind of run, the stale run's reconcile
time, a reconciled run explained first, hostile text shown as text, and live refresh."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.browser.checks import (
    BADGES,
    assert_badge,
    assert_distinct,
    assert_explained_first,
    assert_inert,
    assert_stale_note,
)
from tests.browser.conftest import OpenPage
from tests.browser.jobs import CRAWL_PROGRESS
from tests.browser.sites import Site
from tests.web.server import STORIES, XSS_WORKSPACE
from tests.web_jobs import XSS

# story -> (badge kind, its second line): every kind, each made by a real process.
STORY_BADGES: dict[str, tuple[str, str | re.Pattern[str] | None]] = {
    "queued": ("queued", "waiting for a worker"),
    "running": ("running", f"attempt 1 of 1 · {CRAWL_PROGRESS['done']}/{CRAWL_PROGRESS['total']}"),
    "stale": ("stale", re.compile(r"^no activity for .+ — will be reconciled at ")),
    "succeeded": ("succeeded", None),
    "partial": ("partially_succeeded", None),
    "failed": ("failed_by_job", "reported a failure"),
    "exception": ("failed_by_job", "raised an exception"),
    "timeout": ("failed_by_queue", "timeout"),
    "retries_exhausted": ("failed_by_queue", "retries exhausted"),
    "function_missing": ("failed_by_queue", "function missing"),
    "job_lost": ("failed_by_reconciler", "job lost"),
}
XSS_PARAM = STORIES["xss"][2]["label"]


def _row(page: Page, site: Site, story: str) -> Any:
    return page.locator(f'tr[data-testid=run-row][data-run-id="{site.runs[story]}"]')


def test_each_kind_of_run_shows_its_own_badge(worker: Site, open_page: OpenPage) -> None:
    page = open_page(worker)
    page.goto("/operations")
    looks: dict[str, dict[str, Any]] = {}
    for story, (kind, note) in STORY_BADGES.items():
        row = _row(page, worker, story)
        expect(row).to_have_attribute("data-badge", kind)
        looks[kind] = assert_badge(row.locator("[data-testid=run-state]"), kind, note)
    assert set(looks) == set(BADGES)
    assert_distinct(looks)
    progress = _row(page, worker, "running").locator("progress")
    assert progress.evaluate("(bar) => [bar.value, bar.max]") == [
        CRAWL_PROGRESS["done"],
        CRAWL_PROGRESS["total"],
    ]
    # The run's own page leads with the same badge.
    page.goto(f"/operations/{worker.runs['timeout']}")
    assert_badge(page.locator("#explanation [data-testid=run-state]"), "failed_by_queue", "timeout")


def test_a_stale_run_says_when_it_will_be_reconciled(worker: Site, open_page: OpenPage) -> None:
    page = open_page(worker)
    page.goto("/operations?freshness=stale")
    rows = page.locator("tr[data-testid=run-row]")
    expect(rows).to_have_count(1)
    assert_stale_note(_row(page, worker, "stale").locator("[data-testid=run-state]"))
    page.goto(f"/operations/{worker.runs['stale']}")
    assert_stale_note(page.locator("#explanation [data-testid=run-state]"))
    expect(page.locator("#headline")).to_have_text(re.compile(r"^Stale: no worker has started it"))


def test_the_page_of_a_reconciled_run_explains_it_first(worker: Site, open_page: OpenPage) -> None:
    for size in ("desktop", "phone"):
        page = open_page(worker, size=size)
        page.goto(f"/operations/{worker.runs['job_lost']}")
        assert_explained_first(
            page, "Failed: arq lost track of the job, so the reconciler closed it."
        )


def test_hostile_text_shows_as_text(worker: Site, open_page: OpenPage) -> None:
    """A workspace name, a parameter and a failure message holding markup and script."""
    page = open_page(worker)
    xss, exploded = worker.runs["xss"], worker.runs["exception"]

    page.goto("/operations")
    workspace = _row(page, worker, "xss").locator(".meta")
    expect(workspace).to_have_text(XSS_WORKSPACE)
    workspace.hover()  # the payload's onmouseover, were it markup
    assert_inert(page)

    page.goto(f"/operations/{xss}")
    expect(page.locator(".facts .pairs code").nth(1)).to_have_text(XSS_PARAM)
    expect(page.locator(".crumbs")).to_contain_text(XSS_WORKSPACE)
    expect(page.locator("#timeline")).to_contain_text(XSS_PARAM)
    page.locator(".crumbs").get_by_text(XSS_WORKSPACE).hover()
    assert_inert(page)

    page.goto(f"/operations/{exploded}")
    page.click("#diagnostics > summary")
    error = page.locator("#diagnostics [data-key=error] dd")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"boom {XSS}")
    assert_inert(page)

    # The workspace as a filter: in the form, the chips' links and the audit log.
    for path in ("/operations", "/audit"):
        page.goto(path)
        page.click("#filters > summary")
        page.fill("#f-workspace", XSS_WORKSPACE)
        page.click("[data-testid=filter-form] button[type=submit]")
        expect(page.locator("#f-workspace")).to_have_value(XSS_WORKSPACE)
        expect(page.locator("main").get_by_text(XSS_WORKSPACE).first).to_be_visible()
        assert_inert(page)
    page.locator("[data-testid=audit-entry-link]").first.click()
    expect(page.locator("#audit-panel #audit-entry")).to_contain_text(XSS_WORKSPACE)
    assert_inert(page)

    # A bad filter echoing markup back in its message.
    page.goto(f"/operations?queued_after={XSS_PARAM}")
    expect(page.locator("[data-testid=filter-error]")).to_be_visible()
    expect(page.locator("#f-queued_after")).to_have_value(XSS_PARAM)
    assert_inert(page)
    assert open_page.watched(page).dialogs == []


# ----------------------------------------------------------------------------- live refresh

_VISIBILITY = """(() => {
  let hidden = false;
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(document, 'visibilityState',
                        { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
  };
})();"""
REFRESH_INTERVAL = 5.0  # web/static/live.js


def test_live_refresh_brings_in_a_run_queued_after_the_page_loaded(
    worker: Site, open_page: OpenPage
) -> None:
    page = open_page(worker)
    page.goto("/operations")
    status = page.locator("[data-testid=live-status]")
    expect(status).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")
    page.click("#filters > summary")
    page.fill("#f-operation_type", "half-typed")  # not submitted

    run_id = worker.enqueue("web.wait", "acme")  # the real RunClient; no worker takes it
    worker.project()  # the real projector

    row = page.locator(f'tr[data-testid=run-row][data-run-id="{run_id}"]')
    expect(row).to_be_visible(timeout=int(REFRESH_INTERVAL * 1000 * 3))
    expect(row).to_have_attribute("data-badge", "queued")
    expect(page.locator("tr[data-testid=run-row]").first).to_have_attribute(
        "data-run-id", str(run_id)
    )
    expect(row).to_have_class(re.compile(r"\bis-new\b"))
    expect(page.locator("[data-live-announce]")).to_have_text("1 new run")
    expect(status).to_contain_text(re.compile(r"Live · updated \d\d:\d\d:\d\d"))
    # In place: the same document, the filter box still open with what was typed.
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#filters")).to_have_attribute("open", "")
    expect(page.locator("#f-operation_type")).to_have_value("half-typed")


def test_live_refresh_sends_no_request_while_the_tab_is_hidden(
    worker: Site, open_page: OpenPage
) -> None:
    page = open_page(worker)
    page.add_init_script(_VISIBILITY)
    sent: list[tuple[float, str]] = []
    page.on("request", lambda request: sent.append((time.monotonic(), request.url)))
    page.goto("/operations")
    status = page.locator("[data-testid=live-status]")
    expect(status).to_have_attribute("data-state", "live")
    page.wait_for_load_state("networkidle")

    page.evaluate("window.__setHidden(true)")
    hidden_at = time.monotonic()
    expect(status).to_have_attribute("data-state", "hidden")
    page.wait_for_timeout(REFRESH_INTERVAL * 1000 * 1.2)  # longer than the interval
    while_hidden = [url for at, url in sent if at >= hidden_at]
    assert while_hidden == [], while_hidden

    # Back on the tab it refreshes at once (so the counting above would have seen one).
    with page.expect_request(re.compile(r"/operations/live"), timeout=2000):
        page.evaluate("window.__setHidden(false)")
    expect(status).to_have_attribute("data-state", "live")


def test_pausing_holds_the_page_even_when_a_refresh_is_in_flight(
    worker: Site, open_page: OpenPage
) -> None:
    """Pause pressed while a refresh waits for its answer: the answer changes nothing,
    not even the indicator, which keeps saying "Paused"; Resume refreshes at once."""
    page = open_page(worker)
    page.add_init_script(_VISIBILITY)
    page.goto("/operations")
    status = page.locator("[data-testid=live-status]")
    expect(status).to_have_attribute("data-state", "live")
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r"/operations/live"), hold)
    page.evaluate("window.__setHidden(true); window.__setHidden(false)")  # refresh now
    expect(status).to_have_attribute("data-state", "loading")
    page.locator("[data-live-toggle]").click()
    expect(status).to_have_attribute("data-state", "paused")
    page.evaluate("document.querySelector('#live-region > *').dataset.before = 'yes'")
    assert len(held) == 1

    with page.expect_response(re.compile(r"/operations/live")):
        held[0].continue_()
    page.wait_for_timeout(500)  # the page's own handlers of that answer (a 304 or a 200)
    expect(status).to_have_attribute("data-state", "paused")
    expect(status.locator("[data-live-text]")).to_have_text("Paused")
    expect(page.locator("#live-region > *").first).to_have_attribute("data-before", "yes")

    page.unroute(re.compile(r"/operations/live"))
    with page.expect_request(re.compile(r"/operations/live"), timeout=2000):
        page.locator("[data-live-toggle]").click()  # Resume
    expect(status).to_have_attribute("data-state", "live")
