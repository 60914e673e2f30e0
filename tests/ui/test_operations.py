"""/operations: badges, the stale note, count chips, every filter, paging, bad filters,
the overview strip and the live region's ETag."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.testclient import TestClient

from ledger import CompleteRun, EndedBy, Freshness, Outcome, ReasonCode, RunStatus, StartRun
from projections import RunFilters, Scope
from projections.explain import next_reconcile_pass
from projections.wording import clock
from tests.ui.conftest import Site
from tests.ui.html import Element, parse
from tests.ui.scenery import SYNC

EVERYTHING = Scope.every_workspace()
# The badge each kind of run in the scenery must show.
BADGES = {
    "queued": "queued",
    "running": "running",
    "stale": "stale",
    "stale_queued": "stale",
    "succeeded": "succeeded",
    "partial": "partially_succeeded",
    "failed_job": "failed_by_job",
    "hostile": "failed_by_job",
    "timeout": "failed_by_queue",
    "retries": "failed_by_queue",
    "orphaned": "failed_by_reconciler",
    "lost": "failed_by_reconciler",
}


def rows(page: Element) -> list[Element]:
    return page.all("tr", data_testid="run-row")


def listed(client: TestClient, path: str, **params: Any) -> list[str]:
    """The run ids a page lists (`params` added to the path's own query)."""
    if params:
        path += ("&" if "?" in path else "?") + urlencode(params)
    response = client.get(path)
    assert response.status_code == 200, response.text
    return [row.attrs["data-run-id"] for row in rows(parse(response.text))]


def test_each_kind_of_run_shows_its_own_badge_in_colour_icon_and_words(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get("/operations", params={"limit": 200}).text)
    by_id = {row.attrs["data-run-id"]: row for row in rows(page)}
    for role, kind in BADGES.items():
        row = by_id[str(site.runs[role])]
        state = row.one(data_testid="run-state")
        assert state.get("data-badge") == kind, role
        badge = state.one("span", class_=f"badge badge--{kind}")
        assert badge.one("use").get("href", "").startswith("#i-"), "no icon"
        assert badge.text, "no words"
    running = by_id[str(site.runs["running"])].one("progress")
    assert (running.get("value"), running.get("max")) == ("80.0", "100.0")
    words = {row.one("span", class_="badge__label").text for row in by_id.values()}
    assert {"Failed by the job", "Failed by the queue", "Failed by reconciliation"} <= words


def test_a_stale_run_says_how_long_it_has_been_idle_and_when_it_will_be_reconciled(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get("/operations").text)
    row = page.one("tr", data_run_id=str(site.runs["stale"]))
    note = row.one(data_testid="stale-note")
    heal = next_reconcile_pass(site.clock(), 30, after=True)
    assert (
        note.text == f"no activity for 14 min — will be reconciled at {clock(heal, site.clock())}"
    )
    assert note.one("time").get("datetime") == heal.isoformat().replace("+00:00", "Z")


def test_runs_are_newest_first_and_each_links_to_its_canonical_page(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get("/operations", params={"limit": 200}).text)
    ids = [row.attrs["data-run-id"] for row in rows(page)]
    expected = site.view.list_runs(EVERYTHING, limit=200, now=site.clock()).runs
    assert ids == [str(run.id) for run in expected]
    for row in rows(page):
        links = {a.get("href") for a in row.all("a")}
        assert links == {f"/operations/{row.attrs['data-run-id']}"}


def test_times_are_relative_with_the_exact_utc_time_on_hover(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get("/operations").text)
    row = page.one("tr", data_run_id=str(site.runs["timeout"]))
    queued = row.all("time")[0]
    assert queued.text == "40 min ago"
    assert queued.get("title", "").endswith(" UTC") and queued.get("datetime", "").endswith("Z")


CHIP_BADGES = {
    "queued": {"queued", "stale"},
    "running": {"running", "stale"},
    "stale": {"stale"},
    "succeeded": {"succeeded"},
    "partially_succeeded": {"partially_succeeded"},
    "failed_by_job": {"failed_by_job"},
    "failed_by_queue": {"failed_by_queue"},
    "failed_by_reconciler": {"failed_by_reconciler"},
}


def test_chips_count_each_state_and_each_adds_its_filter(site: Site) -> None:
    client = site.browser(["acme", "beta"])
    scope = Scope.of(["acme", "beta"])
    counts = site.view.counts(scope, now=site.clock())
    page = parse(client.get("/operations").text)
    chips = {a.get("data-chip"): a for a in page.one(data_testid="chips").all("a")}
    assert list(chips)[:1] == ["all"] and chips["all"].get("aria-current") == "true"
    assert chips["all"].one(class_="chip__count").text == f"{counts.total:,}"
    for key, badges in CHIP_BADGES.items():
        href = chips[key].get("href", "")
        assert urlsplit(href).path == "/operations"
        shown = parse(client.get(href).text)
        kinds = {row.one(data_testid="run-state").get("data-badge") for row in rows(shown)}
        assert kinds <= badges, (key, kinds)
        count = int(chips[key].one(class_="chip__count").text.replace(",", ""))
        assert count == len(listed(client, href, limit=200)) or count > 200, key
        again = {a.get("data-chip"): a for a in shown.one(data_testid="chips").all("a")}
        assert again[key].get("aria-current") == "true"
        assert again[key].get("href") == "/operations", "the chosen chip links back to all"


def test_a_chip_keeps_the_workspace_and_type_filters_and_drops_the_cursor(
    browser: TestClient,
) -> None:
    page = parse(browser.get("/operations?workspace=beta&status=queued&cursor=x&limit=9").text)
    href = page.one("a", data_chip="failed_by_queue").get("href", "")
    assert dict(parse_qsl(urlsplit(href).query)) == {
        "workspace": "beta",
        "limit": "9",
        "outcome": "failed",
        "ended_by": "queue",
    }


FILTERS: list[tuple[dict[str, str], RunFilters]] = [
    ({"workspace": "beta"}, RunFilters(workspace="beta")),
    ({"operation_type": "report.build"}, RunFilters(operation_type="report.build")),
    ({"status": "running"}, RunFilters(status=RunStatus.RUNNING)),
    ({"outcome": "partially_succeeded"}, RunFilters(outcome=Outcome.PARTIALLY_SUCCEEDED)),
    ({"freshness": "stale"}, RunFilters(freshness=Freshness.STALE)),
    ({"ended_by": "reconciler"}, RunFilters(ended_by=EndedBy.RECONCILER)),
    ({"reason_code": "queue.timeout"}, RunFilters(reason_code=ReasonCode.QUEUE_TIMEOUT)),
    (
        {"workspace": "acme", "outcome": "failed", "ended_by": "job"},
        RunFilters(workspace="acme", outcome=Outcome.FAILED, ended_by=EndedBy.JOB),
    ),
]


@pytest.mark.parametrize(("params", "filters"), FILTERS, ids=str)
def test_every_filter_narrows_the_list_exactly_as_the_read_api_does(
    site: Site, browser: TestClient, params: dict[str, str], filters: RunFilters
) -> None:
    expected = site.view.list_runs(EVERYTHING, filters, limit=200, now=site.clock()).runs
    assert expected, f"the scenery has no run for {params}"
    assert listed(browser, "/operations", limit=200, **params) == [str(r.id) for r in expected]
    page = parse(browser.get("/operations", params=params).text)
    form = page.one("form", data_testid="filter-form")
    for name, value in params.items():
        field = form.one(name=name)
        shown = field.get("value") if field.tag == "input" else _selected(field)
        assert shown == value, name


def _selected(select: Element) -> str | None:
    chosen = [o.get("value") for o in select.all("option") if "selected" in o.attrs]
    return chosen[0] if chosen else None


def test_the_queued_time_range_filters(site: Site, browser: TestClient) -> None:
    now = site.clock()
    after = (now - timedelta(minutes=20)).isoformat()
    before = (now - timedelta(minutes=5)).isoformat()
    shown = listed(browser, "/operations", queued_after=after, queued_before=before, limit=200)
    wanted = {"stale_queued", "succeeded", "partial", "failed_job"}
    assert {str(site.runs[role]) for role in wanted} <= set(shown)
    assert str(site.runs["queued"]) not in shown and str(site.runs["timeout"]) not in shown


def test_older_and_newer_links_page_through_every_run(site: Site, browser: TestClient) -> None:
    everything = [
        str(r.id) for r in site.view.list_runs(EVERYTHING, limit=200, now=site.clock()).runs
    ]
    seen: list[str] = []
    pages: list[str] = []
    path: str | None = "/operations?limit=7"
    while path is not None:
        pages.append(path)
        page = parse(browser.get(path).text)
        seen += [row.attrs["data-run-id"] for row in rows(page)]
        older = page.all("a", data_testid="pager-older")
        assert older or len(seen) == len(everything)
        path = older[0].get("href") if older else None
        assert path is None or "limit=7" in path, "paging keeps the filters"
    assert seen == everything and len(pages) > 2
    last = parse(browser.get(pages[-1]).text)
    newer = last.one("a", data_testid="pager-newer").get("href", "")
    assert listed(browser, newer) == listed(browser, pages[-2])
    assert last.one("a", data_testid="pager-newest").get("href") == "/operations?limit=7"
    first = parse(browser.get(pages[0]).text)
    assert not first.all("a", data_testid="pager-newer"), "the first page has nothing newer"


BAD = [
    ({"queued_after": "yesterday"}, "queued_after"),
    ({"status": "exploded"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("params", "named"), BAD, ids=str)
def test_a_bad_filter_is_a_400_naming_it_with_the_rest_of_the_page_intact(
    browser: TestClient, params: dict[str, str], named: str
) -> None:
    response = browser.get("/operations", params={**params, "workspace": "acme"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    alert = page.one(data_testid="filter-error")
    assert alert.get("role") == "alert"
    assert alert.one("li").get("data-parameter") == named
    assert named in alert.text
    assert page.one("input", name="workspace").get("value") == "acme", "the form keeps the rest"
    assert page.one(data_testid="chips") and page.one("nav", aria_label="Main")
    assert not page.all(data_testid="runs-table")
    if named in ("queued_after", "status"):
        assert page.one(name=named).get("aria-invalid") == "true"


def test_a_repeated_filter_is_a_400_too(browser: TestClient) -> None:
    response = browser.get("/operations?status=queued&status=running")
    assert response.status_code == 400 and "given more than once" in response.text


def test_the_overview_strip_draws_the_runs_ended_in_the_last_24_hours(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get("/operations").text)
    strip = page.one(data_testid="overview-strip")
    assert strip.get("data-state") == "ok"
    svg = strip.one("svg", role="img")
    assert svg.get("aria-labelledby") == "strip-title strip-summary"
    columns = list(svg.all("g", class_="strip__hit"))  # one per bucket with runs
    assert 0 < len(columns) <= 288
    assert all(" UTC: " in column.one("title").text for column in columns)
    kinds = [path.get("class") for path in svg.all("path")]  # one stack path per kind
    assert "seg seg--succeeded" in kinds and len(kinds) == len(set(kinds))
    summary = strip.one(id="strip-summary").text
    ended = site.view.counts(EVERYTHING, now=site.clock()).by_status["completed"]
    assert summary.startswith(f"{ended:,} runs ended in the last 24 hours")
    legend = strip.one("ul", class_="legend").text
    assert "Failed by the queue" in legend and "Failed by reconciliation" in legend


def test_the_strip_follows_the_workspace_filter(site: Site, browser: TestClient) -> None:
    page = parse(browser.get("/operations?workspace=gamma").text)
    summary = page.one(id="strip-summary").text
    ended = site.view.counts(EVERYTHING, workspace="gamma", now=site.clock()).by_status["completed"]
    assert summary.startswith(f"{ended:,} runs ended")


def test_the_strip_is_redrawn_once_a_run_that_ended_is_projected(
    site: Site, browser: TestClient
) -> None:
    """The strip is kept per projector position: a run's ending shows once projected."""

    def summary() -> Element:
        return parse(browser.get("/operations?workspace=strip").text).one(id="strip-summary")

    assert summary().text == "No run ended in the last 24 hours."
    ledger = site.ledger()
    try:
        run_id = ledger.queue(operation_type="strip.op", workspace="strip", policy=SYNC).run_id
        ledger.execute(StartRun(run_id, "worker:h:1", attempt=1, worker_id="h:1"))
        ledger.execute(
            CompleteRun(run_id, "worker:h:1", attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED)
        )
    finally:
        ledger.close()
    assert summary().text == "No run ended in the last 24 hours.", "not projected yet"
    site.project()
    assert summary().text.startswith("1 runs ended in the last 24 hours: 1 succeeded")


def test_the_live_region_answers_304_until_something_changes(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get("/operations?workspace=live").text)
    status = page.one(data_testid="live-status")
    assert status.get("data-live-url") == "/operations/live?workspace=live"
    first = browser.get("/operations/live?workspace=live")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    etag = first.headers["etag"]
    assert status.get("data-live-etag") == etag, "the page carries its region's version"
    unchanged = browser.get("/operations/live?workspace=live", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""

    ledger = site.ledger()
    try:
        new = ledger.queue(operation_type="fresh.op", workspace="live", policy=SYNC).run_id
    finally:
        ledger.close()
    still = browser.get("/operations/live?workspace=live", headers={"If-None-Match": etag})
    assert still.status_code == 304, "not projected yet: the read models did not change"
    site.project()
    changed = browser.get("/operations/live?workspace=live", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [row.attrs["data-run-id"] for row in rows(parse(changed.text))] == [str(new)]


def test_the_live_region_changes_with_the_clock_step(site: Site, browser: TestClient) -> None:
    etag = browser.get("/operations/live").headers["etag"]
    site.clock.offset = timedelta(seconds=10)
    assert browser.get("/operations/live", headers={"If-None-Match": etag}).status_code == 200


def test_the_live_region_never_redirects_a_script_to_the_login_page(site: Site) -> None:
    response = site.client().get("/operations/live")
    assert response.status_code == 401 and "location" not in response.headers


def test_the_live_region_refuses_a_bad_filter(browser: TestClient) -> None:
    assert browser.get("/operations/live?status=nope").status_code == 400
