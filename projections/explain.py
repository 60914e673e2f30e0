"""How a run ended, or why it is fresh or stale, told to an operator in plain words.

The JSON API, `runledger runs show` and the HTML views all show this one explanation,
so its wording is decided here once. `explain` is a pure function of the run's row, its
timeline and `now`: no I/O, no clock. The headline is safe to show anyone who may see
the run; raw error text, worker ids and the job id go to `diagnostics` (shown second,
collapsed). A completed run's explanation never depends on `now`, so the same run reads
the same every time; only a queued or running run mentions relative times.

The timeline may be partial or hold folded heartbeats (`heartbeats` entries standing for
several); missing evidence drops a sentence, never the explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ledger import EndedBy, Outcome, ReasonCode, RunStatus, stale_at, stale_threshold
from ledger.codes import RECONCILER_REASONS
from projections.endings import ENDINGS, Ending, Told
from projections.rows import RunRow, TimelineEntry
from projections.run_history import RunHistory, read_history
from projections.wording import (
    clock,
    counted,
    duration,
    progress_text,
    retry_reason_words,
    seconds_of,
    span,
    utc,
)

__all__ = ["Explanation", "explain", "next_reconcile_pass"]

_OUTCOMES = {
    Outcome.SUCCEEDED: "Succeeded",
    Outcome.PARTIALLY_SUCCEEDED: "Partially succeeded",
    Outcome.FAILED: "Failed",
    Outcome.CANCELLED: "Cancelled",
}
_RETRIES_LISTED = 3


@dataclass(frozen=True)
class Explanation:
    """The `explanation` object of the run JSON (see DESIGN.md, "Web monitoring and API")."""

    headline: str  # one operator-safe sentence: no error text, worker id or job id
    details: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "details": list(self.details),
            "diagnostics": dict(self.diagnostics),
        }


def explain(
    run: RunRow,
    timeline: Sequence[TimelineEntry],
    now: datetime,
    reconcile_interval: float = 30.0,
) -> Explanation:
    """Explain `run` from its row and its timeline (oldest first) as of `now`.

    `reconcile_interval` is the reconciler cron's period in seconds (a divisor of 60):
    it predicts when a stale run will be reconciled.
    """
    history = read_history(timeline)
    status = RunStatus(run.status)
    if status is RunStatus.COMPLETED:
        headline, details = _ended(run, history)
    else:
        headline, details = _active(run, status, history, utc(now), reconcile_interval)
    return Explanation(headline, [d for d in details if d], _diagnostics(run, history))


def next_reconcile_pass(moment: datetime, interval: float, *, after: bool = False) -> datetime:
    """The first reconciler pass at `moment` or later (strictly later with `after`).

    The reconciler is an arq cron job that starts on the seconds of each minute that are
    multiples of `interval`, so this rounds up to the next such boundary.
    """
    step, moment = max(1, int(interval)), utc(moment)
    minute = moment.replace(second=0, microsecond=0)
    ticks = (minute + timedelta(seconds=s) for s in (*range(0, 60, step), 60))
    return next(t for t in ticks if t > moment or (t == moment and not after))


# -- a queued or running run ------------------------------------------------------------


def _active(
    run: RunRow, status: RunStatus, history: RunHistory, now: datetime, interval: float
) -> Told:
    threshold = duration(stale_threshold(status, run.policy) or 0.0)
    deadline = stale_at(status, utc(run.last_activity_at), run.policy) or now
    if now >= deadline:
        return _stale(run, status, history, now, threshold, interval)
    pass_at = clock(next_reconcile_pass(deadline, interval), now)
    turns_stale = (
        f"it turns stale at {clock(deadline, now)} (in {span(now, deadline)}; "
        f"the threshold is {threshold}) and will be reconciled at {pass_at}."
    )
    if status is RunStatus.QUEUED:
        since = _since(run.queued_at, now)
        return f"Waiting for a worker since {since}.", [f"If no worker starts it, {turns_stale}"]
    headline, details = _running(run, history, now)
    return headline, [*details, f"Without a sign of life, {turns_stale}"]


def _stale(
    run: RunRow,
    status: RunStatus,
    history: RunHistory,
    now: datetime,
    threshold: str,
    interval: float,
) -> Told:
    idle = span(run.last_activity_at, now)
    pass_at = clock(next_reconcile_pass(now, interval, after=True), now)
    sentence = (
        f"No sign of life for {idle}; the threshold is {threshold}; "
        f"it will be reconciled at {pass_at}."
    )
    if status is RunStatus.QUEUED:
        return f"Stale: no worker has started it in {idle}.", [sentence]
    return f"Stale: attempt {_attempt(run)} has shown no sign of life for {idle}.", [
        sentence,
        _beat_sentence(run, history, now),
        "The reconciler leaves it alone while arq still has the job in progress.",
        _retries_sentence(history.retries),
    ]


def _running(run: RunRow, history: RunHistory, now: datetime) -> Told:
    retry = history.retries[-1] if history.retries else None
    if retry is None or (history.start is not None and retry.at < history.start.at):
        started = history.start.at if history.start else run.started_at or run.queued_at
        headline = f"Running attempt {_attempt(run)} since {_since(started, now)}."
        return headline, [_beat_sentence(run, history, now), _retries_sentence(history.retries)]
    details = retry.details or {}
    defer = seconds_of(details.get("defer_seconds")) or 0.0
    when = (
        f"arq will run it again from {clock(retry.at + timedelta(seconds=defer), now)}"
        if defer > 0
        else "arq will run it again when a worker is free"
    )
    headline = f"Waiting for arq to retry it: attempt {_attempt(run)} ended."
    reason = _retry_reason(details)
    return headline, [f"Attempt {run.attempts} ended because {reason}; {when}."]


def _beat_sentence(run: RunRow, history: RunHistory, now: datetime) -> str:
    progress = progress_text(history.beat_progress or run.progress)
    said = f": {progress}" if progress else ""
    count = max(run.heartbeats, history.beats)
    if history.beat_at is not None:
        ago = span(history.beat_at, now)
        return f"Last heartbeat {ago} ago{said} ({counted(count, 'heartbeat')} so far)."
    return f"{counted(count, 'heartbeat')} so far{said}." if count else "No heartbeat yet."


def _since(moment: datetime, now: datetime) -> str:
    return f"{clock(moment, now)} ({span(moment, now)})"


def _attempt(run: RunRow) -> str:
    return f"{run.attempts} of {run.max_tries}"


def _retry_reason(details: Mapping[str, Any]) -> str:
    reason = details.get("reason")
    return retry_reason_words(reason) or (f"of {reason}" if reason else "of an unknown reason")


# -- a completed run -------------------------------------------------------------------


def _ended(run: RunRow, history: RunHistory) -> Told:
    ending = Ending(
        run=run,
        error=_error(run, history),
        evidence=_evidence(run, history),
        last_beat_at=history.beat_at,
        last_progress=history.beat_progress or run.progress,
    )
    reason = _reason(run.reason_code)
    tell = ENDINGS.get(reason) if reason is not None else None
    headline, details = tell(ending) if tell is not None else _unexplained(run)
    return headline, [
        *details,
        _took_sentence(run),
        _retries_sentence(history.retries),
        _late_sentence(run, history),
    ]


def _reason(code: str | None) -> ReasonCode | None:
    try:
        return ReasonCode(code) if code is not None else None
    except ValueError:
        return None


def _unexplained(run: RunRow) -> Told:
    outcome = _OUTCOMES.get(run.outcome) if run.outcome else None
    headline = f"{outcome or 'Completed'}; the ledger recorded no reason it could explain."
    if run.reason_code is None:
        return headline, ["No reason code was recorded."]
    return headline, [f"Its reason code '{run.reason_code}' is not one this version knows."]


def _took_sentence(run: RunRow) -> str | None:
    if run.completed_at is None:
        return None
    ended = f"It ended at {clock(run.completed_at)}"
    if run.started_at is None:
        waited = span(run.queued_at, run.completed_at)
        return f"{ended}, {waited} after it was queued, without ever starting."
    took, waited = span(run.started_at, run.completed_at), span(run.queued_at, run.started_at)
    return f"{ended}, {took} after it first started (it waited {waited} for a worker)."


# -- sentences and diagnostics for any run ---------------------------------------------


def _retries_sentence(retries: Sequence[TimelineEntry]) -> str | None:
    if not retries:
        return None
    listed = [
        f"after attempt {r.attempt} ({_retry_reason(r.details)})"
        if r.attempt
        else f"once ({_retry_reason(r.details)})"
        for r in retries[:_RETRIES_LISTED]
    ]
    if len(retries) > _RETRIES_LISTED:
        listed.append(f"{len(retries) - _RETRIES_LISTED} more times")
    return f"{counted(len(retries), 'retry', 'retries')} scheduled: {', '.join(listed)}."


def _late_sentence(run: RunRow, history: RunHistory) -> str | None:
    count = max(run.late_signals, len(history.late))
    if not count:
        return None
    kinds = f" ({', '.join(dict.fromkeys(history.late))})" if history.late else ""
    return (
        f"{counted(count, 'signal')}{kinds} arrived after the run ended; "
        f"{'it was' if count == 1 else 'they were'} recorded and changed nothing."
    )


def _evidence(run: RunRow, history: RunHistory) -> dict[str, Any]:
    """The reconciler's evidence: in the row's summary, or in the timeline's last event."""
    if run.ended_by != EndedBy.RECONCILER and run.reason_code not in RECONCILER_REASONS:
        return {}
    evidence = run.summary.get("evidence") or history.ending.get("evidence")
    return dict(evidence) if isinstance(evidence, Mapping) else {}


def _error(run: RunRow, history: RunHistory) -> str | None:
    """The raw error text: the ending's own, arq's stored one, else the last retry's."""
    result = _evidence(run, history).get("arq_result")
    candidates = [
        run.summary.get("error"),
        result.get("error") if isinstance(result, Mapping) else None,
        history.ending.get("error"),
        *(r.details.get("error") for r in reversed(history.retries)),
    ]
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _diagnostics(run: RunRow, history: RunHistory) -> dict[str, Any]:
    evidence = _evidence(run, history)
    start = history.start.details if history.start else {}
    found: dict[str, Any] = {
        "job_id": str(run.id),
        "reason_code": str(run.reason_code) if run.reason_code else None,
        "worker_id": run.worker_id or start.get("worker_id"),
        "attempts": run.attempts,
        "max_tries": run.max_tries,
        "error": _error(run, history),
        "progress": dict(run.progress) or None,
        "arq_job_state": evidence.get("arq_job_state"),
        "arq_result": evidence.get("arq_result"),
        "evidence": evidence or None,
    }
    return {key: value for key, value in found.items() if value is not None}
