"""The pages over tests/ui/scenery.py's ledger (every kind of run at realistic times, runs
that went stale minutes ago, a day of history), served by a real `runledger web`:
logging in, the badges, stale runs, a reconciled run's page and the audit slide-over."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.checks import (
    BADGES,
    assert_badge,
    assert_distinct,
    assert_explained_first,
    assert_inert,
    assert_stale_note,
)
from tests.browser.conftest import OpenPage
from tests.browser.sites import Site
from tests.ui.scenery import XSS_ERROR, XSS_PARAM, XSS_WORKSPACE

# scenery role -> (badge kind, its second line)
ROLE_BADGES: dict[str, tuple[str, str | re.Pattern[str] | None]] = {
    "queued": ("queued", "waiting for a worker"),
    "running": ("running", "attempt 1 of 3 · 80/100"),
    "stale": ("stale", re.compile(r"^no activity for 1[4-7] min — will be reconciled at ")),
    "stale_queued": ("stale", re.compile(r"^no activity for 1[6-9] min — will be reconciled at ")),
    "succeeded": ("succeeded", "on attempt 2"),
    "partial": ("partially_succeeded", None),
    "failed_job": ("failed_by_job", "raised an exception"),
    "timeout": ("failed_by_queue", "timeout"),
    "retries": ("failed_by_queue", "retries exhausted"),
    "orphaned": ("failed_by_reconciler", "orphaned"),
    "lost": ("failed_by_reconciler", "job lost"),
}
IN_PANEL = "() => document.getElementById('audit-panel').contains(document.activeElement)"


def test_logging_in_through_the_form_leads_back_to_the_page_asked_for(
    scenery: Site, open_page: OpenPage
) -> None:
    page = open_page(scenery, logged_in=False)
    asked = f"/operations/{scenery.runs['stale']}"
    page.goto(asked)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.locator("#token")).to_be_focused()
    page.fill("#token", "rlt_not_a_token")
    page.click("[data-testid=login-form] button[type=submit]")
    expect(page.locator("[data-testid=login-error]")).to_contain_text("That token is not valid")
    page.fill("#token", scenery.token)
    page.click("[data-testid=login-form] button[type=submit]")
    expect(page).to_have_url(f"{scenery.url}{asked}")
    expect(page.locator("[data-testid=operator]")).to_have_text("dana")


def test_each_kind_of_run_shows_its_own_badge(scenery: Site, open_page: OpenPage) -> None:
    page = open_page(scenery)
    page.goto("/operations")
    looks: dict[str, dict[str, Any]] = {}
    for role, (kind, note) in ROLE_BADGES.items():
        row = page.locator(f'tr[data-testid=run-row][data-run-id="{scenery.runs[role]}"]')
        looks[kind] = assert_badge(row.locator("[data-testid=run-state]"), kind, note)
    assert set(looks) == set(BADGES)
    assert_distinct(looks)
    # The chips use the same words and icons, with exact counts.
    for kind, (words, icon) in BADGES.items():
        chip = page.locator(f"[data-testid=chips] a[data-chip={kind}]")
        expect(chip.locator(".chip__label")).to_have_text("Stale now" if kind == "stale" else words)
        expect(chip.locator("use")).to_have_attribute("href", f"#{icon}")
    expect(page.locator("a[data-chip=stale] .chip__count")).to_have_text("2")


def test_a_stale_run_says_when_it_will_be_reconciled(scenery: Site, open_page: OpenPage) -> None:
    page = open_page(scenery)
    page.goto("/operations")
    page.locator("a[data-chip=stale]").click()
    expect(page).to_have_url(re.compile(r"freshness=stale"))
    rows = page.locator("tr[data-testid=run-row]")
    expect(rows).to_have_count(2)
    for n in range(2):
        assert_stale_note(rows.nth(n).locator("[data-testid=run-state]"))

    page.goto(f"/operations/{scenery.runs['stale']}")
    assert_stale_note(page.locator("#explanation [data-testid=run-state]"))
    expect(page.locator("#headline")).to_have_text(
        re.compile(r"^Stale: attempt 1 of 3 has shown no sign of life for 1[4-7] min( \d+ s)?\.$")
    )
    expect(page.locator("[data-testid=explanation-details]")).to_contain_text("reconcile")


def test_the_page_of_a_reconciled_run_explains_it_first(scenery: Site, open_page: OpenPage) -> None:
    headlines = {
        "orphaned": "Failed on attempt 1 of 3: the run stopped showing signs of life, "
        "so the reconciler closed it.",
        "lost": "Failed: arq lost track of the job, so the reconciler closed it.",
    }
    for size in ("desktop", "phone"):
        page = open_page(scenery, size=size)
        for role, headline in headlines.items():
            page.goto(f"/operations/{scenery.runs[role]}")
            assert_explained_first(page, headline)
            details = page.locator("[data-testid=explanation-details] li")
            expect(details.first).to_be_visible()
    # The diagnostics open on demand, below everything else.
    page.locator("#diagnostics > summary").click()
    expect(page.locator("#diagnostics [data-key=arq_job_state]")).to_be_visible()


def test_hostile_text_shows_as_text(scenery: Site, open_page: OpenPage) -> None:
    """The scenery's workspace, parameter and failure text hold an <img onerror> and
    <script>: on the index, the run's page and its diagnostics they read as text."""
    page = open_page(scenery)
    hostile = scenery.runs["hostile"]
    page.goto("/operations")
    row = page.locator(f'tr[data-testid=run-row][data-run-id="{hostile}"]')
    expect(row.locator(".meta")).to_have_text(XSS_WORKSPACE)
    assert_inert(page)
    page.goto(f"/operations/{hostile}")
    page.locator("#diagnostics > summary").click()
    expect(page.locator(".facts .pairs")).to_contain_text(XSS_PARAM)
    expect(page.locator("#diagnostics [data-key=error] dd")).to_have_text(XSS_ERROR)
    expect(page.locator(".crumbs")).to_contain_text(XSS_WORKSPACE)
    assert_inert(page)
    assert open_page.watched(page).dialogs == []


def _entry_link(page: Page) -> tuple[Any, str, str]:
    link = page.locator("a[data-testid=audit-entry-link]").first
    href = link.get_attribute("href") or ""
    assert re.fullmatch(r"/audit/\d+", href), href
    return link, href, link.inner_text()


def test_the_audit_slide_over(scenery: Site, open_page: OpenPage) -> None:
    """Opens from an entry, takes focus, keeps Tab inside, closes with Esc and gives focus
    back to the entry; its URL is /audit/{position}, which opened directly is the entry."""
    page = open_page(scenery)
    run_id = scenery.runs["orphaned"]
    page.goto(f"/audit?run_id={run_id}")
    link, href, title = _entry_link(page)
    panel = page.locator("dialog#audit-panel")
    expect(panel).to_be_hidden()

    link.focus()
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(page).to_have_url(f"{scenery.url}{href}")
    expect(page.get_by_role("dialog", name=title)).to_be_visible()
    expect(panel.locator("#audit-entry")).to_have_attribute("data-position", href.split("/")[-1])
    expect(panel.locator("#entry-title")).to_be_focused()
    expect(panel.locator("[data-testid=entry-run-link]")).to_have_attribute(
        "href", f"/operations/{run_id}"
    )

    # Tab and Shift+Tab cycle through the panel's controls and never leave it.
    reached: set[str] = set()
    for key in ["Tab"] * 12 + ["Shift+Tab"] * 12:
        page.keyboard.press(key)
        assert page.evaluate(IN_PANEL), f"{key} left the panel"
        reached.add(page.evaluate("document.activeElement.outerHTML.slice(0, 80)"))
    assert len(reached) >= 4, reached  # the close button, the run link, the details, ...

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(link).to_be_focused()
    expect(page).to_have_url(f"{scenery.url}/audit?run_id={run_id}")

    # The mouse and the Close button do the same.
    link.click()
    expect(panel).to_be_visible()
    panel.locator("[data-panel-close]").click()
    expect(panel).to_be_hidden()
    expect(link).to_be_focused()

    # The panel's URL, opened directly, is the entry as a page of its own.
    direct = open_page(scenery)
    direct.goto(href)
    expect(direct.locator("body")).to_have_attribute("data-page", "audit-entry")
    expect(direct.locator("main #audit-entry")).to_be_visible()
    expect(direct.locator("main #entry-title")).to_have_text(title)
    expect(direct.locator("dialog#audit-panel")).to_have_count(0)
    expect(direct.locator("[data-testid=entry-run-link]")).to_have_attribute(
        "href", f"/operations/{run_id}"
    )
