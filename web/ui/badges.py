"""The state badge of a run: what an operator reads first, told by colour, icon AND words.

Built from the run's JSON document (projections.document.run_json), the very object the
API serves, so a page and `/api/runs` never disagree about a run. Each kind has its
own colour (web/static/ui.css, `.badge--KIND`), its own icon shape (web/templates/
icons.html) and its own words, so no kind is told by colour alone. `kind` is also the
badge's `data-badge` attribute, which the browser tests select on.

| kind | when |
|---|---|
| queued | queued, fresh: waiting for a worker within its threshold |
| running | running, fresh (with its progress when the job reports one) |
| stale | queued or running past its threshold: when the reconciler will close it |
| succeeded | completed, succeeded (by the job, or arq's result bridged by the reconciler) |
| partially_succeeded | completed: the job did part of its work |
| failed_by_job | the job reported a failure or raised |
| failed_by_queue | arq failed it: timeout, retries exhausted, expired, ... |
| failed_by_reconciler | the reconciler closed it: orphaned, never started, job lost |
| cancelled | aborted through arq |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.explain import next_reconcile_pass
from projections.wording import duration, progress_text
from web.ui.times import moment

__all__ = ["KINDS", "REASON_WORDS", "Badge", "badge_of", "ending_kind"]

# kind -> (words, icon): the legend of docs/ui.md and the chips use the same words.
KINDS: dict[str, tuple[str, str]] = {
    "queued": ("Queued", "queued"),
    "running": ("Running", "running"),
    "stale": ("Stale", "stale"),
    "succeeded": ("Succeeded", "succeeded"),
    "partially_succeeded": ("Partially succeeded", "partial"),
    "failed_by_job": ("Failed by the job", "failed-job"),
    "failed_by_queue": ("Failed by the queue", "failed-queue"),
    "failed_by_reconciler": ("Failed by reconciliation", "failed-reconciler"),
    "cancelled": ("Cancelled", "cancelled"),
    "completed": ("Completed", "completed"),  # a reason this version does not know
}
# The second line of a completed run's badge: its reason code in a few words.
REASON_WORDS = {
    "job.succeeded": None,
    "job.partially_succeeded": None,
    "job.failed": "reported a failure",
    "job.exception": "raised an exception",
    "queue.timeout": "timeout",
    "queue.max_tries_exceeded": "retries exhausted",
    "queue.expired": "expired in the queue",
    "queue.aborted": "aborted",
    "queue.worker_shutdown": "worker shut down",
    "queue.function_missing": "function missing",
    "queue.deserialize_error": "undecodable job",
    "reconciler.stale_queued": "never started",
    "reconciler.stale_running": "orphaned",
    "reconciler.job_lost": "job lost",
    "reconciler.queue_result": "from arq's result",
}
_FAILED_BY = {
    "job": "failed_by_job",
    "queue": "failed_by_queue",
    "reconciler": "failed_by_reconciler",
}
_OUTCOME_KINDS = ("succeeded", "partially_succeeded", "cancelled")


@dataclass(frozen=True)
class Badge:
    kind: str
    label: str
    icon: str
    detail: str | None = None  # the second line: a reason, attempts, progress text
    idle: str | None = None  # stale: how long without a sign of life ("14 min")
    reconcile_at: str | None = None  # stale: ISO time of the reconciler pass that heals it
    progress: tuple[float, float] | None = None  # running: (done, total) for a <progress>

    @property
    def words(self) -> str:
        """Everything the badge says, in one line (its accessible name and hover text)."""
        if self.kind == "stale":
            return f"{self.label} ({self.detail}): no activity for {self.idle}"
        return f"{self.label}: {self.detail}" if self.detail else self.label


def badge_of(run: Mapping[str, Any], now: datetime, reconcile_interval: float) -> Badge:
    """The badge of a run document as of `now`."""
    status = run.get("status")
    if status in ("queued", "running") and run.get("freshness") == "stale":
        return _stale(run, now, reconcile_interval)
    if status == "queued":
        return _make("queued", "waiting for a worker")
    if status == "running":
        return _running(run)
    return _completed(run)


def _make(kind: str, detail: str | None = None, **extra: Any) -> Badge:
    label, icon = KINDS[kind]
    return Badge(kind, label, icon, detail, **extra)


def _stale(run: Mapping[str, Any], now: datetime, interval: float) -> Badge:
    last = moment(run.get("last_activity_at")) or now
    heal_at = next_reconcile_pass(now, interval, after=True)
    was = "never started" if run.get("status") == "queued" else "was running"
    return _make(
        "stale",
        was,
        idle=_whole_minutes((now - last).total_seconds()),
        reconcile_at=heal_at.isoformat().replace("+00:00", "Z"),
    )


def _whole_minutes(seconds: float) -> str:
    """ "14 min" rather than "14 min 36 s": the badge is read at a glance (the
    explanation on the run's page keeps the seconds)."""
    return duration(seconds if seconds < 60 else seconds - seconds % 60)


def _running(run: Mapping[str, Any]) -> Badge:
    progress: Mapping[str, Any] = run.get("progress") or {}
    done, total = _number(progress.get("done")), _number(progress.get("total"))
    bar = (min(done, total), total) if done is not None and total else None
    attempt = f"attempt {run.get('attempts')} of {run.get('max_tries')}"
    said = progress_text(progress)
    return _make("running", f"{attempt} · {said}" if said else attempt, progress=bar)


def ending_kind(outcome: str | None, ended_by: str | None) -> str:
    """The kind of a completed run (also the overview strip's): by outcome, and for a
    failure by who ended it."""
    if outcome == "failed":
        return _FAILED_BY.get(str(ended_by), "failed_by_job")
    return str(outcome) if outcome in _OUTCOME_KINDS else "completed"


def _completed(run: Mapping[str, Any]) -> Badge:
    kind = ending_kind(run.get("outcome"), run.get("ended_by"))
    words = REASON_WORDS.get(str(run.get("reason_code")))
    if kind == "succeeded":
        attempts = run.get("attempts") or 0
        tried = f"on attempt {attempts}" if isinstance(attempts, int) and attempts > 1 else None
        return _make(kind, words or tried)
    if kind == "completed":
        return _make(kind, str(run.get("reason_code") or "no reason recorded"))
    return _make(kind, words)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
