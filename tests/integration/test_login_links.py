"""One-time login links open a session once, never twice, and never after they expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from ledger import DatabaseSettings, utcnow
from projections.db import Connection
from projections.pool import ReadConnections
from web.login_links import LoginLinks


@pytest.fixture
def links(migrated_url: str) -> Iterator[LoginLinks]:
    connections = ReadConnections(DatabaseSettings.from_url(migrated_url), max_size=2)
    yield LoginLinks(connections)
    connections.close()


def test_a_link_works_once(links: LoginLinks) -> None:
    now = utcnow()
    code = links.create("tok_0123456789", now)
    assert links.use(code, now) == "tok_0123456789"
    assert links.use(code, now) is None


def test_a_link_expires_unused(links: LoginLinks) -> None:
    now = utcnow()
    code = links.create("tok_0123456789", now, lifetime=timedelta(minutes=5))
    assert links.use(code, now + timedelta(minutes=5, seconds=1)) is None


def test_an_unknown_or_malformed_code_opens_nothing(links: LoginLinks) -> None:
    assert links.use("not-a-code", utcnow()) is None
    assert links.use("", utcnow()) is None
    assert links.use("x" * 1000, utcnow()) is None


def test_only_a_hash_of_the_code_is_stored(links: LoginLinks, migrated_url: str) -> None:
    code = links.create("tok_0123456789", utcnow())
    with Connection(DatabaseSettings.from_url(migrated_url)) as conn:
        rows = conn.execute("SELECT * FROM {s}web_login_links")
    assert rows and code not in repr(rows)
