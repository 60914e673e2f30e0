"""`runledger migrate`: create every table once, before any long-running process starts."""

from __future__ import annotations

import argparse

from runledger.settings import Settings
from runledger.wiring import migrate_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace, settings: Settings) -> int:
    for line in migrate_all(settings.database):
        print(line)
    print(f"migrated {settings.database.display()}")
    return 0
