"""`runledger demo`: every way a run can end, told by real processes on private stores.

A fresh SQLite ledger and a private Redis on a free port, two workers (each running the
reconciler's cron), a worker for the orphan's queue, the projector and `runledger web`.
It queues the demo's runs, prints the dashboard's address and a token, and a line per
story as the dashboard tells it. Ctrl-C stops every process it started. `--check` runs
the same flow, stops, and exits 0 only when every story ended as documented.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runledger.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from runledger.demo.runner import Demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="run the flow, stop, exit 0 iff every story ended"
    )
    parser.add_argument(
        "--dir", type=Path, metavar="DIR",
        help="keep the demo's ledger and logs here (emptied first; default: a temp dir)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, help="the dashboard's port (default 8000 if free)")
    parser.add_argument(
        "--report", type=Path, metavar="FILE", help="write the stories' runs and token as JSON"
    )
    parser.add_argument(
        "--queue-only", action="store_true",
        help="queue the demo's runs into the configured ledger and queue (RUNLEDGER_*), "
        "start nothing; for compose.yaml, when the workers serve runledger.demo.jobs",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=150.0, metavar="SECONDS",
        help="how long --check waits for every story (default 150)",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from rich.console import Console

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    if args.queue_only:
        from runledger.demo.queueing import queue_demo_runs

        return asyncio.run(queue_demo_runs(Console(highlight=False)))

    from runledger.demo.runner import Demo, Options

    _stop_on_signals()
    console = Console(highlight=False)
    options = Options(args.check, args.dir, args.port, args.report, args.timeout)
    demo = Demo(options, console)
    try:
        demo.prepare()
        demo.start_processes()
        _greet(demo, console)
        asyncio.run(demo.queue_runs())
        told = asyncio.run(demo.watch())
        demo.write_report()
        return _conclude(demo, console, told)
    except KeyboardInterrupt:
        console.print("\nstopping the demo's processes")
        return 0 if not options.check else 130
    finally:
        demo.stop()


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the demo through its cleanup (a shell that started
    it in the background left SIGINT ignored; Python then never raises for it)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def _greet(demo: Demo, console: Console) -> None:
    console.print("[bold]runledger demo[/bold]: every way a run can end, on a private ledger")
    console.print(f"  ledger     {demo.settings.display()}")
    console.print(f"  redis      {demo.env['RUNLEDGER_REDIS_URL']} (private)")
    console.print(f"  dashboard  [link]{demo.url}/operations[/link]")
    console.print(f"  sign in    [link]{demo.login_link}[/link]  (works once)")
    console.print(
        "  more logins: RUNLEDGER_DATABASE_URL="
        f"{demo.env['RUNLEDGER_DATABASE_URL']} runledger token create --operator NAME "
        "--workspace '*'",
        soft_wrap=True,
    )
    console.print("  the stories, as the dashboard tells them:")


def _conclude(demo: object, console: object, told: bool) -> int:
    from rich.console import Console

    from runledger.demo.runner import Demo
    from runledger.demo.stories import STORIES

    assert isinstance(demo, Demo) and isinstance(console, Console)
    if not told:
        missing = [s.title for s in STORIES if s.key not in demo.told]
        console.print(
            f"[red]not told within {demo.options.timeout:g} s:[/red] {', '.join(missing)}"
        )
        return 1
    console.print(f"every story told in {max(demo.told.values()):.0f} s.")
    if demo.options.check:
        return 0
    console.print(f"the dashboard stays up at {demo.url}/operations; Ctrl-C stops the demo.")
    while True:  # until Ctrl-C; a process that dies ends the demo with its log's name
        for name in list(demo.supervisor.processes):
            demo.supervisor.check_alive(name)
        time.sleep(1)
