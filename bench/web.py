"""Web latency: p50/p95 of each JSON read route and HTML page over real HTTP, 10k vs 1M runs.

Each size gets a PostgreSQL schema of its own, seeded by bench/seed.py (N runs, 5 audit
entries per run, stats and activity, one running run with 10,000 heartbeats), and a
real `runledger web` process on a free port with a token for every workspace (`*`).
The API routes (`API`) are read with that token as a bearer token; the HTML pages
(`PAGES`: `/operations` first page, filtered and stale-only, `/operations/{id}` of a
completed run and of the run with 10,000 heartbeats, `/audit` first page and filtered)
by a second client logged in through the real form (GET /login for its CSRF secret,
POST the token; it keeps the session cookie), each answer checked to be a signed-in
HTML page, not a redirect to /login. Each route is then timed on every size in
alternating rounds of 10 sequential requests on one keep-alive connection per server
and client (httpx.Client), after a warm-up, so that a change in the machine's load hits
every size alike. It prints, per route, p50 and p95 at each size, the ratio of the p95s
(big / small) with PASS or FAIL against the targets (p95 <= 50 ms at the big size, 1M,
and ratio <= 2) and the size of the answer; and the size of an API page of 50 runs
(target <= 100 KB). The schemas are dropped at the end.

    .venv/bin/python -m bench.web [--small 10000] [--big 1000000] [--requests 200] [--large]

`--small` must be at least 5,050 runs (the deep page). Seeding takes most of the time:
3-15 s for 10k runs and 3-8.5 minutes for 1M (5M audit entries; about 2 minutes of it
Python, the rest index builds and the shared 2-core machine's load), then about 4
minutes of requests. `--large` adds 10M runs and 50M audit entries: about an hour or
more of seeding and about 25 GB of disk.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

import httpx
import psycopg

from bench.seed import Seeded, seed
from ledger import DatabaseSettings, utcnow
from projections.db import Connection
from projections.pool import ReadConnections
from web.tokens import TokenStore

POSTGRES = os.environ.get(
    "RUNLEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
RUNLEDGER = str(Path(sys.executable).with_name("runledger"))
HEARTBEATS, DEEP_PAGES, ROUND = 10_000, 100, 10
TARGET_P95_MS, TARGET_RATIO, TARGET_PAGE_BYTES = 50.0, 2.0, 100_000


@dataclass
class Server:
    """One size: its seeded store and the clients of the `runledger web` serving it: one
    with a bearer token for the API, one with a logged-in session for the HTML pages."""

    runs: int
    seeded: Seeded
    client: httpx.Client
    browser: httpx.Client
    completed_run_id: str = ""
    page_bytes: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)  # ms per route
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each route's answer

    def iso(self, **delta: float) -> str:
        return (self.seeded.now - timedelta(**delta)).isoformat().replace("+00:00", "Z")

    def deep_cursor(self) -> str:
        cursor = None
        for _ in range(DEEP_PAGES):
            params: dict[str, str] = {} if cursor is None else {"cursor": cursor}
            cursor = ok(self.client.get("/api/runs", params=params)).json()["next_cursor"]
            assert cursor, "fewer runs than the deep page needs"
        return str(cursor)

    def quantile(self, route: str, q: int) -> float:
        return statistics.quantiles(self.samples[route], n=100, method="inclusive")[q - 1]


Url = Callable[[Server], str]
API: dict[str, Url] = {
    "runs: first page": lambda s: "/api/runs",
    "runs: workspace": lambda s: "/api/runs?workspace=globex",
    "runs: operation_type": lambda s: "/api/runs?operation_type=crm.sync",
    "runs: status=queued": lambda s: "/api/runs?status=queued",
    "runs: status=running": lambda s: "/api/runs?status=running",
    "runs: status=completed": lambda s: "/api/runs?status=completed",
    "runs: outcome=failed": lambda s: "/api/runs?outcome=failed",
    "runs: freshness=stale": lambda s: "/api/runs?freshness=stale",
    "runs: freshness=fresh": lambda s: "/api/runs?freshness=fresh",
    "runs: ended_by=reconciler": lambda s: "/api/runs?ended_by=reconciler",
    "runs: reason_code=queue.timeout": lambda s: "/api/runs?reason_code=queue.timeout",
    "runs: queued_after (1 day ago)": lambda s: f"/api/runs?queued_after={s.iso(days=1)}",
    "runs: queued_before (20 days ago)": lambda s: f"/api/runs?queued_before={s.iso(days=20)}",
    f"runs: page {DEEP_PAGES} (cursor)": lambda s: f"/api/runs?cursor={s.deep_cursor()}",
    "run: 10,000 heartbeats": lambda s: f"/api/runs/{s.seeded.heavy_run_id}",
    "timeline: 10,000 heartbeats": lambda s: f"/api/runs/{s.seeded.heavy_run_id}/timeline",
    "audit: first page": lambda s: "/api/audit",
    "audit: actor=reconciler": lambda s: "/api/audit?actor=reconciler",
    "audit: action=run.queue_failed": lambda s: "/api/audit?action=run.queue_failed",
    "audit: since (1 hour ago)": lambda s: f"/api/audit?since={s.iso(hours=1)}",
    "stats": lambda s: "/api/stats",
}
PAGES: dict[str, Url] = {
    "operations: first page": lambda s: "/operations",
    "operations: globex, outcome=failed": lambda s: "/operations?workspace=globex&outcome=failed",
    "operations: acme, status=running": lambda s: "/operations?workspace=acme&status=running",
    "operations: freshness=stale": lambda s: "/operations?freshness=stale",
    "run page: completed": lambda s: f"/operations/{s.completed_run_id}",
    "run page: 10,000 heartbeats": lambda s: f"/operations/{s.seeded.heavy_run_id}",
    "audit page: first page": lambda s: "/audit",
    "audit page: actor=reconciler": lambda s: "/audit?actor=reconciler",
    "audit page: since (1 hour ago)": lambda s: f"/audit?since={s.iso(hours=1)}",
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SESSION_COOKIE = "runledger_session"


class Interrupted(Exception):
    """The database went away under the benchmark (something else restarted it)."""


def ok(response: httpx.Response) -> httpx.Response:
    if response.status_code == 503:
        raise Interrupted(f"{response.request.url} answered 503")
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url} answered {response.status_code}: {response.text}")
    return response


def html(response: httpx.Response) -> httpx.Response:
    """A signed-in page: 200 (a lost session would be a 303 to /login), HTML, and the
    header's logout form, which only a viewer with a session gets."""
    ok(response)
    if not response.headers.get("content-type", "").startswith("text/html"):
        raise SystemExit(f"{response.request.url} is not HTML: {response.headers}")
    if CSRF.search(response.text) is None:
        raise SystemExit(f"{response.request.url} is not a signed-in page")
    return response


Fetch = Callable[[Server, str], httpx.Response]


def api_get(server: Server, url: str) -> httpx.Response:
    return ok(server.client.get(url))


def page_get(server: Server, url: str) -> httpx.Response:
    return html(server.browser.get(url))


def compare(
    servers: list[Server], routes: dict[str, Url], fetch: Fetch, requests: int, warmup: int
) -> None:
    """Times each route on every server, in alternating rounds (each goes first in turn)."""
    for name, url_of in routes.items():
        urls = [url_of(server) for server in servers]
        for server, url in zip(servers, urls, strict=True):
            server.samples[name] = []
            for _ in range(warmup):
                server.sizes[name] = len(fetch(server, url).content)
        for turn in range(max(1, requests // ROUND)):
            pairs = list(zip(servers, urls, strict=True))
            for server, url in pairs if turn % 2 == 0 else reversed(pairs):
                for _ in range(ROUND):
                    started = time.perf_counter()
                    fetch(server, url)
                    server.samples[name].append((time.perf_counter() - started) * 1000)
        cells = "  ".join(f"p95 {s.runs:,}: {s.quantile(name, 95):6.1f} ms" for s in servers)
        print(f"  {name:<42} {cells}", flush=True)


@contextmanager
def serving(size: int) -> Iterator[Server]:
    """A seeded schema, a `runledger web` on it, a client with a token and a browser with a
    session; all removed after."""
    with fresh_schema() as settings, ExitStack() as stack:
        started = time.perf_counter()
        seeded = seed(settings, size, heartbeats=HEARTBEATS)
        took = time.perf_counter() - started
        print(
            f"seeded {size:,} runs, {seeded.audit_entries:,} audit entries in {took:.0f} s",
            flush=True,
        )
        base, token = stack.enter_context(web_server(settings)), token_for(settings)
        client = stack.enter_context(client_for(base, token))
        server = Server(size, seeded, client, stack.enter_context(browser_for(base, token)))
        server.page_bytes = len(ok(client.get("/api/runs", params={"limit": 50})).content)
        server.completed_run_id = newest_id(client, status="completed", outcome="succeeded")
        yield server


def newest_id(client: httpx.Client, **filters: str) -> str:
    """The id of the newest run the API lists with these filters."""
    runs = ok(client.get("/api/runs", params={**filters, "limit": 1})).json()["runs"]
    assert runs, f"no run with {filters}"
    return str(runs[0]["id"])


@contextmanager
def fresh_schema() -> Iterator[DatabaseSettings]:
    schema = f"bench_web_{uuid.uuid4().hex[:10]}"
    settings = DatabaseSettings.from_url(f"{POSTGRES}?schema={schema}")
    try:
        yield settings
    finally:
        with Connection(settings, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def token_for(settings: DatabaseSettings) -> str:
    connections = ReadConnections(settings, max_size=1)
    try:
        _, token = TokenStore(connections).create("bench", ["*"], [], utcnow())
    finally:
        connections.close()
    return token


@contextmanager
def client_for(base: str, token: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        yield client


@contextmanager
def browser_for(base: str, token: str) -> Iterator[httpx.Client]:
    """A client logged in through the real form: GET /login for its CSRF secret (and the
    signed cookie holding it), POST the token; it keeps the session cookie."""
    with httpx.Client(base_url=base, timeout=30) as browser:
        found = CSRF.search(ok(browser.get("/login")).text)
        if found is None:
            raise SystemExit("the login form holds no CSRF field")
        form = {"csrf": found.group(1), "token": token, "next": "/operations"}
        response = browser.post("/login", data=form)
        if response.status_code != 303 or SESSION_COOKIE not in browser.cookies:
            raise SystemExit(f"login answered {response.status_code}: {response.text[:500]}")
        yield browser


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def web_server(settings: DatabaseSettings) -> Iterator[str]:
    """A `runledger web` process on a free port, until it answers /healthz; stopped after."""
    port = free_port()
    env = {
        **os.environ,
        "RUNLEDGER_DATABASE_URL": settings.url,
        "RUNLEDGER_SECRET_KEY": "bench-secret-key-of-enough-length",
        "RUNLEDGER_WEB_HOST": "127.0.0.1",
    }
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [RUNLEDGER, "web", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, server, log)
            yield base
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_until_up(base: str, server: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"runledger web exited: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("runledger web did not answer /healthz within 30 s")


def report(servers: list[Server]) -> bool:
    print("\nJSON API")
    passed = table(servers, API)
    print("\nHTML pages")
    passed = table(servers, PAGES) and passed
    print("\nms per request (p50, p95); ratio of the p95s; KB per answer")
    for s in servers:
        fits = s.page_bytes <= TARGET_PAGE_BYTES
        passed = passed and fits
        verdict = f"{'PASS' if fits else 'FAIL'}: target <= {TARGET_PAGE_BYTES // 1000} KB"
        print(f"a page of 50 runs at {s.runs:,} runs: {s.page_bytes / 1000:.1f} KB ({verdict})")
    return passed


def table(servers: list[Server], routes: dict[str, Url]) -> bool:
    """A Markdown table of the routes' p50 and p95 at each size; True if all of them pass."""
    small, big = servers[0], servers[1] if len(servers) > 1 else servers[0]
    sizes = " | ".join(f"p50 {s.runs:,} | p95 {s.runs:,}" for s in servers)
    kbs = " | ".join(f"KB {s.runs:,}" for s in servers)
    print(f"| route | {sizes} | p95 {big.runs:,} / {small.runs:,} | result | {kbs} |")
    print("|---|" + "---:|" * (2 * len(servers) + 1) + "---|" + "---:|" * len(servers))
    passed = True
    for name in routes:
        ratio = big.quantile(name, 95) / small.quantile(name, 95)
        good = big.quantile(name, 95) <= TARGET_P95_MS and ratio <= TARGET_RATIO
        passed = passed and good
        cells = " | ".join(
            f"{s.quantile(name, 50):.1f} | {s.quantile(name, 95):.1f}" for s in servers
        )
        kb = " | ".join(f"{s.sizes[name] / 1000:.1f}" for s in servers)
        print(f"| {name} | {cells} | {ratio:.2f} | {'PASS' if good else 'FAIL'} | {kb} |")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="runs of the baseline size")
    parser.add_argument("--big", type=int, default=1_000_000, help="runs of the target size")
    parser.add_argument("--large", action="store_true", help="also 10M runs (about 1 hour)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per route")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per route")
    args = parser.parse_args()
    sizes = [args.small, args.big, *([10_000_000] if args.large else [])]
    for attempt in (1, 2, 3):  # a shared server's tests restart PostgreSQL now and then
        try:
            with ExitStack() as stack:
                servers = [stack.enter_context(serving(size)) for size in sizes]
                compare(servers, API, api_get, args.requests, args.warmup)
                compare(servers, PAGES, page_get, args.requests, args.warmup)
                sys.exit(0 if report(servers) else 1)
        except (psycopg.OperationalError, httpx.TransportError, Interrupted) as error:
            print(f"interrupted ({str(error).splitlines()[0]}); attempt {attempt} of 3")
    raise SystemExit("interrupted three times")


if __name__ == "__main__":
    main()
