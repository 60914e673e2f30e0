"""`runledger token` as an operator runs it: the token once, on the last line; never again."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledger import DatabaseSettings, utcnow
from projections.pool import ReadConnections
from projections.scope import Scope
from runledger.wiring import migrate_all
from tests.e2e.cli import one_clear_line, runledger
from web.tokens import AUDIT_READ, RUNS_READ, Principal, TokenStore

TOKEN = re.compile(r"rlt_tok_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """A migrated ledger on each store, as `runledger migrate` leaves it."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    database_url = str(request.getfixturevalue(name))
    list(migrate_all(DatabaseSettings.from_url(database_url)))
    return database_url


@pytest.fixture
def store(url: str) -> Iterator[TokenStore]:
    """The store as the web app opens it, to check what the command made."""
    connections = ReadConnections(DatabaseSettings.from_url(url))
    yield TokenStore(connections)
    connections.close()


def token_cli(url: str, *args: str) -> tuple[int, str, str]:
    done = runledger("token", *args, RUNLEDGER_DATABASE_URL=url)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def create(url: str, *args: str) -> str:
    code, out, err = token_cli(url, "create", *args)
    assert code == 0, err
    return out.splitlines()[-1]


def listed(url: str) -> list[dict[str, object]]:
    code, out, err = token_cli(url, "list", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert isinstance(document, list)
    return document


def test_create_prints_the_token_alone_on_the_last_line_and_it_authenticates(
    url: str, store: TokenStore
) -> None:
    code, out, err = token_cli(
        url, "create", "--operator", "alice", "--workspace", "acme", "--workspace", "beta"
    )

    assert code == 0, err
    *said, token = out.splitlines()
    assert TOKEN.fullmatch(token), out
    assert token not in "\n".join(said) + err
    assert "alice" in said[0] and "acme" in said[0]
    assert "not shown again" in out
    principal = store.authenticate(token, utcnow())
    assert principal == Principal(
        token_id=token[4:18],
        operator="alice",
        scope=Scope.of(["acme", "beta"]),
        capabilities=frozenset({RUNS_READ, AUDIT_READ}),
    )


def test_list_shows_every_token_but_never_the_token_itself(url: str) -> None:
    token = create(url, "--operator", "alice", "--workspace", "*", "--capability", "audit:read")
    token_id = token[4:18]

    code, table, err = token_cli(url, "list")
    _, document, _ = token_cli(url, "list", "--json")
    (entry,) = json.loads(document)

    assert code == 0, err
    assert token_id in table and "alice" in table and "audit:read" in table
    assert entry["id"] == token_id
    assert entry["operator"] == "alice"
    assert entry["workspaces"] == ["*"]
    assert entry["capabilities"] == ["audit:read"]
    created = datetime.fromisoformat(str(entry["created_at"]))
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert entry["last_used_at"] is None
    assert entry["revoked_at"] is None
    secret = token.removeprefix(f"rlt_{token_id}_")  # its alphabet holds "_"
    assert len(secret) >= 40
    assert secret not in table and secret not in document


def test_revoke_refuses_the_token_from_then_on(url: str, store: TokenStore) -> None:
    token = create(url, "--operator", "alice", "--workspace", "acme")
    token_id = token[4:18]
    assert store.authenticate(token, utcnow()) is not None

    code, out, err = token_cli(url, "revoke", token_id)

    assert code == 0, err
    assert "revoked" in out and token_id in out
    assert store.authenticate(token, utcnow()) is None
    (entry,) = listed(url)
    assert entry["revoked_at"] is not None


def test_revoking_an_unknown_token_is_one_clear_line(url: str) -> None:
    code, out, err = token_cli(url, "revoke", "tok_0000000000")

    assert code == 2
    assert out == ""
    line = one_clear_line(err)
    assert "tok_0000000000" in line and "token list" in line


def test_an_unknown_capability_is_one_clear_line_and_makes_no_token(url: str) -> None:
    code, out, err = token_cli(
        url, "create", "--operator", "alice", "--workspace", "acme", "--capability", "runs:write"
    )

    assert code == 2
    assert not TOKEN.search(out)
    line = one_clear_line(err)
    assert "runs:write" in line and RUNS_READ in line
    assert listed(url) == []


def test_tokens_before_migrate_ask_for_migrate(sqlite_url: str) -> None:
    code, _, err = token_cli(sqlite_url, "list")

    assert code == 2
    assert "runledger migrate" in one_clear_line(err)
