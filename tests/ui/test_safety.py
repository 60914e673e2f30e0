"""What keeps the pages safe and self-contained: escaping, no inline script or style (the
CSP allows none), the security headers, package-served assets, and error pages that
leave the JSON API's errors alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.ui.conftest import Site
from tests.ui.html import parse
from tests.ui.scenery import XSS_ERROR, XSS_PARAM, XSS_WORKSPACE

_THIRD_PARTY = re.compile(r"(?:https?:)?//(?!www\.w3\.org/2000/svg)[a-z0-9.-]+", re.IGNORECASE)


def _pages(site: Site) -> list[str]:
    return [
        "/operations",
        "/operations?workspace=acme&status=queued",
        "/operations?queued_after=garbage",
        f"/operations/{site.runs['hostile']}",
        f"/operations/{site.runs['stale']}",
        "/audit",
        "/audit/1",
        "/operations/00000000-0000-4000-8000-000000000000",
        "/nowhere",
    ]


def test_a_hostile_workspace_parameter_and_error_text_show_as_text(
    site: Site, browser: TestClient
) -> None:
    for path in ("/operations", f"/operations/{site.runs['hostile']}", "/audit"):
        html = browser.get(path).text
        for payload in (XSS_WORKSPACE, XSS_PARAM, XSS_ERROR):
            assert payload not in html, (path, payload)
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html, path
    detail = parse(browser.get(f"/operations/{site.runs['hostile']}").text)
    assert XSS_PARAM in detail.text and XSS_WORKSPACE in detail.text
    assert XSS_ERROR in detail.one("details", id="diagnostics").text


def test_hostile_query_values_are_echoed_escaped(browser: TestClient) -> None:
    evil = "<script>alert(1)</script>"
    for path in (
        "/operations",
        "/operations/live",
        "/audit",
    ):
        html = browser.get(path, params={"workspace": evil}).text
        assert evil not in html
    refused = browser.get("/operations", params={evil: "1"})
    assert refused.status_code == 400 and evil not in refused.text
    assert "&lt;script&gt;" in refused.text


def test_no_page_holds_inline_script_style_or_event_handlers(
    site: Site, browser: TestClient
) -> None:
    for path in _pages(site):
        page = parse(browser.get(path).text)
        for element in page.walk():
            handlers = [name for name in element.attrs if name.startswith("on")]
            assert not handlers, f"{path}: <{element.tag} {handlers}>"
            assert "style" not in element.attrs, f"{path}: <{element.tag} style=...>"
            if element.tag == "script":
                assert element.get("src") and not element.text, f"{path}: inline <script>"
            for name in ("src", "href", "action"):
                assert not _THIRD_PARTY.match(element.get(name)), f"{path}: {element.attrs}"
        assert not page.all("style"), f"{path}: a <style> element"


def test_pages_carry_the_security_headers_and_are_not_cached(
    site: Site, browser: TestClient
) -> None:
    for path in _pages(site):
        response = browser.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["content-type"].startswith("text/html"), path


def test_the_login_page_too(site: Site) -> None:
    response = site.client().get("/login")
    assert response.headers["cache-control"] == "no-store"
    assert "content-security-policy" in response.headers


def test_assets_are_served_from_the_package_with_a_versioned_url(
    site: Site, browser: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # templates and assets never come from the working directory
    page = parse(browser.get("/operations").text)
    urls = [s.get("src") for s in page.all("script")] + [
        link.get("href") for link in page.all("link")
    ]
    assert len(urls) == 7 and all(url.startswith("/static/") and "?v=" in url for url in urls)
    for url in urls:
        response = browser.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    css = browser.get("/static/ui.css")
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "no-cache"
    assert browser.get("/static/missing.js").status_code == 404
    assert browser.get("/static/../settings.py").status_code == 404


def test_an_unknown_page_is_the_html_404_and_the_api_keeps_its_json_errors(
    site: Site, browser: TestClient
) -> None:
    page = browser.get("/nowhere")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert parse(page.text).one(data_testid="error-page").get("data-status") == "404"
    api = browser.get("/api/nowhere")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"
    assert site.client().get("/api/runs").json()["error"]["code"] == "unauthorized"
    assert site.client().get("/nowhere").status_code == 404, "no session needed to say so"


def test_the_home_page_is_the_operations_index(site: Site) -> None:
    response = site.client().get("/")
    assert response.status_code == 303 and response.headers["location"] == "/operations"


def test_each_page_has_a_skip_link_a_main_landmark_and_one_h1(
    site: Site, browser: TestClient
) -> None:
    for path in _pages(site):
        page = parse(browser.get(path).text)
        assert page.one("a", class_="skip-link").get("href") == "#main", path
        assert page.one("main", id="main")
        assert len(page.all("h1")) == 1, path
        assert page.one("html").get("lang") == "en"
