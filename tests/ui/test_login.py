"""Logging in and out: the session cookie, CSRF, `next`, expiry, tampering, revocation."""

from __future__ import annotations

import logging
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest

from tests.ui.conftest import Site, csrf_of, login
from tests.ui.html import parse
from web.ui.csrf import LOGIN_COOKIE
from web.ui.session import COOKIE, MAX_AGE


def _secret(token: str) -> str:
    """The secret part of `rlt_<id>_<secret>` (the secret itself may hold `_`)."""
    return token.split("_", 3)[3]


def _set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie set: {headers}"
    return str(found[-1])


@pytest.mark.parametrize(
    "path",
    ["/operations", "/operations?status=queued&limit=3", "/audit", "/audit/3"],
)
def test_a_page_without_a_session_sends_the_browser_to_the_login_form(
    site: Site, path: str
) -> None:
    response = site.client().get(path)
    assert response.status_code == 303
    from urllib.parse import quote

    assert response.headers["location"] == f"/login?next={quote(path, safe='')}"


def test_a_run_page_without_a_session_redirects_too(site: Site) -> None:
    path = f"/operations/{site.runs['stale']}"
    response = site.client().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Foperations%2F")


def test_logging_in_sets_a_signed_httponly_lax_dated_cookie_without_the_token(site: Site) -> None:
    client = site.client()
    token = site.token(["*"])
    form = client.get("/login?next=/audit")
    assert 'name="next" value="/audit"' in form.text
    response = client.post(
        "/login", data={"csrf": csrf_of(form.text), "token": token, "next": "/audit"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/audit"
    header = _set_cookie(response, COOKIE)
    morsel = SimpleCookie(header)[COOKIE]
    assert morsel["httponly"] and morsel["samesite"].lower() == "lax"
    assert morsel["max-age"] == str(MAX_AGE) and morsel["path"] == "/"
    assert not morsel["secure"], "plain http must not get a Secure cookie it could not send"
    assert token not in header and _secret(token) not in header
    assert client.get("/audit").status_code == 200


def test_behind_https_the_session_cookie_is_secure(site: Site) -> None:
    client = site.client(base_url="https://runledger.example")
    form = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(form.text), "token": site.token(["*"])})
    assert SimpleCookie(_set_cookie(response, COOKIE))[COOKIE]["secure"]
    # Behind a TLS-terminating proxy that says so, every cookie it sets is Secure too.
    proxied = site.client(headers={"X-Forwarded-Proto": "https"}).get("/login")
    assert SimpleCookie(_set_cookie(proxied, LOGIN_COOKIE))[LOGIN_COOKIE]["secure"]


@pytest.mark.parametrize(
    "evil",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "/\r\nSet-Cookie: x=1",
        "javascript:alert(1)",
        "evil.example",
        "/login",
    ],
)
def test_next_only_ever_leads_to_a_local_path(site: Site, evil: str) -> None:
    client = site.client()
    form = client.get("/login", params={"next": evil})
    assert "evil.example" not in form.text.split('name="next"')[1][:80]
    response = client.post(
        "/login", data={"csrf": csrf_of(form.text), "token": site.token(["*"]), "next": evil}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    if evil == "/%0d%0aSet-Cookie:%20x=1":
        assert location == evil  # percent-encoded: a harmless local path, no header
    else:
        assert location == "/operations"
    assert "\r" not in location and "\n" not in location


def test_a_local_next_with_its_query_is_followed(site: Site) -> None:
    client = site.client()
    login(client, site.token(["*"]), next_path="/operations?status=running&limit=5")


def test_a_wrong_token_is_refused_and_logged_without_the_token(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    client = site.client()
    good = site.token(["*"])
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    form = client.get("/login")
    with caplog.at_level(logging.WARNING, logger="runledger.web"):
        response = client.post("/login", data={"csrf": csrf_of(form.text), "token": forged})
    assert response.status_code == 401
    assert "That token is not valid" in response.text
    assert COOKIE not in response.headers.get("set-cookie", "").split("=")[0]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "login refused" in logged
    assert forged not in logged and _secret(forged) not in logged
    assert client.get("/operations").status_code == 303


def test_login_without_the_forms_csrf_secret_is_refused(site: Site) -> None:
    client = site.client()
    token = site.token(["*"])
    client.get("/login")
    for data in ({"token": token}, {"token": token, "csrf": "forged"}):
        response = client.post("/login", data=data)
        assert response.status_code == 403
        assert "expired or did not come from this site" in response.text
    assert client.get("/operations").status_code == 303


def test_login_from_another_site_is_refused(site: Site) -> None:
    client = site.client()
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "token": site.token(["*"])},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_login_page_while_logged_in_goes_on_to_next(browser: object) -> None:
    response = browser.get("/login?next=/audit")  # type: ignore[attr-defined]
    assert response.status_code == 303 and response.headers["location"] == "/audit"


def test_logout_is_a_post_with_the_sessions_csrf_secret(site: Site) -> None:
    client = site.browser()
    page = client.get("/operations")
    assert client.get("/logout").status_code == 405
    refused = client.post("/logout", data={"csrf": "forged"})
    assert refused.status_code == 403 and "logout form" in refused.text
    assert client.get("/operations").status_code == 200, "a refused logout keeps the session"
    response = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login?logged_out=1"
    assert (
        "Max-Age=0" in _set_cookie(response, COOKIE)
        or "expires" in _set_cookie(response, COOKIE).lower()
    )
    assert client.get("/operations").status_code == 303
    assert "You are logged out." in client.get("/login?logged_out=1").text


def test_a_tampered_cookie_is_no_session(site: Site) -> None:
    client = site.browser()
    value = client.cookies[COOKIE]
    flipped = value[:-3] + ("a" if value[-3] != "a" else "b") + value[-2:]
    client.cookies.set(COOKIE, flipped)
    response = client.get("/operations")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    client.cookies.set(COOKIE, flipped)
    notice = client.get("/login")
    assert "Your session has ended" in notice.text


def test_an_expired_session_is_refused_by_the_servers_clock(site: Site) -> None:
    client = site.browser()
    site.clock.offset = timedelta(seconds=MAX_AGE - 5)
    assert client.get("/operations").status_code == 200
    site.clock.offset = timedelta(seconds=MAX_AGE + 1)
    response = client.get("/operations")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_revoking_the_token_ends_its_sessions_at_once(site: Site) -> None:
    client = site.client()
    token = site.token(["*"])
    login(client, token)
    assert client.get("/operations").status_code == 200
    token_id = "_".join(token.split("_", 3)[1:3])
    assert site.tokens.revoke(token_id, site.clock())
    assert client.get("/operations").status_code == 303
    assert client.get("/operations/live").status_code == 401


def test_a_large_or_malformed_login_form_is_a_400_not_a_500(site: Site) -> None:
    client = site.client()
    too_big = client.post("/login", data={"token": "x" * 20_000})
    assert too_big.status_code == 400
    not_a_form = client.post("/login", content=b"{}", headers={"Content-Type": "application/json"})
    assert not_a_form.status_code == 400


def test_an_audit_only_token_lands_on_the_audit_log_and_sees_only_its_link(site: Site) -> None:
    client = site.client()
    form = client.get("/login")
    token = site.token(["*"], ["audit:read"])
    response = client.post("/login", data={"csrf": csrf_of(form.text), "token": token})
    assert response.headers["location"] == "/audit"
    nav = parse(client.get("/audit").text).one("nav", aria_label="Main")
    assert [a.get("href") for a in nav.all("a")] == ["/audit"]
