"""`runledger project`: keep the read models current (or catch up once with --once)."""

from __future__ import annotations

import argparse
import signal
from types import FrameType

from projections.runner import CatchUpRunner, RunnerOptions
from runledger.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="catch up to the ledger's head, then exit"
    )
    parser.add_argument(
        "--batch-size", type=int, default=500, metavar="N", help="events per transaction"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how often SQLite is polled for new events (PostgreSQL is woken by NOTIFY)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    options = RunnerOptions(batch_size=args.batch_size, poll_interval=args.poll_interval)
    runner = CatchUpRunner(settings.database, options)
    if args.once:
        count = runner.run_once()
        print(f"projected {count} events")
        return 0

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run_forever()
    return 0
