"""`runledger token`: create, list and revoke the tokens operators sign in with.

`create` prints the token once, alone on the last line of stdout so a script can take
it with `tail -n 1`; only its hash is stored, so it can never be shown again. Nothing
else here prints a token or its hash.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from ledger import DatabaseSettings, utcnow
from projections.db import Connection
from runledger.settings import Settings
from web.tokens import CAPABILITIES, TokenError, TokenInfo, TokenStore

_COLUMNS = ("ID", "OPERATOR", "WORKSPACES", "CAPABILITIES", "CREATED", "LAST USED", "REVOKED")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="make a token and print it, once: only its hash is stored",
        description="Makes a token for an operator and prints it once, alone on the last line.",
    )
    create.add_argument("--operator", required=True, metavar="NAME", help="who the token is for")
    create.add_argument(
        "--workspace",
        action="append",
        required=True,
        metavar="W",
        help="a workspace the token may read; repeatable; '*' is every workspace",
    )
    create.add_argument(
        "--capability",
        action="append",
        default=[],
        metavar="C",  # checked by the store, so a refusal reads like every other error
        help=f"one of {', '.join(CAPABILITIES)}; repeatable (default: all of them)",
    )
    listing = actions.add_parser("list", help="show every token (never the token itself)")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="a token id, as `token list` shows")


def run(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings.database) as store:
        if args.action == "create":
            return _create(store, args)
        if args.action == "list":
            return _list(store, as_json=args.json)
        return _revoke(store, args.token_id)


@contextmanager
def _open_store(settings: DatabaseSettings) -> Iterator[TokenStore]:
    connections = _OneConnection(settings)
    try:
        yield TokenStore(connections)
    finally:
        connections.close()


class _OneConnection:
    """One autocommit connection for a one-shot command.

    A pool (what the web app lends the store) would retry an unreachable server for
    seconds and then report only that it timed out; connecting once fails at once, with
    the driver's own reason.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self._conn = Connection(settings, autocommit=True)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        yield self._conn

    def close(self) -> None:
        self._conn.close()


def _create(store: TokenStore, args: argparse.Namespace) -> int:
    """Makes a token for an operator and prints it once, alone on the last line."""
    info, token = store.create(args.operator, args.workspace, args.capability, utcnow())
    print(
        f"created token {info.id} for operator {info.operator}: "
        f"workspaces {', '.join(info.workspaces)}; capabilities {', '.join(info.capabilities)}"
    )
    print("store it now: it is not shown again")
    print(token)
    return 0


def _list(store: TokenStore, *, as_json: bool) -> int:
    tokens = store.list()
    if as_json:
        print(json.dumps([info.to_json() for info in tokens], indent=2))
    elif not tokens:
        print("no tokens yet (make one with `runledger token create`)")
    else:
        print("\n".join(_table([_cells(info) for info in tokens])))
    return 0


def _revoke(store: TokenStore, token_id: str) -> int:
    info = store.get(token_id)
    if info is None:
        raise TokenError(f"no token with id {token_id!r}", hint="`runledger token list` shows them")
    if info.revoked_at is not None:
        print(f"token {info.id} ({info.operator}) was already revoked at {_when(info.revoked_at)}")
        return 0
    store.revoke(info.id, utcnow())
    print(f"revoked token {info.id} ({info.operator}): it no longer authenticates")
    return 0


def _cells(info: TokenInfo) -> tuple[str, ...]:
    return (
        info.id,
        info.operator,
        ",".join(info.workspaces),
        ",".join(info.capabilities),
        _when(info.created_at),
        _when(info.last_used_at, none="never"),
        _when(info.revoked_at, none="-"),
    )


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(_COLUMNS, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (_COLUMNS, *rows)
    ]


def _when(moment: datetime | None, *, none: str = "") -> str:
    return none if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
