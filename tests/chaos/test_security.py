"""Hostile requests against a real `runledger web`, over real HTTP, on both stores.

- SQL injection in every filter of the API and the HTML views (the filters are read from
  web/params.py, so a new one is covered by itself): a 400 naming the parameter or an
  empty result, never a 5xx, never a row, and every table's row count the same after.
- Path traversal in /static: 404 (or 400), never a byte of a file outside web/static.
- Header injection through `next` and the cookies: the Location never leaves the site or
  splits; a tampered, foreign-keyed, expired or malformed session is no session.
- Tokens: only their SHA-256 is stored; they are compared with hmac.compare_digest;
  revoking one refuses the API and ends the browser sessions at once.
- Session cookies: HttpOnly, SameSite=Lax, dated, Secure behind https. CSRF: a POST
  without the form's secret, with a wrong one or from another Origin is a 403.
- Cross-workspace in the HTML views: a token of acme sees, in every chip, list, strip,
  suggestion and page, exactly acme; another workspace's run or entry is the same 404
  page as one that does not exist.

Each test prints what it tried and what came back.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import inspect
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import uuid4

import httpx
import pytest
from itsdangerous import URLSafeSerializer

from ledger import utcnow
from projections.db import Connection
from projections.pool import ReadConnections
from tests.chaos.security_site import SECRET_KEY, RawResponse, SecuritySite, csrf_of, security_site
from tests.e2e.cli import runledger
from tests.ui.html import Element, parse
from tests.web.client import assert_error
from web import params
from web.login_links import LoginLinks
from web.tokens import TokenStore
from web.ui import csrf as csrf_module
from web.ui.session import COOKIE, MAX_AGE

PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE runs_index; --",
    "%' OR 1=1 --",
    '" OR ""="',
    "acme' --",
    "acme' OR workspace LIKE '%",
    "') UNION SELECT id, token_hash FROM web_tokens --",
    "1; SELECT pg_sleep(5) --",
    "\u2019 OR \u20181\u2019=\u20181",  # typographic quotes
    "\uff07 OR \uff11=\uff11 --",  # fullwidth quote and digits
    "\u02bc OR 1=1 --",  # modifier letter apostrophe
    "acme\x00' OR 1=1 --",
    "{s}runs_index",  # the SQL templates' own placeholder
    "*",
    "%",
    "_",
    "\\",
    "x" * 5000,
]
# For filters whose declarations refuse any of the payloads before a query is built.
REFUSED_SAMPLE = [PAYLOADS[0], PAYLOADS[8], PAYLOADS[11], PAYLOADS[-1]]
NO_CSRF_FIELD = {"note": "a form without the csrf field"}  # still a form, so not a 400
SESSION_SALT = "runledger.web.session"  # web/ui/session.py's, checked by the positive case


def _print(line: str) -> None:
    print(f"\n{line}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecuritySite]:
    request.getfixturevalue("postgres_server")
    request.getfixturevalue("redis_server")
    with security_site(request.param, tmp_path_factory.mktemp("security")) as served:
        yield served


@pytest.fixture(scope="module")
def tokens(site: SecuritySite) -> dict[str, str]:
    """Made before any test counts rows: every workspace, and acme only."""
    return {"every": site.token(["*"]), "acme": site.token(["acme"])}


def token_id(token: str) -> str:
    return "_".join(token.split("_")[1:3])  # rlt_<tok_hex>_<secret>


# -- SQL injection ----------------------------------------------------------------------------

API_ROUTES = {"/api/runs": params.RUNS_LIST, "/api/audit": params.AUDIT_LIST,
              "/api/stats": params.STATS}  # fmt: skip


def _accepts(param: params.Param, payload: str) -> bool:
    """True when the declarations take `payload` for `param` (a text under the limit)."""
    return param.kind == "text" and len(payload) <= params.MAX_TEXT and "\x00" not in payload


def _empty(path: str, body: dict[str, Any]) -> bool:
    if path == "/api/runs":
        return body["runs"] == [] and body["next_cursor"] is None
    if path == "/api/audit":
        return body["entries"] == [] and body["next_cursor"] is None
    return bool(body["counts"]["total"] == 0 and body["rows"] == [])


def test_sql_injection_in_every_api_filter_is_a_400_or_nothing(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    before = site.table_counts()
    run_id = site.runs["succeeded"]
    cases: list[tuple[str, str, str, dict[str, str], params.Param | None]] = []
    for who, token in tokens.items():
        for path, accepted in {
            **API_ROUTES,
            f"/api/runs/{run_id}/timeline": params.TIMELINE,
        }.items():
            for param in accepted:
                cases += [(who, token, path, {param.name: p}, param) for p in PAYLOADS]
        for p in PAYLOADS:
            cases += [(who, token, f"/api/runs/{quote(p, safe='')}", {}, None),
                      (who, token, f"/api/runs/{quote(p, safe='')}/timeline", {}, None),
                      (who, token, f"/api/audit/{quote(p, safe='')}", {}, None),
                      (who, token, "/api/runs", {p[:100]: "1"}, None)]  # fmt: skip
    apis = {who: site.api(token) for who, token in tokens.items()}
    try:

        def ask(case: tuple[str, str, str, dict[str, str], params.Param | None]) -> Any:
            who, _, path, query, _ = case
            started = time.monotonic()
            response = apis[who].get(path, query)
            return response, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, cases))
    finally:
        for api in apis.values():
            api.close()
    outcomes: Counter[str] = Counter()
    for (who, _, path, query, declared), (response, took) in zip(cases, answers, strict=True):
        assert response.status_code < 500, (who, path, query, response.text)
        assert took < 4, f"{path} {query} took {took:.1f} s: did the payload run as SQL?"
        if declared is None:  # an id in the path, or an unknown parameter
            expected = 404 if not query else 400
            assert_error(response, expected)
        elif _accepts(declared, query[declared.name]):
            assert response.status_code == 200, (path, query, response.text)
            assert _empty(path, response.json()), (who, path, query, response.text)
        else:
            assert_error(response, 400, parameter=declared.name)
        outcomes[str(response.status_code)] += 1
    after = site.table_counts()
    assert after == before, "a table changed under the injections"
    assert before["runs_index"] > 0 and before["audit_log"] > 0
    _print(
        f"SQL injection, API, {site.kind}: {len(cases)} requests "
        f"({len(PAYLOADS)} payloads x every filter of /api/runs, /api/audit, /api/stats, "
        f"the timeline, the ids in paths and parameter names, 2 tokens): "
        f"{dict(sorted(outcomes.items()))}, 0 errors 5xx, 0 rows; "
        f"{len(after)} tables, {sum(after.values())} rows, unchanged"
    )


HTML_ROUTES = {"/operations": params.RUNS_LIST, "/operations/live": params.RUNS_LIST,
               "/audit": params.AUDIT_LIST}  # fmt: skip


def _html_rows(html: str) -> list[str]:
    page = parse(html)
    runs = [row.get("data-run-id") for row in page.all("tr", data_testid="run-row")]
    return runs + [row.get("data-position") for row in page.all("tr", data_testid="audit-row")]


def _refused_parameters(html: str) -> set[str]:
    return {li.get("data-parameter") for li in parse(html).all("li", data_parameter=True)}


def test_sql_injection_in_every_html_filter_is_a_400_naming_it_or_nothing(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    """With the `*` session, whose filters all reach SQL (an acme session's foreign
    `workspace` is answered empty before any query). A value the declarations refuse
    never reaches the database, so those filters get a few payloads, the texts all."""
    before = site.table_counts()
    cases: list[tuple[str, dict[str, str], params.Param | None]] = []
    for path, accepted in HTML_ROUTES.items():
        for param in accepted:
            tried = PAYLOADS if param.kind == "text" else REFUSED_SAMPLE
            cases += [(path, {param.name: p}, param) for p in tried]
    run_page = f"/operations/{site.runs['succeeded']}"
    cases += [(run_page, {"cursor": p}, params.CURSOR) for p in PAYLOADS]
    for p in PAYLOADS:
        cases += [(f"/operations/{quote(p, safe='')}", {}, None),
                  (f"/audit/{quote(p, safe='')}", {}, None)]  # fmt: skip
    with site.browser(tokens["every"]) as browser, ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda c: browser.get(c[0], params=c[1]), cases))
    for (path, query, declared), response in zip(cases, answers, strict=True):
        assert response.status_code < 500, (path, query, response.text[:500])
        if declared is None:
            assert response.status_code == 404, (path, response.status_code)
            assert parse(response.text).one(data_testid="error-page").get("data-status") == "404"
        elif _accepts(declared, query[declared.name].strip()):
            assert response.status_code == 200, (path, query)
            assert _html_rows(response.text) == [], (path, query)
        else:
            assert response.status_code == 400, (path, query)
            if path != "/operations/live":  # the fragment says "bad filter" and no more
                assert declared.name in _refused_parameters(response.text), (path, query)
    assert site.table_counts() == before
    _print(
        f"SQL injection, HTML, {site.kind}: {len(cases)} pages (every filter of /operations, "
        f"/operations/live, /audit, the run page's cursor, ids in paths): "
        f"{dict(sorted(Counter(str(r.status_code) for r in answers).items()))}, "
        "0 errors 5xx, 0 rows, tables unchanged"
    )


def test_a_request_too_long_for_the_server_is_refused_not_a_crash(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    auth = f"Authorization: Bearer {tokens['every']}"
    for size in (20_000, 200_000):  # refused with a 4xx, or the connection closed
        answer = site.raw(f"/api/runs?workspace={'x' * size}", [auth])
        assert answer.status == 0 or 400 <= answer.status < 500, (size, answer.status)
    assert site.raw("/api/runs", [auth]).status == 200  # and the server still answers


# -- path traversal ---------------------------------------------------------------------------

TRAVERSALS = [
    "/static/../web/app.py", "/static/../app.py", "/static/../../web/app.py",
    "/static/../settings.py", "/static/../templates/base.html", "/static/../../pyproject.toml",
    "/static/%2e%2e/app.py", "/static/%2e%2e%2fapp.py", "/static/%2E%2E%2Fsettings.py",
    "/static/..%2fapp.py", "/static/.%2e/app.py", "/static/%2e%2e%2f%2e%2e%2fweb%2fapp.py",
    "/static/%252e%252e%252fapp.py", "/static/%252e%252e/%252e%252e/web/app.py",
    "/static/..\\app.py", "/static/..%5capp.py", "/static/%5c..%5c..%5cweb%5capp.py",
    "/static/\\..\\..\\web\\app.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/%2Fetc/passwd", "/static/\\etc\\passwd", "/static/%5cetc%5cpasswd",
    "/static/../../../../../../../../etc/passwd", "/static/" + "../" * 40 + "etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/ui.css/../../app.py", "/static/ui.css%00.py", "/static/ui.css%00", "/static/%00",
    "/static/..%00/app.py", "/static/%c0%ae%c0%ae/app.py", "/static/..%c0%afapp.py",
    "/static/..%u2215app.py", "/static/..;/app.py", "/static/file:///etc/passwd",
    "/static/", "/static", "/static/.", "/static/..", "/static/%2e", "/static/%2e%2e",
    "http://127.0.0.1/static/../web/app.py", "/static/" + "a" * 5000,
]  # fmt: skip


def _outside_markers() -> dict[str, bytes]:
    """A line of each file a traversal would aim at, that no response of ours holds."""
    web = Path(__file__).resolve().parents[2] / "web"
    return {
        "web/app.py": b"def create_app(",
        "web/settings.py": b"SECRET_KEY_VAR",
        "web/templates": b"{% extends",
        "pyproject.toml": b"[tool.ruff",
        "/etc/passwd": b"root:x:0:0",
        "web/ui/__init__.py": (web / "ui" / "__init__.py").read_bytes()[:60],
    }


def test_path_traversal_in_the_static_routes_finds_nothing_outside_web_static(
    site: SecuritySite,
) -> None:
    control = site.raw("/static/ui.css")
    assert control.status == 200
    assert control.body == (Path(__file__).resolve().parents[2] / "web/static/ui.css").read_bytes()
    markers = _outside_markers()
    statuses: Counter[int] = Counter()
    for target in TRAVERSALS:
        answer = site.raw(target)
        statuses[answer.status] += 1
        if target == "/static":  # Starlette's slash redirect, to this site's own /static/
            assert answer.status == 307
            assert urlsplit(answer.header("location") or "").path == "/static/"
            continue
        assert answer.status in (400, 404), (target, answer.status, answer.body[:200])
        for name, marker in markers.items():
            assert marker not in answer.body, f"{target} served {name}"
    _print(
        f"path traversal, {site.kind}: {len(TRAVERSALS)} paths under /static (.., encoded, "
        f"double-encoded, backslashes, absolute, NUL, overlong UTF-8): "
        f"{dict(sorted(statuses.items()))}, 0 files outside web/static served"
    )


# -- header injection: next, cookies -----------------------------------------------------------

EVIL_NEXTS = [
    "/\r\nSet-Cookie: injected=1", "/operations\r\nX-Injected: 1",
    "/%0d%0aSet-Cookie:%20injected=1", "%0d%0aX-Injected:%201", "\r\nX-Injected: 1",
    "/\nX-Injected: 1", "/\rX-Injected: 1",
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "https://evil.example", "http:/evil.example", "HTTPS://evil.example/", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", " //evil.example",
    "/\t/evil.example", "/%09/evil.example", "evil.example", "@evil.example", "/login",
    "/logout", "/" + "a" * 3000,
]  # fmt: skip


def assert_stays_on_the_site(location: str | None) -> None:
    assert location is not None
    assert not any(c in location for c in "\r\n\t\\"), location
    assert location.startswith("/") and not location.startswith("//"), location
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location


def assert_no_injected_header(response: httpx.Response | RawResponse) -> None:
    """No header the request tried to add (a Location may still hold the words,
    percent-encoded, as a harmless local path)."""
    headers = (
        response.headers.multi_items() if isinstance(response, httpx.Response) else response.headers
    )
    for name, value in headers:
        assert name.lower() != "x-injected", headers
        if name.lower() == "set-cookie":
            assert not value.lower().startswith("injected"), headers


def test_next_never_leads_off_the_site_nor_splits_a_header(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    checked = 0
    with site.client() as anonymous, site.browser(tokens["every"]) as logged_in:
        for evil in EVIL_NEXTS:
            form = anonymous.get("/login", params={"next": evil})
            assert form.status_code == 200
            echoed = parse(form.text).one("input", name="next").get("value")
            if echoed:  # "" when nothing safe was asked for
                assert_stays_on_the_site(echoed)
            with site.client() as fresh:
                page = fresh.get("/login")
                data = {"csrf": csrf_of(page.text), "token": tokens["every"], "next": evil}
                after_login = fresh.post("/login", data=data)
            assert after_login.status_code == 303, (evil, after_login.text[:300])
            assert_stays_on_the_site(after_login.headers.get("location"))
            assert_no_injected_header(after_login)
            already = logged_in.get("/login", params={"next": evil})
            assert already.status_code == 303
            assert_stays_on_the_site(already.headers.get("location"))
            assert_no_injected_header(already)
            checked += 3
    raw_targets = ["/login?next=%0d%0aX-Injected:%201", "/operations?x=%0d%0aX-Injected:%201",
                   "/operations/%0d%0aX-Injected:%201", "/audit/%0d%0aSet-Cookie:injected=1",
                   "/login?next=/\r\nX-Injected: 1", "/operations\r\nX-Injected: 1"]  # fmt: skip
    for target in raw_targets:
        answer = site.raw(target)
        assert answer.status < 500, (target, answer.status)
        assert_no_injected_header(answer)
        if answer.status in (302, 303, 307):
            assert_stays_on_the_site(answer.header("location"))
        checked += 1
    _print(
        f"header injection through next, {site.kind}: {len(EVIL_NEXTS)} values (CR/LF raw and "
        f"encoded, //, /\\, schemes, javascript:) x form echo, redirect after login and while "
        f"logged in, plus {len(raw_targets)} raw request lines: {checked} answers, every "
        "Location a local path, 0 headers injected"
    )


def _session_cookie(key: str, *payload: Any) -> str:
    return str(URLSafeSerializer(key, salt=SESSION_SALT).dumps(list(payload)))


def _forged_sessions(site: SecuritySite, token: str) -> dict[str, str]:
    """Session cookies a browser never got from us, each to be refused."""
    connections = ReadConnections(site.settings, max_size=1)
    try:
        info = TokenStore(connections).get(token_id(token))
    finally:
        connections.close()
    assert info is not None
    now, tid, op, csrf = time.time(), info.id, info.operator, "c" * 43
    with site.browser(token) as real:
        value = real.cookies[COOKIE]
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    return {
        "valid (control)": _session_cookie(SECRET_KEY, 1, tid, op, csrf, now),
        "tampered signature": flipped,
        "tampered payload": ("W" if value[0] != "W" else "X") + value[1:],
        "signature stripped": value.rsplit(".", 1)[0],
        "another key": _session_cookie("another-secret-key-0123456789", 1, tid, op, csrf, now),
        "expired": _session_cookie(SECRET_KEY, 1, tid, op, csrf, now - MAX_AGE - 60),
        "issued in the future": _session_cookie(SECRET_KEY, 1, tid, op, csrf, now + 3600),
        "issued at NaN": _session_cookie(SECRET_KEY, 1, tid, op, csrf, float("nan")),
        "issued at true": _session_cookie(SECRET_KEY, 1, tid, op, csrf, True),
        "another operator": _session_cookie(SECRET_KEY, 1, tid, "root", csrf, now),
        "unknown token": _session_cookie(SECRET_KEY, 1, "tok_0000000000", op, csrf, now),
        "another version": _session_cookie(SECRET_KEY, 2, tid, op, csrf, now),
        "not a list": str(URLSafeSerializer(SECRET_KEY, salt=SESSION_SALT).dumps({"a": 1})),
        "encoded CR/LF": "abc%0d%0aSet-Cookie:%20injected=1",
        "quoted, tampered": '"' + flipped + '"',
        "oversized (5 KB)": value + "A" * 5000,
        "oversized (12 KB)": "A" * 12_000,
        "latin-1 bytes": "\xff\xfe" + value,
        "empty": "",
    }


def test_a_forged_tampered_or_expired_session_cookie_is_refused(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    forged = _forged_sessions(site, tokens["every"])
    for name, value in forged.items():
        cookie = f"Cookie: {COOKIE}={value}"
        page, live = site.raw("/operations", [cookie]), site.raw("/operations/live", [cookie])
        assert_no_injected_header(page)
        if name == "valid (control)":
            assert (page.status, live.status) == (200, 200), "the crafted cookie is refused"
            continue
        assert page.status == 303, (name, page.status, page.body[:300])
        assert page.header("location") == "/login?next=%2Foperations", name
        assert live.status == 401, (name, live.status)
        if value:
            cleared = [c for c in page.all("set-cookie") if c.startswith(f"{COOKIE}=")]
            assert cleared and "max-age=0" in cleared[0].lower(), (name, page.headers)
        login = site.raw("/login", [cookie])
        assert login.status == 200, (name, login.status)
        logout = site.raw("/logout", [cookie, "Content-Type: application/x-www-form-urlencoded"],
                          method="POST")  # fmt: skip
        assert logout.status == 303 and logout.header("location") == "/login?logged_out=1"
    # Bytes a header may not hold, and a header too big to read: refused by the server.
    # A bare CR in the header, and a header too big to read: refused one way or another
    # (no session, a 4xx, or the connection closed), never a 5xx.
    for header in (
        f"Cookie: {COOKIE}=a\rb".encode(),
        f"Cookie: {COOKIE}=".encode() + b"A" * 70_000,
    ):
        answer = site.raw("/operations", [header])
        assert_no_injected_header(answer)
        if answer.status == 303:
            assert (answer.header("location") or "").startswith("/login?next=")
        else:
            assert answer.status == 0 or 400 <= answer.status < 500, answer.status
    _print(
        f"session cookies, {site.kind}: {len(forged) - 1} forged kinds (tampered, another "
        "key, expired, future, wrong shape, CR/LF, oversized) x /operations, /operations/live, "
        "/login, /logout: every one refused (303 to /login, 401, cookie cleared), 0 errors 5xx"
    )


def test_a_tampered_login_form_cookie_is_a_403(site: SecuritySite, tokens: dict[str, str]) -> None:
    with site.client() as client:
        page = client.get("/login")
        secret, cookie = csrf_of(page.text), client.cookies["runledger_login"]
        foreign = str(URLSafeSerializer("another-secret-key-0123456789",
                                        salt="runledger.web.login-csrf").dumps(secret))  # fmt: skip
        for value in (cookie[:-2] + "AA", foreign, "x" * 600, ""):
            client.cookies.clear()
            client.cookies.set("runledger_login", value)
            answer = client.post("/login", data={"csrf": secret, "token": tokens["every"]})
            assert answer.status_code == 403, value[:40]
            assert COOKIE not in answer.headers.get("set-cookie", "")


# -- tokens --------------------------------------------------------------------------------------


def test_only_the_tokens_sha256_is_stored(site: SecuritySite, tokens: dict[str, str]) -> None:
    with Connection(site.settings) as conn:
        stored = {
            row[0]: row[1] for row in conn.execute("SELECT id, token_hash FROM {s}web_tokens")
        }
    everything = site.database_bytes()
    for token in tokens.values():
        assert stored[token_id(token)] == hashlib.sha256(token.encode()).hexdigest()
        secret = token.split("_", 3)[3]
        assert token.encode() not in everything and secret.encode() not in everything
    _print(
        f"tokens at rest, {site.kind}: {len(stored)} rows, each the SHA-256 of its token; "
        f"{len(everything):,} bytes of the database hold no token nor secret"
    )


def _compares(function: Any) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare)
            and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)]  # fmt: skip


def test_tokens_and_csrf_secrets_are_compared_in_constant_time(
    site: SecuritySite, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    good = tokens["acme"]
    sha = hashlib.sha256
    connections = ReadConnections(site.settings, max_size=1)
    try:
        store = TokenStore(connections)
        now = utcnow()
        cases = {
            "good": good,
            "wrong secret": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
            "unknown id": "rlt_tok_0000000000_" + "A" * 43,
        }
        for name, presented in cases.items():
            calls.clear()
            principal = store.authenticate(presented, now)
            assert (principal is not None) == (name == "good"), name
            assert len(calls) == 1, f"{name}: compare_digest called {len(calls)} times"
            assert calls[0][1] == sha(presented.encode()).hexdigest(), name
    finally:
        connections.close()
    calls.clear()
    assert not csrf_module.matches("a" * 43, "b" * 43) and len(calls) == 1
    assert _compares(TokenStore.authenticate) == [] and _compares(csrf_module.matches) == []


def test_revoking_a_token_refuses_the_api_and_ends_its_browser_sessions_at_once(
    site: SecuritySite,
) -> None:
    token = site.token(["acme"])
    api = site.api(token)
    with site.browser(token) as browser, contextlib.closing(api.http):
        assert api.get("/api/runs").status_code == 200
        assert browser.get("/operations").status_code == 200
        assert browser.get("/operations/live").status_code == 200
        revoked = runledger("token", "revoke", token_id(token),
                            RUNLEDGER_DATABASE_URL=site.settings.url)  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        for path in ("/api/runs", "/api/stats", "/api/audit", f"/api/runs/{site.runs['queued']}"):
            assert_error(api.get(path), 401)
        page = browser.get("/operations")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        assert browser.get("/audit").status_code == 303
        assert browser.get("/operations/live").status_code == 401
        with site.client() as again:
            form = again.get("/login")
            refused = again.post("/login", data={"csrf": csrf_of(form.text), "token": token})
            assert refused.status_code == 401


# -- session cookie flags, CSRF ---------------------------------------------------------------


def _morsel(response: httpx.Response, name: str) -> Any:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert found, (name, response.headers)
    return SimpleCookie(found[-1])[name]


@pytest.mark.parametrize("https", [False, True], ids=["http", "behind https"])
def test_the_session_cookie_is_httponly_lax_dated_and_secure_behind_https(
    site: SecuritySite, tokens: dict[str, str], https: bool
) -> None:
    headers = {"X-Forwarded-Proto": "https"} if https else {}
    with site.client(headers=headers) as client:
        form = client.get("/login")
        login_cookie = _morsel(form, "runledger_login")
        # Sent by hand: a client over http keeps a Secure cookie to itself, as it should.
        answer = client.post(
            "/login",
            data={"csrf": csrf_of(form.text), "token": tokens["every"]},
            headers={"Cookie": f"runledger_login={login_cookie.value}"},
        )
        session = _morsel(answer, COOKIE)
    for morsel, max_age in ((session, MAX_AGE), (login_cookie, 3600)):
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "lax"
        assert morsel["max-age"] == str(max_age) and morsel["path"] == "/"
        assert bool(morsel["secure"]) is https
    assert tokens["every"] not in session.value and token_id(tokens["every"]) not in session.value


def test_a_post_without_the_csrf_secret_a_wrong_one_or_from_another_site_is_a_403(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    refused = 0
    with site.browser(tokens["every"]) as browser, site.browser(tokens["every"]) as other:
        secret, others = csrf_of(browser.get("/operations").text), csrf_of(other.get("/audit").text)
        lookalike = f"http://127.0.0.1:{site.port}.evil.example"
        for data, origin in (
            (NO_CSRF_FIELD, None),
            ({"csrf": "forged"}, None),
            ({"csrf": others}, None),  # another session's secret
            ({"csrf": secret}, "https://evil.example"),
            ({"csrf": secret}, "null"),
            ({"csrf": secret}, lookalike),
        ):
            headers = {"Origin": origin} if origin else {}
            assert browser.post("/logout", data=data, headers=headers).status_code == 403
            refused += 1
        assert browser.get("/operations").status_code == 200, "a refused logout keeps the session"
        done = browser.post("/logout", data={"csrf": secret}, headers={"Origin": site.url})
        assert done.status_code == 303 and browser.get("/operations").status_code == 303
    for data, origin in (
        (NO_CSRF_FIELD, None),
        ({"csrf": "forged"}, None),
        ({}, "https://evil.example"),  # {}: the form's own secret
        ({}, "null"),
    ):
        with site.client() as client:  # a fresh form each time: a refusal hands out a new one
            secret = csrf_of(client.get("/login").text)
            headers = {"Origin": origin} if origin else {}
            form = {**(data or {"csrf": secret}), "token": tokens["every"]}
            answer = client.post("/login", data=form, headers=headers)
            assert answer.status_code == 403 and COOKIE not in answer.headers.get("set-cookie", "")
            refused += 1
    refused += _login_link_csrf(site, tokens["every"])
    _print(f"CSRF, {site.kind}: {refused} forged POSTs (/logout, /login, /login/link) all 403")


def _login_link_csrf(site: SecuritySite, token: str) -> int:
    connections = ReadConnections(site.settings, max_size=1)
    try:
        code = LoginLinks(connections).create(token_id(token), utcnow())
    finally:
        connections.close()
    path = f"/login/link/{code}"
    with site.client() as client:
        for data, origin in (
            (NO_CSRF_FIELD, None),
            ({"csrf": "forged"}, None),
            (None, "https://evil.example"),
        ):
            secret = csrf_of(client.get(path).text)  # a refusal hands out a new one
            headers = {"Origin": origin} if origin else {}
            answer = client.post(path, data=data or {"csrf": secret}, headers=headers)
            assert answer.status_code == 403
        secret = csrf_of(client.get(path).text)
        used = client.post(path, data={"csrf": secret})  # the refusals did not spend it
        assert used.status_code == 303 and client.get("/operations").status_code == 200
        assert client.post(path, data={"csrf": csrf_of(client.get(path).text)}).status_code == 401
    return 3


# -- cross-workspace, HTML -------------------------------------------------------------------


def _pages(browser: httpx.Client, path: str, query: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every row of a listing (following "Older"), and the pages' bodies."""
    rows: list[str] = []
    bodies: list[str] = []
    response = browser.get(path, params={**query, "limit": "200"})
    while True:
        assert response.status_code == 200, (path, query, response.status_code)
        bodies.append(response.text)
        rows += _html_rows(response.text)
        older = parse(response.text).all("a", data_testid="pager-older")
        if not older:
            return rows, bodies
        response = browser.get(older[0].get("href"))


def _chips(html: str) -> dict[str, tuple[int, str]]:
    chips = parse(html).all("a", data_chip=True)
    out = {}
    for chip in chips:
        count = next(e for e in chip.walk() if e.get("class") == "chip__count").text
        out[chip.get("data-chip")] = (int(count.replace(",", "").replace("\u202f", "")),
                                      chip.get("href"))  # fmt: skip
    return out


def _strip(html: str) -> tuple[str, list[str]]:
    """The strip's state and its legend (the totals of the last 24 hours, by ending)."""
    strip: Element = parse(html).one(data_testid="overview-strip")
    return strip.get("data-state"), [item.text for item in strip.all("li")]


def _datalist(html: str, name: str) -> list[str]:
    return [o.get("value") for o in parse(html).one("datalist", id=name).all("option")]


def _api_ids(site: SecuritySite, token: str, path: str, key: str, **query: str) -> list[str]:
    api = site.api(token)
    try:
        ids = []
        for page in api.pages(path, limit=200, **query):
            ids += [str(item["id" if key == "runs" else "position"]) for item in page[key]]
        return ids
    finally:
        api.close()


def test_an_acme_operator_sees_exactly_acme_in_every_html_view(
    site: SecuritySite, tokens: dict[str, str]
) -> None:
    every, acme = tokens["every"], tokens["acme"]
    acme_runs = set(_api_ids(site, every, "/api/runs", "runs", workspace="acme"))
    others = set(_api_ids(site, every, "/api/runs", "runs")) - acme_runs
    assert acme_runs and others
    bodies: list[str] = []  # pages whose query names no foreign run: none may show one
    with site.browser(acme) as mine, site.browser(every) as root:
        index = mine.get("/operations").text
        counts = {key: count for key, (count, _) in _chips(index).items()}
        assert counts == {
            k: c for k, (c, _) in _chips(root.get("/operations?workspace=acme").text).items()
        }
        assert counts != {k: c for k, (c, _) in _chips(root.get("/operations").text).items()}
        assert counts["all"] == len(acme_runs)
        for key in counts:  # every chip, followed to its last page
            count, href = _chips(mine.get("/operations").text)[key]
            query = dict(httpx.URL(href).params)
            rows, pages = _pages(mine, "/operations", query)
            assert set(rows) <= acme_runs and len(rows) == count, key
            assert rows == _api_ids(site, every, "/api/runs", "runs", workspace="acme", **query)
            live = mine.get("/operations/live", params={**query, "limit": "200"})
            assert _html_rows(live.text) == rows, key
            bodies += [*pages, live.text]
        for kind in ("inventory.sync", "report.build", "email.digest", "billing.charge"):
            rows, pages = _pages(mine, "/operations", {"operation_type": kind})
            assert rows == _api_ids(site, every, "/api/runs", "runs", workspace="acme",
                                    operation_type=kind)  # fmt: skip
            bodies += pages
        for workspace in ("beta", "gamma", '<img src=x onerror="alert(1)">', "*"):
            page = mine.get("/operations", params={"workspace": workspace}).text
            assert _html_rows(page) == [] and set(c for c, _ in _chips(page).values()) == {0}
            assert _strip(page)[0] == "empty"
            bodies.append(page)
        assert _strip(index) == _strip(root.get("/operations?workspace=acme").text)
        assert _strip(index) != _strip(root.get("/operations").text)
        assert _datalist(index, "workspaces") == ["acme"]
        bodies.append(index)
        _run_pages_alike(mine, acme_runs, others)
        audits = _audit_alike(site, mine, every, others)
        bodies += audits
    leaked = sorted(run for run in others if any(run in body for body in bodies))
    assert not leaked, f"pages of an acme operator name runs of other workspaces: {leaked}"
    _print(
        f"cross-workspace, HTML, {site.kind}: an acme token over {len(bodies)} listing pages "
        f"(every chip to its last page and its live region, each type, other workspaces, the "
        f"strip, suggestions, the audit log), none naming any of the {len(others)} foreign "
        "runs; a dozen of their pages and 15 of their audit entries each the 404 of an "
        f"unknown one: exactly the {len(acme_runs)} acme runs, 0 leaks"
    )


def _normalised(response: httpx.Response, *names: str) -> str:
    text = response.text
    for name in names:
        text = text.replace(name, "ID")
    return text


def _run_pages_alike(browser: httpx.Client, mine: set[str], others: set[str]) -> None:
    unknown_id = str(uuid4())
    unknown = browser.get(f"/operations/{unknown_id}")
    assert unknown.status_code == 404
    for run in sorted(others)[:: max(1, len(others) // 12)]:  # about 12, spread out
        page = browser.get(f"/operations/{run}")
        assert page.status_code == 404
        assert _normalised(page, run) == _normalised(unknown, unknown_id), run
    assert browser.get(f"/operations/{sorted(mine)[0]}").status_code == 200


def _audit_alike(
    site: SecuritySite, browser: httpx.Client, every: str, others: set[str]
) -> list[str]:
    """The audit log's pages as the acme operator sees them (checked against the API)."""
    acme_entries = _api_ids(site, every, "/api/audit", "entries", workspace="acme")
    every_entry = _api_ids(site, every, "/api/audit", "entries")
    rows, bodies = _pages(browser, "/audit", {})
    assert rows == acme_entries and len(every_entry) > len(acme_entries)
    assert _datalist(bodies[0], "workspaces") == ["acme"]
    unknown = browser.get("/audit/987654321")
    assert unknown.status_code == 404
    foreign = [p for p in every_entry if p not in set(acme_entries)]
    for position in foreign[:: max(1, len(foreign) // 15)]:  # about 15, spread out
        page = browser.get(f"/audit/{position}")
        assert page.status_code == 404
        assert _normalised(page, f"/audit/{position}") == _normalised(unknown, "/audit/987654321")
    for run in sorted(others)[:5]:  # the page echoes the id typed: only its rows count
        page = browser.get("/audit", params={"run_id": run})
        assert page.status_code == 200 and _html_rows(page.text) == []
    for workspace in ("beta", "gamma"):
        page = browser.get("/audit", params={"workspace": workspace})
        assert _html_rows(page.text) == []
        bodies.append(page.text)
    return bodies


# -- last: what the server logged through all of the above ------------------------------------


def test_the_servers_log_holds_no_token_secret_key_or_session(
    site: SecuritySite, tokens: dict[str, str], tmp_path: Path
) -> None:
    from tests.chaos.secrets_scan import describe_scan, scan_for_secrets

    log = tmp_path / "web.log"
    log.write_text(site.server.output())
    secrets = {"secret key": SECRET_KEY}
    for name, token in tokens.items():
        secrets[f"{name} token"] = token
        secrets[f"{name} token's secret"] = token.split("_", 3)[3]
    result = scan_for_secrets([log], secrets)
    _print(describe_scan(f"the security tests' server log ({site.kind})", result))
    assert result["bytes"] > 10_000, "the server logged nearly nothing: is its log captured?"
    assert set(result["hits"].values()) == {0}, result["where"]
