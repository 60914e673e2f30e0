"""Options several subcommands share, declared once so they read the same everywhere."""

from __future__ import annotations

import argparse


def add_jobs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        metavar="MODULE",
        help="module(s) declaring the operations, comma-separated (default: $RUNLEDGER_JOBS)",
    )
