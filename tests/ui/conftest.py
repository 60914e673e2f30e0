"""Fixtures of the HTML views' HTTP tests: per store, one ledger filled with the scenery
(module-wide), the app over it in-process with a clock the tests move, and tokens.

The pages are fetched with Starlette's TestClient, as a browser without JavaScript
would: the browser tests (Playwright) drive the real `runledger web` instead.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import pytest

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from ledger import DatabaseSettings, RunLedger, utcnow
from projections import MonitoringView
from projections.db import Connection
from projections.events import EventLog
from projections.projector import catch_up
from runledger.wiring import migrate_all
from tests.conftest import store_url
from tests.ui.scenery import fill
from web.app import create_app
from web.context import WebContext
from web.settings import WebSettings
from web.tokens import TokenStore

SECRET = "ui-tests-secret-key-0123456789abcdef"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Clock:
    """The app's clock: fixed at the scenery's `now`, moved by the tests that need it."""

    start: datetime
    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return self.start + self.offset


@dataclass
class Site:
    settings: WebSettings
    context: WebContext
    runs: dict[str, UUID]
    clock: Clock
    app: object

    @property
    def view(self) -> MonitoringView:
        return self.context.view

    @property
    def tokens(self) -> TokenStore:
        return self.context.tokens

    def token(self, workspaces: list[str], capabilities: list[str] | None = None) -> str:
        operator = f"op-{uuid.uuid4().hex[:6]}"
        _, token = self.tokens.create(operator, workspaces, capabilities or [], self.clock())
        return token

    def client(self, **kwargs: object) -> TestClient:
        return TestClient(self.app, follow_redirects=False, **kwargs)  # type: ignore[arg-type]

    def browser(self, workspaces: list[str] | None = None, **kwargs: object) -> TestClient:
        """A client logged in with a new token (every workspace, every capability)."""
        client = self.client(**kwargs)
        login(client, self.token(workspaces or ["*"]))
        return client

    def project(self) -> None:
        database = self.settings.database
        with Connection(database) as conn:
            catch_up(conn, EventLog(database))

    def ledger(self) -> RunLedger:
        return RunLedger(self.settings.database, clock=self.clock)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page holds no CSRF field"
    return found.group(1)


def login(client: TestClient, token: str, next_path: str = "/operations") -> None:
    form = client.get("/login")
    response = client.post(
        "/login", data={"csrf": csrf_of(form.text), "token": token, "next": next_path}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The scenery on each store, projected, and the app over it."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")
    with store_url(request.param, tmp_path_factory.mktemp("ui")) as url:
        database = DatabaseSettings.from_url(url)
        list(migrate_all(database))
        clock = Clock(utcnow().replace(microsecond=0))
        ledger = RunLedger(database, clock=clock)
        try:
            runs = fill(ledger, clock(), history=40)
        finally:
            ledger.close()
        settings = WebSettings(database=database, secret_key=SECRET)
        view = MonitoringView(database)
        context = WebContext(settings, view, TokenStore(view.connections), clock=clock)
        site = Site(settings, context, runs, clock, create_app(settings, context))
        site.project()
        try:
            yield site
        finally:
            context.close()


@pytest.fixture(autouse=True)
def _clock_back(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that move the clock leave it where the scenery put it."""
    yield
    if "site" in request.fixturenames:
        site: Site = request.getfixturevalue("site")
        site.clock.offset = timedelta()


@pytest.fixture
def browser(site: Site) -> Iterator[TestClient]:
    """A logged-in operator who may see every workspace."""
    with site.browser() as client:
        yield client
