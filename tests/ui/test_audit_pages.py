"""/audit and /audit/{position}: every filter, paging, the entry's own page (what the
slide-over shows), its link to the run, and the 404s and 403 of the audit views."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from projections import AuditFilters, Scope
from tests.ui.conftest import Site, login
from tests.ui.html import Element, parse

EVERYTHING = Scope.every_workspace()


def positions(client: TestClient, **params: Any) -> list[int]:
    response = client.get(f"/audit?{urlencode(params)}")
    assert response.status_code == 200, response.text
    return [int(row.attrs["data-position"]) for row in _rows(parse(response.text))]


def _rows(page: Element) -> list[Element]:
    return page.all("tr", data_testid="audit-row")


def _expected(site: Site, filters: AuditFilters) -> list[int]:
    return [e.position for e in site.view.audit(EVERYTHING, filters, limit=200).entries]


def test_the_audit_log_lists_every_event_newest_first(site: Site, browser: TestClient) -> None:
    assert positions(browser, limit=200) == _expected(site, AuditFilters())


FILTERS = [
    {"workspace": "gamma"},
    {"operation_type": "billing.charge"},
    {"actor": "reconciler"},
    {"action": "run.queue_failed"},
    {"workspace": "beta", "action": "run.started"},
]


@pytest.mark.parametrize("params", FILTERS, ids=str)
def test_every_audit_filter_narrows_the_log_as_the_read_api_does(
    site: Site, browser: TestClient, params: dict[str, str]
) -> None:
    expected = _expected(site, AuditFilters(**params))
    assert expected, f"the scenery has no entry for {params}"
    assert positions(browser, limit=200, **params) == expected


def test_the_audit_log_filters_by_run_and_time(site: Site, browser: TestClient) -> None:
    run_id = site.runs["retries"]
    by_run = positions(browser, run_id=str(run_id))
    assert by_run == _expected(site, AuditFilters(run_id=run_id)) and len(by_run) == 7
    since = site.clock() - timedelta(minutes=16)
    until = site.clock() - timedelta(minutes=5)
    window = positions(browser, since=since.isoformat(), until=until.isoformat(), limit=200)
    assert window == _expected(site, AuditFilters(since=since, until=until)) and window


def test_older_and_newer_page_through_the_log(site: Site, browser: TestClient) -> None:
    pages: list[list[int]] = []
    path: str | None = "/audit?limit=25"
    last = ""
    while path is not None:
        last = path
        page = parse(browser.get(path).text)
        pages.append([int(row.attrs["data-position"]) for row in _rows(page)])
        older = page.all("a", data_testid="pager-older")
        path = older[0].get("href") if older else None
    assert [p for page in pages for p in page] == [e.position for e in _all_entries(site)]
    assert len(pages) > 2
    newer = parse(browser.get(last).text).one("a", data_testid="pager-newer").get("href")
    back = [int(r.attrs["data-position"]) for r in _rows(parse(browser.get(newer).text))]
    assert back == pages[-2]


def _all_entries(site: Site) -> list[Any]:
    out, cursor = [], None
    while True:
        page = site.view.audit(EVERYTHING, limit=200, cursor=cursor)
        out += page.entries
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_each_entry_opens_its_own_page_which_the_slide_over_shows(
    site: Site, browser: TestClient
) -> None:
    page = parse(browser.get(f"/audit?run_id={site.runs['lost']}").text)
    links = page.all("a", data_testid="audit-entry-link")
    assert links and all("data-panel-link" in link.attrs for link in links)
    dialog = page.one("dialog", data_testid="slide-over")
    assert dialog.get("aria-labelledby") == "entry-title" and dialog.get("id") == "audit-panel"
    href = links[0].get("href")
    entry = parse(browser.get(href).text)
    article = entry.one("article", id="audit-entry")
    assert article.one("h1", id="entry-title").text == "The reconciler closed it: job lost"
    run_link = article.one("a", data_testid="entry-run-link").get("href")
    assert run_link == f"/operations/{site.runs['lost']}"
    details = article.one("pre", data_testid="entry-details").text
    assert '"arq_job_state": "not_found"' in details


def test_every_run_in_the_log_links_to_its_canonical_page(site: Site, browser: TestClient) -> None:
    page = parse(browser.get("/audit?limit=50").text)
    for row in _rows(page):
        run_links = [a for a in row.all("a") if a.get("href", "").startswith("/operations/")]
        assert len(run_links) == 1
        assert row.one("a", data_testid="audit-entry-link").get("href") == (
            f"/audit/{row.attrs['data-position']}"
        )


def test_an_entry_outside_the_scope_or_malformed_is_the_same_404(site: Site) -> None:
    client = site.browser(["acme"])
    beta = site.view.audit(EVERYTHING, AuditFilters(workspace="beta"), limit=1).entries[0]
    answers = [
        client.get(f"/audit/{position}")
        for position in (beta.position, 999_999_999, "abc", "1" * 30, "-1")
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1


def test_a_token_without_audit_read_gets_a_403_naming_it(site: Site) -> None:
    client = site.client()
    login(client, site.token(["*"], ["runs:read"]))
    for path in ("/audit", "/audit/1"):
        response = client.get(path)
        assert response.status_code == 403
        assert parse(response.text).one(data_testid="error-page").get("data-capability") == (
            "audit:read"
        )
    assert client.get("/operations").status_code == 200


@pytest.mark.parametrize(
    ("params", "named"),
    [({"since": "noon"}, "since"), ({"run_id": "r-1"}, "run_id"), ({"cursor": "x"}, "cursor")],
)
def test_a_bad_audit_filter_is_a_400_naming_it(
    browser: TestClient, params: dict[str, str], named: str
) -> None:
    response = browser.get(f"/audit?{urlencode({**params, 'actor': 'reconciler'})}")
    assert response.status_code == 400
    page = parse(response.text)
    assert page.one(data_testid="filter-error").one("li").get("data-parameter") == named
    assert page.one("input", name="actor").get("value") == "reconciler"
