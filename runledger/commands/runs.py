"""`runledger runs`: list runs and show one, from the read models, as the JSON API does.

`list` takes the filters of `GET /api/runs` as options built from the same declarations
(web/params.py) and parsed by the same functions, so the command and the API accept the
same values and refuse the rest with the same words. `--json` prints the API's document
byte for byte: the same serializer (projections.document) and the same encoding as the
API's responses. The command reads every workspace: whoever can reach the database can
read the whole ledger anyway.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID

from ledger import DatabaseSettings, LedgerError, utcnow
from projections import MonitoringView, ReadRequestError, RunFilters, Scope
from projections.db import DISCONNECTED, Connection
from projections.document import run_document, runs_page_json
from runledger.commands import tables
from runledger.settings import Settings

if TYPE_CHECKING:
    from web.params import Param


EVERY_WORKSPACE = Scope.every_workspace()


class RunsCommandError(LedgerError):
    """`runledger runs` cannot answer as asked: an unknown run, a cursor of another listing."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from web import params  # loads starlette: only when this command runs

    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_OneLineParser
    )
    listing = actions.add_parser(
        "list",
        help="runs newest first, filtered as GET /api/runs is",
        description="Runs newest first, with the filters of GET /api/runs as options.",
    )
    for param in (*params.RUN_FILTERS, params.LIMIT, params.CURSOR):
        _add_option(listing, param)
    listing.add_argument("--json", action="store_true", help="print GET /api/runs's document")
    show = actions.add_parser(
        "show",
        help="one run: its explanation, timeline and diagnostics",
        description="One run: its explanation first, then its timeline, then diagnostics.",
    )
    show.add_argument("run_id", metavar="RUN_ID", type=_run_id, help="a run id (a UUID)")
    show.add_argument(
        "--json", action="store_true", help="print exactly what GET /api/runs/RUN_ID answers"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    interval = float(settings.reconcile_interval)  # the explanations predict passes
    with _open_view(settings.database) as view:
        if args.action == "list":
            return _list(view, args, interval)
        return _show(view, args.run_id, interval, as_json=args.json)


def _list(view: MonitoringView, args: argparse.Namespace, interval: float) -> int:
    from web import params

    now = utcnow()
    # Built as web/api.py builds it, from the same declarations.
    filters = RunFilters(**{p.name: getattr(args, p.name) for p in params.RUN_FILTERS})
    try:
        page = view.list_runs(
            EVERY_WORKSPACE, filters, limit=args.limit, cursor=args.cursor, now=now
        )
    except ReadRequestError as error:
        option = f"--{error.parameter.replace('_', '-')}"
        raise RunsCommandError(
            str(error).replace(error.parameter, option, 1),
            hint="the last lines of `runledger runs list` print the cursors to pass",
        ) from None
    document = runs_page_json(page, now, reconcile_interval=interval)
    if args.json:
        print_json(document)
    else:
        print(tables.runs_table(document, now))
    return 0


def _show(view: MonitoringView, run_id: UUID, interval: float, *, as_json: bool) -> int:
    now = utcnow()
    document = run_document(view, EVERY_WORKSPACE, run_id, now, reconcile_interval=interval)
    if document is None:
        raise RunsCommandError(
            f"no run with id {run_id}", hint="`runledger runs list` shows the runs there are"
        )
    if as_json:
        print_json(document)
    else:
        print(tables.run_text(document, now))
    return 0


def encode_json(document: Any) -> bytes:
    """The bytes the API answers with: Starlette's JSONResponse encoding (compact UTF-8)."""
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def print_json(document: Any) -> None:
    """One document on one line; bytes, so the terminal's encoding cannot change them."""
    sys.stdout.flush()
    sys.stdout.buffer.write(encode_json(document) + b"\n")
    sys.stdout.buffer.flush()


# -- options ---------------------------------------------------------------------------


class _OneLineParser(argparse.ArgumentParser):
    """Refuses a bad value in one line on stderr with exit 2, as every runledger error reads."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _add_option(parser: argparse.ArgumentParser, param: Param) -> None:
    hint = ""
    if param.kind == "choice" and not all(c in param.description for c in param.choices):
        hint = f"; one of {', '.join(param.choices)}"
    elif param.kind == "time":
        hint = "; ISO 8601, e.g. 2026-12-01T10:00:00Z"
    parser.add_argument(
        f"--{param.name.replace('_', '-')}",
        dest=param.name,
        type=_parser_of(param),
        default=param.default,
        metavar="TIME" if param.kind == "time" else param.name.upper(),
        help=f"{param.description}{hint}",
    )


def _parser_of(param: Param) -> Any:
    """An argparse `type` that parses as the API does and refuses with the API's message."""
    from web.errors import ApiError

    def parse(text: str) -> Any:
        if not text.strip():
            return param.default  # as in the API: an empty value means "not filtered"
        try:
            return param.parse(text.strip())
        except ApiError as error:
            raise argparse.ArgumentTypeError(error.message) from None

    parse.__name__ = param.name  # argparse names the type in some messages
    return parse


def _run_id(text: str) -> UUID:
    try:
        return UUID(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id (a UUID, as `runledger runs list` prints)"
        ) from None


# -- the database ----------------------------------------------------------------------


@contextmanager
def _open_view(settings: DatabaseSettings) -> Iterator[MonitoringView]:
    view = MonitoringView(settings, connections=_OneConnection(settings))
    try:
        yield view
    finally:
        view.close()


class _OneConnection:
    """One autocommit connection for a one-shot command, opened when first needed.

    A pool (what the web app reads through) retries an unreachable server for seconds,
    logging each try, and then reports only that it timed out; connecting once fails at
    once with the driver's own reason, which runledger/errors.py turns into one line.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self._settings = settings
        self._conn: Connection | None = None

    @contextmanager
    def connection(self, wait: float | None = None) -> Iterator[Connection]:
        if self._conn is None:
            self._conn = Connection(self._settings, autocommit=True)
        try:
            yield self._conn
        except DISCONNECTED:
            self.close()  # the view tries once more, on a new connection
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
