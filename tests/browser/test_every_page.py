"""Every page, in light and dark mode, on a laptop (1280x800) and a phone (375x812), over
tests/ui/scenery.py's ledger served by a real `runledger web`: axe-core finds no serious
or critical violation, nothing scrolls sideways at phone width, and each view is kept
as a screenshot in the test artifacts ($RUNLEDGER_TEST_ARTIFACTS, default
tests/browser/artifacts/): PAGE-SIZE-SCHEME.png."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.base import AxeResults
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.checks import assert_no_horizontal_scroll
from tests.browser.conftest import AXE_FINDINGS, SCHEMES, OpenPage
from tests.browser.sites import Site

BLOCKING = ("serious", "critical")
UNKNOWN_RUN = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class View:
    name: str
    path: Callable[[Site], str]
    status: int = 200
    logged_in: bool = True
    full: bool = False  # photograph the whole page, not just the first screen
    diagnostics: bool = False  # open a run page's diagnostics
    panel: bool = False  # open the first entry in the slide-over
    axe: bool = True  # False: a variant whose content another view already puts to axe


def _run(role: str) -> Callable[[Site], str]:
    return lambda site: f"/operations/{site.runs[role]}"


VIEWS = [
    View("login", lambda site: "/login", logged_in=False),
    View("operations", lambda site: "/operations"),
    View("operations-filtered", lambda site: "/operations?outcome=failed&workspace=acme"),
    View(
        "operations-bad-filter",
        lambda site: "/operations?queued_after=yesterday&workspace=acme",
        status=400,
    ),
    View("run-reconciled", _run("orphaned"), full=True, diagnostics=True),
    View("run-stale", _run("stale"), full=True),
    # A traceback and hostile text in the diagnostics: long lines for the phone layout.
    View("run-failed", _run("failed_job"), full=True, diagnostics=True, axe=False),
    View("run-hostile", _run("hostile"), full=True, diagnostics=True, axe=False),
    View("audit", lambda site: "/audit"),
    View("audit-entry", lambda site: f"/audit/{site.extra['entry']}", full=True),
    View("audit-panel", lambda site: f"/audit?run_id={site.runs['lost']}", panel=True),
    View("not-found", lambda site: f"/operations/{UNKNOWN_RUN}", status=404),
]
AXE_VIEWS = [view for view in VIEWS if view.axe]


@pytest.fixture(scope="module")
def site(scenery: Site) -> Site:
    """The scenery, with an audit entry's position (of the orphaned run, from the API)."""
    found = httpx.get(
        f"{scenery.url}/api/audit",
        params={"run_id": str(scenery.runs["orphaned"]), "limit": "1"},
        headers={"Authorization": f"Bearer {scenery.token}"},
        timeout=10,
    )
    assert found.status_code == 200, found.text
    scenery.extra["entry"] = found.json()["entries"][0]["position"]
    return scenery


def visit(open_page: OpenPage, site: Site, view: View, size: str, scheme: str) -> Page:
    """A page of its own at `size` in `scheme`, on the view, checked for its status."""
    page = open_page(site, size=size, scheme=scheme, logged_in=view.logged_in)
    response = page.goto(view.path(site))
    assert response is not None and response.status == view.status, view
    if view.diagnostics:
        page.locator("#diagnostics > summary").click()
        expect(page.locator("#diagnostics")).to_have_attribute("open", "")
    if view.panel:
        page.locator("a[data-testid=audit-entry-link]").first.click()
        expect(page.locator("#audit-panel #audit-entry")).to_be_visible()
    return page


SETTLED = """() => document.getAnimations().every(
  (a) => a.playState !== 'running' || a.effect.getTiming().iterations === Infinity)"""


def show_in(page: Page, scheme: str) -> None:
    """Switches the page's colour scheme (`prefers-color-scheme`) and checks it took."""
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert dark == (scheme == "dark")
    # Let transitions and the panel's slide-in finish before anything looks at colours.
    page.wait_for_function(SETTLED)


def hold_still(page: Page) -> None:
    """Pauses live refresh (its own Pause button), so no refresh replaces the rows while
    axe reads them."""
    toggle = page.locator("[data-live-toggle]")
    if toggle.count():
        toggle.click()
        expect(page.locator("[data-testid=live-status]")).to_have_attribute("data-state", "paused")


def photograph(page: Page, view: View, size: str, scheme: str, artifacts: Path) -> None:
    path = artifacts / f"{view.name}-{size}-{scheme}.png"
    page.screenshot(path=str(path), full_page=view.full, animations="disabled")


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_the_phone_layout_has_no_horizontal_scroll(
    site: Site, open_page: OpenPage, artifacts: Path, view: View
) -> None:
    page = visit(open_page, site, view, "phone", "light")
    for scheme in SCHEMES:
        show_in(page, scheme)
        photograph(page, view, "phone", scheme, artifacts)
        assert_no_horizontal_scroll(page)


AXE_OPTIONS = {"resultTypes": ["violations", "incomplete"]}


@pytest.mark.parametrize("view", AXE_VIEWS, ids=lambda view: view.name)
def test_axe_finds_no_serious_or_critical_violation(
    site: Site, open_page: OpenPage, artifacts: Path, view: View
) -> None:
    """Every rule of axe-core, in light and in dark mode (one page each, checked at the
    same time: each context has a renderer process of its own)."""
    pages = {scheme: visit(open_page, site, view, "desktop", scheme) for scheme in SCHEMES}
    axe = Axe()
    for scheme, page in pages.items():
        show_in(page, scheme)
        photograph(page, view, "desktop", scheme, artifacts)
        hold_still(page)
        page.evaluate(axe.axe_script)
        page.evaluate(f"() => {{ window.__axe = axe.run(document, {json.dumps(AXE_OPTIONS)}); }}")
    reports = []
    for scheme, page in pages.items():
        results = AxeResults(page.evaluate("window.__axe"))
        found = results.response
        ran = {
            rule["id"] for kind in ("passes", "violations", "incomplete") for rule in found[kind]
        }
        assert "color-contrast" in ran, ran  # axe looked at the colours of this scheme
        violations = found["violations"]
        AXE_FINDINGS[(view.name, "desktop", scheme)] = {
            "violations": violations,
            "incomplete": found["incomplete"],
        }
        counts = {impact: 0 for impact in ("minor", "moderate", *BLOCKING)}
        for violation in violations:
            counts[violation["impact"]] += len(violation["nodes"])
        print(f"axe {view.name} ({scheme}): {counts}")
        if any(v["impact"] in BLOCKING for v in violations):
            reports.append(f"{scheme} mode: {results.generate_report()}")
    assert not reports, "\n".join(reports)
