"""`runledger replay`: rebuild every read model from the event store, then swap it in."""

from __future__ import annotations

import argparse
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from projections.replay import replay
from runledger.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-size", type=int, default=20_000, metavar="N", help="events read per query"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, settings: Settings) -> int:
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=args.quiet, transient=False, console=None) as bar:
        task = bar.add_task("replay", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = replay(settings.database, batch_size=args.batch_size, progress=advance)
    print(
        f"replayed {result.events} events of {result.runs} runs in {result.seconds:.1f}s "
        f"({result.rate:,.0f} events/s); read models now at position {result.position}",
        file=sys.stdout,
    )
    return 0
