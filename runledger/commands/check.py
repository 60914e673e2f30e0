"""`runledger check`: the timing guard, without starting a worker."""

from __future__ import annotations

import argparse

from runledger.commands.options import add_jobs_option
from runledger.settings import Settings
from workers import load_operations
from workers.timing import timing_report
from workers.worker import cron_jobs_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_jobs_option(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    operations = load_operations(settings.jobs(args.jobs))
    report = timing_report(operations, cron_jobs_for(operations, settings.reconcile_interval))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
