"""What each demo run should end as, and how the dashboard tells it.

Each `Story` names the operation that tells it and the ending the contract documents for
it (status, outcome, ended_by, reason_code); `told` reads the run's document from the
JSON API, as an operator's dashboard would, and says whether the story is told yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]
Ending = tuple[str, str | None, str | None, str | None]  # status, outcome, ended_by, reason


@dataclass(frozen=True)
class Story:
    key: str
    title: str
    operation: str
    ending: Ending
    params: dict[str, Any] = field(default_factory=dict)
    extra: Callable[[Document], bool] = lambda document: True

    def told(self, document: Document) -> bool:
        """The run ended (or stands) as documented, and the dashboard explains it."""
        found = tuple(document.get(k) for k in ("status", "outcome", "ended_by", "reason_code"))
        explained = bool(document.get("explanation", {}).get("headline"))
        return found == self.ending and explained and self.extra(document)


def _done(document: Document) -> int:
    return int((document.get("progress") or {}).get("done", 0))


def _finished_progress(document: Document) -> bool:
    progress = document.get("progress") or {}
    return document["heartbeats"] >= 3 and progress.get("done") == progress.get("total")


def _has_late_signal(document: Document) -> bool:
    return int(document.get("late_signals", 0)) >= 1


def _stale(document: Document) -> bool:
    return document.get("freshness") == "stale"


STORIES: tuple[Story, ...] = (
    Story("succeeded", "succeeded, with a summary", "demo.sync_inventory",
          ("completed", "succeeded", "job", "job.succeeded"), {"warehouse": "north"}),
    Story("partial", "partially succeeded", "demo.import_orders",
          ("completed", "partially_succeeded", "job", "job.partially_succeeded")),
    Story("failed", "failed by the job", "demo.validate_catalog",
          ("completed", "failed", "job", "job.failed")),
    Story("exception", "raised an exception (with markup in its message)", "demo.parse_feed",
          ("completed", "failed", "job", "job.exception")),
    Story("timeout", "timed out", "demo.export_report",
          ("completed", "failed", "queue", "queue.timeout")),
    Story("retries", "exhausted its retries", "demo.call_partner_api",
          ("completed", "failed", "queue", "queue.max_tries_exceeded")),
    Story("progress", "a long run that heartbeats with progress", "demo.reindex_search",
          ("completed", "succeeded", "job", "job.succeeded"), extra=_finished_progress),
    Story("stale", "stale, waiting for the reconciler", "demo.rebuild_thumbnails",
          ("running", None, None, None), extra=_stale),
    Story("orphaned", "orphaned: its worker was SIGKILLed mid-job", "demo.rebuild_thumbnails",
          ("completed", "failed", "reconciler", "reconciler.stale_running")),
    Story("job_lost", "job lost: its arq job vanished", "demo.sync_inventory",
          ("completed", "failed", "reconciler", "reconciler.job_lost"), {"warehouse": "south"}),
    Story("late_signal", "a late signal recorded after the end", "demo.sync_inventory",
          ("completed", "failed", "reconciler", "reconciler.job_lost"), extra=_has_late_signal),
    Story("running", "still running", "demo.backfill_history",
          ("running", None, None, None), extra=lambda d: _done(d) >= 2 and not _stale(d)),
)  # fmt: skip
BY_KEY = {story.key: story for story in STORIES}
# Stories told by a run another story queued (the same run seen at a later moment).
SAME_RUN_AS = {"stale": "orphaned", "late_signal": "job_lost"}
