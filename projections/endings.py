"""What each reason code says about how a run ended: one small function per code.

A table (`ENDINGS`) rather than an if-chain, so a new reason code is one new entry and a
missing one is caught by the tests that walk every `ReasonCode`. Each function returns
the headline and the detail sentences. The headline is built from fixed words and
numbers only: raw error text goes to the diagnostics (see `projections.explain`).
Nothing here depends on `now`: times read relative to the day the run completed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger import Outcome, ReasonCode
from projections.rows import RunRow
from projections.wording import (
    clock,
    counted,
    duration,
    pairs,
    progress_text,
    seconds_of,
    span,
)

__all__ = ["ARQ_STATES", "ENDINGS", "Ending", "Told"]

Told = tuple[str, Sequence[str | None]]  # (headline, details); a None detail is dropped

# arq's job state as the reconciler saw it (workers.reconcile_rules.ArqJobState values).
ARQ_STATES = {
    "in_progress": "arq still had it in progress",
    "complete": "arq had stored a result for it",
    "queued": "arq still had it queued",
    "deferred": "arq had it deferred, waiting to run it again",
    "not_found": "arq had no trace of the job",
}
# An exception's type at the start of an error text: "ValueError: ...", "asyncio.TimeoutError".
_ERROR_KIND = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?=:|$)")
_HIDDEN_SUMMARY_KEYS = ("error", "evidence")  # raw material: shown in the diagnostics


@dataclass(frozen=True)
class Ending:
    """A completed run and the evidence its ending left behind."""

    run: RunRow
    error: str | None = None  # the raw error text, wherever it was recorded
    evidence: Mapping[str, Any] = field(default_factory=dict)  # ReconciledStale's evidence
    last_beat_at: datetime | None = None
    last_progress: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> str:
        return f"attempt {self.run.attempts} of {self.run.max_tries}"

    def at(self, moment: datetime) -> str:
        """A time, with its date unless it is the day the run completed."""
        return clock(moment, self.run.completed_at)


def _error_kind(error: str | None) -> str | None:
    """ "ValueError" from "ValueError: bad row 7"; None when the text names no type."""
    match = _ERROR_KIND.match(error or "")
    return match.group(0) if match else None


def _summary_sentence(summary: Mapping[str, Any], empty: str) -> str:
    shown = {k: v for k, v in summary.items() if k not in _HIDDEN_SUMMARY_KEYS}
    return f"The job reported {pairs(shown)}." if shown else empty


def _error_sentence(error: str | None) -> str:
    kind = _error_kind(error)
    if kind:
        return f"It raised {kind}; the full error is in the diagnostics."
    if error:
        return "The full error is in the diagnostics."
    return "No error text was recorded."


# -- ended by the job --------------------------------------------------------------------


def _succeeded(e: Ending) -> Told:
    return f"Succeeded on {e.attempt}.", [
        _summary_sentence(e.run.summary, "The job returned no summary.")
    ]


def _partially_succeeded(e: Ending) -> Told:
    headline = f"Partially succeeded on {e.attempt}: the job did only part of its work."
    return headline, [_summary_sentence(e.run.summary, "The job gave no details.")]


def _failed(e: Ending) -> Told:
    details = [_summary_sentence(e.run.summary, "The job gave no details.")]
    if e.error:
        details.append("Its error is in the diagnostics.")
    return f"Failed on {e.attempt}: the job reported a failure.", details


def _exception(e: Ending) -> Told:
    return f"Failed on {e.attempt}: the job raised an exception.", [_error_sentence(e.error)]


# -- ended by the queue ------------------------------------------------------------------


def _timeout(e: Ending) -> Told:
    timeout = e.run.timeout
    limit = f"its {duration(timeout)} timeout" if timeout else "its timeout"
    headline = f"Failed on {e.attempt}: the job ran longer than {limit}, so arq cancelled it."
    advice = (
        "If the work legitimately takes longer, raise the operation's timeout; "
        "`runledger check` validates it against arq's redelivery window."
    )
    return headline, [advice]


def _max_tries_exceeded(e: Ending) -> Told:
    tries = counted(e.run.max_tries, "try", "tries")
    headline = f"Failed: the job used up its {tries}, so arq gave up on it."
    seen = counted(e.run.attempts, "attempt")
    return headline, [
        f"The ledger saw {seen} start; max_tries is {e.run.max_tries}.",
        "Tries cut short by a crashed or shut-down worker count too, and arq does not "
        "run a job again once its tries are used up.",
    ]


def _expired(e: Ending) -> Told:
    headline = "Failed: the job expired in arq's queue before a worker ran it."
    completed = e.run.completed_at
    if completed is None:
        return headline, []
    return headline, [f"It expired {span(e.run.queued_at, completed)} after it was queued."]


def _aborted(e: Ending) -> Told:
    if e.error and "while running" in e.error:
        when = f"It was aborted while {e.attempt} was running."
    elif e.run.attempts == 0:
        when = "It was aborted before any worker started it."
    else:
        when = f"It was aborted while waiting for attempt {e.run.attempts + 1}."
    return "Cancelled: the job was aborted through arq.", [when]


def _worker_shutdown(e: Ending) -> Told:
    headline = f"Failed on {e.attempt}: the worker shut down while the job was running."
    return headline, ["arq did not run it again."]


def _function_missing(e: Ending) -> Told:
    headline = "Failed: the worker that picked it up does not serve this operation."
    return headline, [
        f"No function named '{e.run.operation_type}' is registered on that worker, so arq "
        "failed the job without running it.",
        "Check the worker's --jobs module (RUNLEDGER_JOBS).",
    ]


def _deserialize_error(e: Ending) -> Told:
    headline = "Failed: arq could not decode the stored job, so it never ran."
    return headline, [
        "The worker could not deserialize the job's arguments; check that the application "
        "that enqueues and the worker run the same code and serializer."
    ]


# -- ended by the reconciler -------------------------------------------------------------


def _idle_sentence(e: Ending) -> str | None:
    idle = seconds_of(e.evidence.get("idle_seconds"))
    threshold = seconds_of(e.evidence.get("threshold_seconds"))
    if idle is None:
        return None
    if threshold is None:
        return f"No sign of life for {duration(idle)}."
    return f"No sign of life for {duration(idle)}; the threshold is {duration(threshold)}."


def _arq_sentence(e: Ending) -> str | None:
    state = ARQ_STATES.get(str(e.evidence.get("arq_job_state")))
    if state is None:
        return None
    checked = _moment(e.evidence.get("checked_at"))
    if checked is None:
        return f"{state}."
    return f"When the reconciler checked at {e.at(checked)}, {state}."


def _last_beat_sentence(e: Ending) -> str:
    progress = progress_text(e.last_progress)
    said = f": {progress}." if progress else "."
    if e.last_beat_at is not None:
        return f"Its last heartbeat was at {e.at(e.last_beat_at)}{said}"
    if e.run.heartbeats:
        return f"It sent {counted(e.run.heartbeats, 'heartbeat')}{said}"
    return "It sent no heartbeat."


def _reconciled(e: Ending, *sentences: str | None) -> list[str | None]:
    return [_idle_sentence(e), _arq_sentence(e), *sentences]


def _stale_queued(e: Ending) -> Told:
    headline = "Failed: no worker started it in time, so the reconciler closed it."
    return headline, _reconciled(e)


def _stale_running(e: Ending) -> Told:
    headline = (
        f"Failed on {e.attempt}: the run stopped showing signs of life, "
        "so the reconciler closed it."
    )
    cause = "A worker that dies (killed, out of memory, a deploy) leaves a run like this."
    return headline, _reconciled(e, _last_beat_sentence(e), cause)


def _job_lost(e: Ending) -> Told:
    headline = "Failed: arq lost track of the job, so the reconciler closed it."
    grace = seconds_of(e.evidence.get("grace_seconds"))
    after = f"once the {duration(grace)} grace for enqueueing has passed" if grace else "at once"
    lost = f"A job arq has no trace of is closed {after}, without waiting for the threshold."
    never_started = e.run.attempts == 0 and e.evidence.get("previous_status") != "running"
    cause = (
        "It never started: most likely the enqueue that follows `Queued` never reached arq."
        if never_started
        else None
    )
    return headline, _reconciled(e, lost, cause)


def _queue_result(e: Ending) -> Told:
    result = e.evidence.get("arq_result")
    result = result if isinstance(result, Mapping) else {}
    succeeded = e.run.outcome == Outcome.SUCCEEDED or result.get("success") is True
    word, kind = ("Succeeded", "successful") if succeeded else ("Failed", "failed")
    headline = (
        f"{word}: arq stored a {kind} result that no worker reported; the reconciler recorded it."
    )
    job_try = result.get("job_try")
    which = f"arq's result is for try {job_try}" if isinstance(job_try, int) else "arq's result"
    details = (
        [f"{which}: the job succeeded."]
        if succeeded
        else [f"{which}: the job failed.", _error_sentence(e.error)]
    )
    return headline, [*details, _arq_sentence(e)]


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


ENDINGS: dict[ReasonCode, Callable[[Ending], Told]] = {
    ReasonCode.JOB_SUCCEEDED: _succeeded,
    ReasonCode.JOB_PARTIALLY_SUCCEEDED: _partially_succeeded,
    ReasonCode.JOB_FAILED: _failed,
    ReasonCode.JOB_EXCEPTION: _exception,
    ReasonCode.QUEUE_TIMEOUT: _timeout,
    ReasonCode.QUEUE_MAX_TRIES_EXCEEDED: _max_tries_exceeded,
    ReasonCode.QUEUE_EXPIRED: _expired,
    ReasonCode.QUEUE_ABORTED: _aborted,
    ReasonCode.QUEUE_WORKER_SHUTDOWN: _worker_shutdown,
    ReasonCode.QUEUE_FUNCTION_MISSING: _function_missing,
    ReasonCode.QUEUE_DESERIALIZE_ERROR: _deserialize_error,
    ReasonCode.RECONCILER_STALE_QUEUED: _stale_queued,
    ReasonCode.RECONCILER_STALE_RUNNING: _stale_running,
    ReasonCode.RECONCILER_JOB_LOST: _job_lost,
    ReasonCode.RECONCILER_QUEUE_RESULT: _queue_result,
}
