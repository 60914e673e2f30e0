"""`runledger migrate`: create every table once, before any long-running process starts."""

from __future__ import annotations

import argparse

from runledger.wiring import migrate_all, settings_from_env

NAME = "migrate"
HELP = "create the event store and read-model tables (safe to run again)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    for line in migrate_all(settings):
        print(line)
    print(f"migrated {settings.display()}")
    return 0
