"""Fixtures of the browser tests: one headless Chromium per session (Debian's, driven by
Playwright), a context per test, and real `runledger web` servers: over the ledger real
workers filled (one per module using it: its tests add runs) and over the scenery (one
for the session: nothing changes it).

Chromium is required, never optional: without /usr/bin/chromium (or the browser
$RUNLEDGER_TEST_CHROMIUM names) every test here fails saying to run scripts/browser.
Each page a test opens is watched: a JavaScript dialog, an uncaught script error, a
console error (a CSP refusal among them), a failed asset or a request to another origin
fails the test. Screenshots go to $RUNLEDGER_TEST_ARTIFACTS (default
tests/browser/artifacts/, git-ignored); a failing test leaves one of each page it had
open under failures/. The axe findings are summed up at the end of the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.browser.sites import Site, scenery_site, worker_site
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, SIZES

ROOT = Path(__file__).resolve().parents[2]
SCHEMES = ("light", "dark")
TIMEOUT_MS = 10_000

# (page, size, scheme) -> {"violations": [...], "incomplete": [...]} (axe's results, each
# {id, impact, nodes}): filled by the axe test, summed up at the end of the run.
AXE_FINDINGS: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}


def artifacts_dir() -> Path:
    given = os.environ.get("RUNLEDGER_TEST_ARTIFACTS")
    folder = Path(given) if given else ROOT / "tests" / "browser" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return artifacts_dir()


# Package-scoped, not session-scoped: while Playwright's sync API is started, its event
# loop counts as running in this thread, so every later test that starts a loop of its
# own (asyncio.run, pytest-asyncio) would fail. Stopping it after tests/browser ends that.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's chromium. "
            "Run scripts/browser (scripts/test does) to install it.",
            pytrace=False,
        )
    try:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except PlaywrightError as error:
        pytest.fail(
            f"Chromium at {CHROMIUM} did not start ({error}); run scripts/browser",
            pytrace=False,
        )
    yield launched
    launched.close()


# ----------------------------------------------------------------------------- sites


@pytest.fixture(scope="module")
def worker(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Site]:
    """A real `runledger web` over a PostgreSQL ledger filled by real workers."""
    request.getfixturevalue("postgres_server")
    request.getfixturevalue("redis_server")
    with worker_site() as site:
        site.state = log_in(browser, site)
        yield site


@pytest.fixture(scope="package")
def scenery(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Site]:
    """A real `runledger web` over a SQLite ledger holding tests/ui/scenery.py. No test
    changes it, so the modules looking at it share one."""
    with scenery_site(tmp_path_factory.mktemp("scenery")) as site:
        site.state = log_in(browser, site)
        yield site


def log_in(browser: Browser, site: Site) -> dict[str, Any]:
    """Logs in through the real form with the site's token; returns the browser's
    storage (the signed session cookie), which every test's context starts from."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login")
        page.fill("#token", site.token)
        page.click("[data-testid=login-form] button[type=submit]")
        page.wait_for_url(f"{site.url}/operations", timeout=TIMEOUT_MS)
        return context.storage_state()  # type: ignore[return-value]
    finally:
        context.close()


# ----------------------------------------------------------------------------- pages


@dataclass
class Watched:
    """What went wrong on the pages of one test, beyond what it asserts."""

    origin: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: Any) -> None:
            # A page answering 400/404 on purpose logs "Failed to load resource": the
            # responses are checked below instead, where the document can be told apart.
            if message.type == "error" and not message.text.startswith("Failed to load"):
                self.errors.append(f"console: {message.text}")

        def on_response(response: Any) -> None:
            if response.status >= 400 and response.request.resource_type != "document":
                self.errors.append(f"{response.status} for {response.url}")

        def on_request(request: Any) -> None:
            parts = urlsplit(request.url)
            if parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" != (
                self.origin
            ):
                self.foreign.append(request.url)

        def on_failed(request: Any) -> None:
            if request.failure != "net::ERR_ABORTED":  # a fetch cut short by leaving the page
                self.errors.append(f"request failed ({request.failure}): {request.url}")

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", on_console)
        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)

    def problems(self) -> list[str]:
        return (
            [f"a JavaScript dialog fired ({d})" for d in self.dialogs]
            + self.errors
            + [f"a request left the site: {url}" for url in self.foreign]
        )


class OpenPage:
    """`open_page(site, size="desktop", scheme="light", logged_in=True)`: a page in a
    browser context of its own, watched (see Watched); `open_page.watched(page)` is what
    was seen on it so far. Contexts are closed when the test ends."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.opened: list[tuple[BrowserContext, Page, Watched]] = []

    def __call__(
        self, site: Site, size: str = "desktop", scheme: str = "light", logged_in: bool = True
    ) -> Page:
        width, height = SIZES[size]
        context = self.browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme=scheme,  # type: ignore[arg-type]
            device_scale_factor=1,
            storage_state=site.state if logged_in else None,  # type: ignore[arg-type]
            base_url=site.url,
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        watched = Watched(site.url)
        watched.watch(page)
        self.opened.append((context, page, watched))
        return page

    def watched(self, page: Page) -> Watched:
        return next(seen for _, opened, seen in self.opened if opened is page)

    def close(self, failed_as: str | None, artifacts: Path) -> list[str]:
        """Closes every context; when the test failed, photographs its pages first.
        Returns the problems seen."""
        try:
            if failed_as is not None:
                folder = artifacts / "failures"
                folder.mkdir(exist_ok=True)
                name = re.sub(r"[^\w.-]+", "_", failed_as)
                for n, (_, page, _) in enumerate(self.opened):
                    with contextlib.suppress(PlaywrightError):
                        page.screenshot(path=str(folder / f"{name}-{n}.png"), full_page=True)
            return [p for _, _, watched in self.opened for p in watched.problems()]
        finally:
            for context, _, _ in self.opened:
                context.close()


@pytest.fixture
def open_page(
    request: pytest.FixtureRequest, browser: Browser, artifacts: Path
) -> Iterator[OpenPage]:
    pages = OpenPage(browser)
    yield pages
    report = getattr(request.node, "rep_call", None)
    failed = report is not None and report.failed
    problems = pages.close(request.node.name if failed else None, artifacts)
    if problems and not failed:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


# ----------------------------------------------------------------------------- axe summary


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not AXE_FINDINGS:
        return
    impacts: Counter[str] = Counter()
    rules: Counter[tuple[str, str, str]] = Counter()
    for found in AXE_FINDINGS.values():
        for kind in ("violations", "incomplete"):
            for rule in found[kind]:
                if kind == "violations":
                    impacts[rule["impact"]] += len(rule["nodes"])
                rules[(kind, rule["impact"] or "-", rule["id"])] += len(rule["nodes"])
    write = terminalreporter.write_line
    terminalreporter.section("axe-core")
    counted = ", ".join(f"{i} {impacts[i]}" for i in ("critical", "serious", "moderate", "minor"))
    write(f"{len(AXE_FINDINGS)} page views checked; violating elements by impact: {counted}")
    for (kind, impact, rule_id), count in sorted(rules.items()):
        said = "needs review" if kind == "incomplete" else "violation"
        write(f"  {said:12} {impact:9} {rule_id}: {count} element(s)")
    summary = {
        f"{page}-{size}-{scheme}": {
            kind: [
                {"id": r["id"], "impact": r["impact"], "elements": len(r["nodes"])}
                for r in found[kind]
            ]
            for kind in ("violations", "incomplete")
        }
        for (page, size, scheme), found in sorted(AXE_FINDINGS.items())
    }
    path = artifacts_dir() / "axe-summary.json"
    path.write_text(json.dumps(summary, indent=2))
    write(f"details: {path}")
