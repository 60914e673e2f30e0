"""`runledger check`: the timing guard, without starting a worker."""

from __future__ import annotations

import argparse

from runledger.commands.options import add_jobs_option
from workers import load_operations
from workers.settings import jobs_from_env
from workers.worker import cron_jobs_for, timing_report

NAME = "check"
HELP = "check the operations' timeouts and stale thresholds against arq's redelivery window"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_jobs_option(parser)


def run(args: argparse.Namespace) -> int:
    operations = load_operations(jobs_from_env(args.jobs) or "")
    report = timing_report(operations, cron_jobs_for(operations))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
