"""A one-time login link (what `runledger demo` prints) opens a session once, by POST."""

from __future__ import annotations

from tests.ui.conftest import Site, csrf_of
from web.login_links import PATH, LoginLinks


def _link(site: Site) -> str:
    info, _ = site.tokens.create("demo-op", ["*"], [], site.clock())
    return PATH + LoginLinks(site.view.connections).create(info.id, site.clock())


def test_a_login_link_opens_a_session_once_and_only_by_post(site: Site) -> None:
    link = _link(site)
    client = site.client()
    assert client.get(link).status_code == 200
    page = client.get(link)  # looking at it twice spends nothing
    assert page.status_code == 200 and "Open the dashboard" in page.text
    used = client.post(link, data={"csrf": csrf_of(page.text)})
    assert used.status_code == 303 and used.headers["location"] == "/operations"
    assert client.get("/operations").status_code == 200

    again = site.client()
    second = again.get(link)
    refused = again.post(link, data={"csrf": csrf_of(second.text)})
    assert refused.status_code == 401 and "already used" in refused.text
    assert again.get("/operations").status_code == 303  # to /login: no session


def test_a_login_link_without_the_forms_secret_is_refused(site: Site) -> None:
    link = _link(site)
    client = site.client()
    client.get(link)
    assert client.post(link, data={"csrf": "guessed"}).status_code == 403
    page = client.get(link)
    assert client.post(link, data={"csrf": csrf_of(page.text)}).status_code == 303


def test_a_forged_login_link_opens_nothing(site: Site) -> None:
    client = site.client()
    page = client.get(PATH + "forged-code")
    refused = client.post(PATH + "forged-code", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 401
    assert client.get(PATH + "x" * 300).status_code == 404
