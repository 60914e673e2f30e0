"""`runledger reconcile`: one reconciler pass over runs orphaned in queued or running."""

from __future__ import annotations

import argparse
import asyncio
import json

from runledger.settings import Settings
from workers.reconcile_cron import open_reconciler
from workers.reconcile_rules import DEFAULT_GRACE_SECONDS
from workers.reconciler import ReconcileReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be healed; append nothing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="how long a run may lack any arq trace before it counts as lost "
        f"(covers the gap between queueing and enqueueing; default {DEFAULT_GRACE_SECONDS:g})",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(_pass(args, settings))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    return 0


async def _pass(args: argparse.Namespace, settings: Settings) -> ReconcileReport:
    async with open_reconciler(settings.database, settings.queue, grace=args.grace) as reconciler:
        return await reconciler.run_once(dry_run=args.dry_run)


def _print_report(report: ReconcileReport) -> None:
    verb = "would heal" if report.dry_run else "healed"
    healed = [h for h in report.healed if h.applied or report.dry_run]
    print(f"checked {report.checked} idle queued/running runs; {verb} {len(healed)}")
    for h in report.healed:
        note = "" if h.applied or report.dry_run else "  (already resolved by another writer)"
        print(
            f"  {h.run_id}  {h.previous_status:<8} arq:{h.arq_job_state:<11} "
            f"-> {h.outcome} ({h.reason_code}){note}"
        )
    for why, count in sorted(report.skipped.items()):
        print(f"  left alone: {count} ({why})")
    if report.jobs_removed:
        print(f"  removed {report.jobs_removed} waiting arq jobs of healed runs")
