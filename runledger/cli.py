"""`runledger` command line: parses arguments, dispatches, turns known errors into one line.

Each subcommand lives in its own module under runledger.commands with
`add_arguments(parser)` and `run(args, settings) -> int`. Only the chosen one is
imported, so `runledger migrate` does not load arq or starlette. The environment is read
once, into the Settings every command is given.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from runledger.errors import describe_error
from runledger.settings import Settings

# name -> what it does, in the order `runledger --help` lists them; each is the module
# runledger.commands.NAME, imported only when it runs.
SUBCOMMANDS: dict[str, str] = {
    "migrate": "create the event store and read-model tables (safe to run again)",
    "worker": "run an arq worker for the operations of --jobs, recording every run's transitions",
    "enqueue": "queue a run of an operation type and print its run id",
    "check": "check the operations' timeouts and stale thresholds against arq's redelivery window",
    "project": "project ledger events into the monitoring read models (exactly once, batched)",
    "replay": (
        "rebuild the read models from the event store beside the live ones, then swap them in"
    ),
    "reconcile": (
        "resolve runs stuck in queued or running, using arq's record of each job as evidence"
    ),
    "web": "serve the monitoring views and the JSON API (needs RUNLEDGER_SECRET_KEY)",
    "demo": "run a demo: a private ledger, Redis, workers and dashboard, every way a run ends",
    "token": "create, list and revoke operators' tokens for the web views and API",
    "runs": "list runs, or show one: how it ended (or why it is stale), its timeline, diagnostics",
}


# The longest argparse message printed whole (a 1 MB unknown argument is cut).
ERROR_TEXT_LIMIT = 500


# Undecodable bytes of argv reach Python as lone surrogates (PEP 383).
_NOT_UTF8 = re.compile("[\ud800-\udfff]")
# `--option=--`: argparse 3.11 hands the command `[]` for it, never running its type.
_DASHES_VALUE = re.compile(r"-[^=]+=--")


class OneLineParser(argparse.ArgumentParser):
    """Refuses bad arguments in one line on stderr, exit 2, as every runledger error reads
    (argparse's own prints its usage first): `runledger CMD: message (see ...--help)`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {one_line(message)} (see `{self.prog} --help`)\n")


def refuse_unusable(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Refuses, as argparse refuses, what argparse itself would let through: an argument
    that is not valid UTF-8 (no job, store or terminal could take it) and `--option=--`."""
    for arg in argv:
        if _NOT_UTF8.search(arg):
            parser.error(f"argument {arg!r} is not valid UTF-8 (check the terminal's encoding)")
    for arg in argv:
        if arg == "--":
            break
        if _DASHES_VALUE.fullmatch(arg):
            parser.error(f"argument {arg.partition('=')[0]}: expected a value, not '--'")


def one_line(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """`text` cut to `limit` characters, with newlines and other unprintable characters
    (a value the user typed may hold them) escaped, so it stays one line."""
    if len(text) > limit:
        text = text[:limit] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"runledger.commands.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="runledger",
        description="An event-sourced ledger of background job runs on arq.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            _load(name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --jobs names modules of the application being run from here (as arq's CLI does).
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    parser = build_parser(only=chosen)
    refuse_unusable(parser, argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(_load(args.command).run(args, Settings.from_env()))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        message = describe_error(error)
        if message is None:
            raise
        print(f"runledger {args.command}: {message}", file=sys.stderr)
        return 2
