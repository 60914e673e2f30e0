"""`runledger` command line: parses arguments, dispatches, turns known errors into one line.

Each subcommand lives in its own module under runledger.commands with `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Modules are imported only when needed,
so `runledger migrate` does not load arq or starlette.
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

# name -> module; keep in the order `runledger --help` should list them.
SUBCOMMANDS: dict[str, str] = {
    "migrate": "runledger.commands.migrate",
    "worker": "runledger.commands.worker",
    "enqueue": "runledger.commands.enqueue",
    "check": "runledger.commands.check",
    "project": "runledger.commands.project",
    "replay": "runledger.commands.replay",
    "reconcile": "runledger.commands.reconcile",
    "web": "runledger.commands.web",
    "demo": "runledger.commands.demo",
    "token": "runledger.commands.token",
    "runs": "runledger.commands.runs",
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
    return importlib.import_module(SUBCOMMANDS[name])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="runledger",
        description="An event-sourced ledger of background job runs on arq.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_path in SUBCOMMANDS.items():
        if only is not None and name != only:
            # Keep --help complete without importing every module.
            subparsers.add_parser(name, help=_help_of(module_path))
            continue
        module = _load(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
    return parser


def _help_of(module_path: str) -> str:
    module = importlib.import_module(module_path)
    return str(module.HELP)


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
        return int(_load(args.command).run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        message = describe_error(error)
        if message is None:
            raise
        print(f"runledger {args.command}: {message}", file=sys.stderr)
        return 2
