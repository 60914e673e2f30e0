"""Operators' tokens on both stores: who a token speaks for, and every way it is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledger import DatabaseSettings
from projections.db import Connection
from projections.pool import ReadConnections
from projections.scope import Scope
from web.tokens import (
    AUDIT_READ,
    CAPABILITIES,
    RUNS_READ,
    TokenError,
    TokenStore,
    migrate_web,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(migrated_url: str) -> DatabaseSettings:
    return DatabaseSettings.from_url(migrated_url)


@pytest.fixture
def store(settings: DatabaseSettings) -> Iterator[TokenStore]:
    connections = ReadConnections(settings)
    yield TokenStore(connections)
    connections.close()


def secret_of(token: str, token_id: str) -> str:
    """The random part of a token: its alphabet holds "_", so strip the known prefix."""
    secret = token.removeprefix(f"rlt_{token_id}_")
    assert len(secret) >= 40
    return secret


def stored_rows(settings: DatabaseSettings) -> list[tuple[object, ...]]:
    with Connection(settings) as conn:
        return conn.execute("SELECT * FROM {s}web_tokens")


def test_a_created_token_authenticates_as_its_operator_in_its_workspaces(
    store: TokenStore,
) -> None:
    info, token = store.create("alice", ["beta", "acme"], [RUNS_READ], NOW)

    principal = store.authenticate(token, NOW)

    assert principal is not None
    assert principal.token_id == info.id
    assert principal.operator == "alice"
    assert principal.scope == Scope.of(["acme", "beta"])
    assert principal.scope.allows("acme")
    assert not principal.scope.allows("gamma")
    assert principal.can(RUNS_READ)
    assert not principal.can(AUDIT_READ)
    assert info.workspaces == ("acme", "beta")


def test_a_token_made_without_capabilities_can_do_everything(store: TokenStore) -> None:
    info, token = store.create("alice", ["acme"], [], NOW)

    principal = store.authenticate(token, NOW)

    assert info.capabilities == CAPABILITIES
    assert principal is not None
    assert principal.capabilities == frozenset({RUNS_READ, AUDIT_READ})


def test_a_star_workspace_reads_every_workspace(store: TokenStore) -> None:
    info, token = store.create("root", ["acme", "*"], [AUDIT_READ], NOW)

    principal = store.authenticate(token, NOW)

    assert info.workspaces == ("*",)
    assert principal is not None
    assert principal.scope.is_everything
    assert principal.scope.allows("any-workspace-at-all")


def _wrong_secret(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _unknown_id(token: str) -> str:
    return token.replace(token[4:18], "tok_0000000000")


def _same_id_other_secret(token: str) -> str:
    return token[:19] + "x" * (len(token) - 19)


@pytest.mark.parametrize(
    "tamper",
    [
        _wrong_secret,
        _unknown_id,
        _same_id_other_secret,
        lambda token: token + "x",
        lambda token: token[:-1],
        lambda token: f"Bearer {token}",
        lambda token: token.upper(),
        lambda token: token[4:],
        lambda token: "",
        lambda token: "rlt_",
        lambda token: "rlt_tok_zzzzzzzzzz_" + token[19:],
    ],
    ids=[
        "wrong-secret",
        "unknown-id",
        "other-secret",
        "too-long",
        "too-short",
        "with-scheme",
        "upper-case",
        "no-prefix",
        "empty",
        "prefix-only",
        "bad-id",
    ],
)
def test_a_tampered_token_authenticates_as_nobody(
    store: TokenStore, tamper: Callable[[str], str]
) -> None:
    _, token = store.create("alice", ["acme"], [], NOW)
    forged = tamper(token)
    assert forged != token

    assert store.authenticate(forged, NOW) is None
    assert store.authenticate(token, NOW) is not None  # the real one still works


def test_revoking_a_token_refuses_it_at_once(store: TokenStore) -> None:
    info, token = store.create("alice", ["acme"], [], NOW)
    _, other = store.create("bob", ["acme"], [], NOW)
    assert store.authenticate(token, NOW) is not None

    assert store.revoke(info.id, NOW + timedelta(seconds=1)) is True

    assert store.authenticate(token, NOW + timedelta(seconds=1)) is None
    assert store.authenticate(other, NOW + timedelta(seconds=1)) is not None
    revoked = store.get(info.id)
    assert revoked is not None
    assert revoked.revoked_at == NOW + timedelta(seconds=1)


def test_revoking_again_keeps_the_first_time_and_an_unknown_id_is_false(
    store: TokenStore,
) -> None:
    info, _ = store.create("alice", ["acme"], [], NOW)
    store.revoke(info.id, NOW)

    assert store.revoke(info.id, NOW + timedelta(hours=1)) is True
    assert store.revoke("tok_0000000000", NOW) is False
    again = store.get(info.id)
    assert again is not None
    assert again.revoked_at == NOW


def test_listing_never_shows_a_token_or_its_hash(store: TokenStore) -> None:
    info, token = store.create("alice", ["acme"], [], NOW)
    store.authenticate(token, NOW)
    secret = secret_of(token, info.id)
    digest = hashlib.sha256(token.encode()).hexdigest()

    (listed,) = store.list()

    assert listed.id == info.id
    assert listed.operator == "alice"
    shown = [repr(listed), json.dumps(listed.to_json()), *map(str, vars(listed).values())]
    for text in shown:
        assert token not in text
        assert secret not in text
        assert digest not in text


def test_the_list_says_when_each_token_was_made_used_and_revoked(store: TokenStore) -> None:
    first, token = store.create("alice", ["acme"], [], NOW)
    second, _ = store.create("bob", ["*"], [AUDIT_READ], NOW + timedelta(seconds=1))
    store.authenticate(token, NOW + timedelta(minutes=5))
    store.revoke(second.id, NOW + timedelta(minutes=6))

    documents = [info.to_json() for info in store.list()]

    assert [d["id"] for d in documents] == [first.id, second.id]
    assert documents[0]["last_used_at"] == (NOW + timedelta(minutes=5)).isoformat()
    assert documents[0]["revoked_at"] is None
    assert documents[1] == {
        "id": second.id,
        "operator": "bob",
        "workspaces": ["*"],
        "capabilities": [AUDIT_READ],
        "created_at": (NOW + timedelta(seconds=1)).isoformat(),
        "last_used_at": None,
        "revoked_at": (NOW + timedelta(minutes=6)).isoformat(),
    }


def test_last_use_is_recorded_at_most_once_a_minute(store: TokenStore) -> None:
    info, token = store.create("alice", ["acme"], [], NOW)

    def last_used() -> datetime | None:
        current = store.get(info.id)
        assert current is not None
        return current.last_used_at

    assert last_used() is None
    store.authenticate(token, NOW + timedelta(seconds=5))
    assert last_used() == NOW + timedelta(seconds=5)
    store.authenticate(token, NOW + timedelta(seconds=50))
    assert last_used() == NOW + timedelta(seconds=5)  # within the minute: no write
    store.authenticate(token, NOW + timedelta(seconds=65))
    assert last_used() == NOW + timedelta(seconds=65)


def test_a_refused_token_records_no_use(store: TokenStore) -> None:
    info, token = store.create("alice", ["acme"], [], NOW)

    store.authenticate(_wrong_secret(token), NOW)

    listed = store.get(info.id)
    assert listed is not None
    assert listed.last_used_at is None


def test_the_table_holds_a_hash_of_the_token_and_never_the_token(
    store: TokenStore, settings: DatabaseSettings
) -> None:
    info, token = store.create("alice", ["acme"], [], NOW)
    secret = secret_of(token, info.id)

    (row,) = stored_rows(settings)

    assert info.id in row
    assert hashlib.sha256(token.encode()).hexdigest() in row
    assert all(secret not in str(value) for value in row)


@pytest.mark.parametrize("capabilities", [["runs:write"], [RUNS_READ, "admin"], [""]])
def test_an_unknown_capability_is_refused(
    store: TokenStore, settings: DatabaseSettings, capabilities: list[str]
) -> None:
    with pytest.raises(TokenError, match="unknown capability") as refused:
        store.create("alice", ["acme"], capabilities, NOW)

    assert RUNS_READ in refused.value.hint
    assert stored_rows(settings) == []


@pytest.mark.parametrize("workspaces", [[], [""], ["   "], ["acme", ""]])
def test_a_token_needs_a_named_workspace(
    store: TokenStore, settings: DatabaseSettings, workspaces: list[str]
) -> None:
    with pytest.raises(TokenError, match="workspace"):
        store.create("alice", workspaces, [], NOW)

    assert stored_rows(settings) == []


@pytest.mark.parametrize("operator", ["", "  ", "eve\nrevoked"])
def test_a_token_needs_a_printable_operator_name(store: TokenStore, operator: str) -> None:
    with pytest.raises(TokenError, match="operator"):
        store.create(operator, ["acme"], [], NOW)


def test_migrating_the_web_tables_again_changes_nothing(
    store: TokenStore, settings: DatabaseSettings
) -> None:
    _, token = store.create("alice", ["acme"], [], NOW)

    assert migrate_web(settings) == "web: ready"

    assert store.authenticate(token, NOW) is not None
