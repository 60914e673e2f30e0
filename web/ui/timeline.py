"""A run's timeline as the detail page shows it: one step per event, in plain words.

Built from `projections.document.timeline_json` (the API's own entries, with the time
since the previous one and runs of heartbeats already folded). The step's title and
note use fixed words, the reason's words and counters; the raw payload goes to the
diagnostics, pretty-printed, where raw error text belongs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projections.wording import clock, counted, pairs, progress_text, retry_reason_words
from web.ui.badges import REASON_WORDS
from web.ui.times import moment

__all__ = ["Step", "pretty", "steps"]

Told = tuple[str, str | None]
_OUTCOMES = {
    "succeeded": "succeeded",
    "partially_succeeded": "partially succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class Step:
    version: int
    at: str
    event: str
    title: str
    note: str | None
    actor: str
    attempt: int | None
    since_previous: float | None
    payload: str  # the event's details as indented JSON
    tone: str = ""  # how the event left the run: succeeded, failed, ... ("" for no change)

    @property
    def folded(self) -> bool:
        return self.event == "heartbeats"


def pretty(value: Any) -> str:
    """JSON an operator can read: indented, keys sorted, non-ASCII kept as is."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def steps(entries: Sequence[Mapping[str, Any]]) -> list[Step]:
    out: list[Step] = []
    for entry in entries:
        details: Mapping[str, Any] = entry.get("details") or {}
        tell = _TELLERS.get(str(entry.get("event")))
        title, note = tell(entry, details) if tell else (str(entry.get("event")), None)
        out.append(
            Step(
                version=int(entry.get("version") or 0),
                at=str(entry.get("at")),
                event=str(entry.get("event")),
                title=title,
                note=note,
                actor=str(entry.get("actor")),
                attempt=entry.get("attempt"),
                since_previous=entry.get("since_previous_seconds"),
                payload=pretty(details),
                tone=_tone(str(entry.get("event")), details),
            )
        )
    return out


def _tone(event: str, details: Mapping[str, Any]) -> str:
    """The colour of an ending event's dot follows its outcome, not its kind."""
    if event in ("completed", "queue_failed", "reconciled_stale"):
        return str(details.get("outcome") or "")
    return ""


def _reason(details: Mapping[str, Any]) -> str:
    code = str(details.get("reason_code") or "")
    return REASON_WORDS.get(code) or code or "no reason recorded"


def _queued(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    params = d.get("params_summary") or {}
    note = f"parameters {pairs(params)}" if params else "no parameters"
    return f"Queued by {d.get('initiator') or entry.get('actor')}", note


def _started(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    return f"Attempt {entry.get('attempt')} started", f"on {d.get('worker_id') or 'a worker'}"


def _heartbeat(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    return "Heartbeat", progress_text(d.get("progress") or {}) or None


def _heartbeats(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    count = d.get("count") if isinstance(d.get("count"), int) else 0
    span = ""
    if isinstance(d.get("first_at"), str) and isinstance(d.get("last_at"), str):
        first, last = moment(d["first_at"]), moment(d["last_at"])
        assert first is not None and last is not None
        span = f"{clock(first, first)} to {clock(last, first)}"
    progress = progress_text(d.get("last_progress") or {})
    said = [part for part in (span, f"last progress {progress}" if progress else "") if part]
    return counted(int(count or 0), "heartbeat"), "; ".join(said) or None


def _retry(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    defer = d.get("defer_seconds")
    when = f", again in {defer:g} s" if isinstance(defer, int | float) and defer > 0 else ""
    raw = d.get("reason")
    reason = retry_reason_words(raw) or str(raw or "no reason given")
    return f"Retry scheduled after attempt {entry.get('attempt')}", f"{reason}{when}"


def _completed(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    outcome = _OUTCOMES.get(str(d.get("outcome")), str(d.get("outcome")))
    summary = d.get("summary") or {}
    shown = {k: v for k, v in summary.items() if k not in ("error", "evidence")}
    note = f"the job reported {pairs(shown)}" if shown else None
    return f"The job completed: {outcome}", note


def _queue_failed(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    return f"The queue failed it: {_reason(d)}", "the error text is in the diagnostics"


def _reconciled(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    evidence = d.get("evidence") or {}
    state = evidence.get("arq_job_state") or evidence.get("arq")
    note = f"arq's job state: {state}" if state else None
    return f"The reconciler closed it: {_reason(d)}", note


def _late(entry: Mapping[str, Any], d: Mapping[str, Any]) -> Told:
    signal = d.get("signal") or "a signal"
    return f"Late signal: {signal}", "arrived after the run ended; recorded, changed nothing"


_TELLERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Told]] = {
    "queued": _queued,
    "started": _started,
    "heartbeat": _heartbeat,
    "heartbeats": _heartbeats,
    "retry_scheduled": _retry,
    "completed": _completed,
    "queue_failed": _queue_failed,
    "reconciled_stale": _reconciled,
    "late_signal_recorded": _late,
}
