"""The contract's JSON documents: one serializer for the API, the CLI and the HTML views.

`run_document` is what `GET /api/runs/{id}` answers and `runledger runs show --json`
prints, byte for byte: both call it. Times are ISO 8601 UTC with a `Z`. A list item
(`run_json`) is the same run without its timeline, params and summary, and with long
diagnostic text shortened, so a page of 50 runs stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger import stale_threshold
from projections.explain import explain
from projections.queries import MonitoringView
from projections.rows import AuditEntry, RunRow, RunsPage, TimelineEntry, TimelinePage
from projections.scope import Scope

LIST_TEXT_LIMIT = 300  # characters of one diagnostic value in a list item


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def run_json(
    run: RunRow,
    now: datetime,
    *,
    timeline: Sequence[TimelineEntry] = (),
    reconcile_interval: float = 30.0,
    shorten: bool = True,
) -> dict[str, Any]:
    explanation = explain(run, timeline, now, reconcile_interval).to_json()
    if shorten:
        explanation["diagnostics"] = _shortened(explanation["diagnostics"])
    return {
        "id": str(run.id),
        "workspace": run.workspace,
        "operation_type": run.operation_type,
        "status": str(run.status),
        "outcome": _text(run.outcome),
        "freshness": _text(run.freshness),
        "ended_by": _text(run.ended_by),
        "reason_code": _text(run.reason_code),
        "explanation": explanation,
        "attempts": run.attempts,
        "max_tries": run.max_tries,
        "queued_at": iso(run.queued_at),
        "started_at": iso(run.started_at),
        "last_activity_at": iso(run.last_activity_at),
        "completed_at": iso(run.completed_at),
        "stale_at": iso(run.stale_at),
        "stale_after_seconds": stale_threshold(run.status, run.policy),
        "timeout_seconds": run.timeout,
        "heartbeats": run.heartbeats,
        "progress": run.progress,
        "late_signals": run.late_signals,
        "initiator": run.initiator,
        "worker_id": run.worker_id,
        "links": {"self": f"/api/runs/{run.id}", "html": f"/operations/{run.id}"},
    }


def runs_page_json(
    page: RunsPage, now: datetime, *, reconcile_interval: float = 30.0
) -> dict[str, Any]:
    """A page of runs as `GET /api/runs` answers it (and `runledger runs list --json`)."""
    return {
        "runs": [run_json(run, now, reconcile_interval=reconcile_interval) for run in page.runs],
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }


def run_document(
    view: MonitoringView,
    scope: Scope,
    run_id: UUID,
    now: datetime,
    *,
    reconcile_interval: float = 30.0,
) -> dict[str, Any] | None:
    """The run with its explanation and (first page of) folded timeline; None when unseen."""
    run = view.get_run(scope, run_id, now)
    page = view.timeline(scope, run_id) if run is not None else None
    if run is None or page is None:
        return None
    document = run_json(
        run, now, timeline=page.entries, reconcile_interval=reconcile_interval, shorten=False
    )
    document.update(
        idempotency_key=run.idempotency_key,
        params_summary=run.params_summary,
        summary=run.summary,
        events=page.events,
        timeline=timeline_json(page.entries),
        timeline_next_cursor=page.next_cursor,
    )
    return document


def timeline_page_json(page: TimelinePage) -> dict[str, Any]:
    return {
        "entries": timeline_json(page.entries),
        "next_cursor": page.next_cursor,
        "events": page.events,
    }


def timeline_json(entries: Sequence[TimelineEntry]) -> list[dict[str, Any]]:
    """Entries with the time since the one before (null for the first of a page)."""
    out: list[dict[str, Any]] = []
    previous: datetime | None = None
    for entry in entries:
        since: float | None = None if previous is None else (entry.at - previous).total_seconds()
        item: dict[str, Any] = {
            "version": entry.version,
            "position": entry.position,
            "at": iso(entry.at),
            "event": entry.event,
            "actor": entry.actor,
            "attempt": entry.attempt,
            "since_previous_seconds": since,
            "details": entry.details,
        }
        out.append(item)
        previous = _end_of(entry)
    return out


def _end_of(entry: TimelineEntry) -> datetime:
    last = entry.details.get("last_at") if entry.event == "heartbeats" else None
    return datetime.fromisoformat(last) if isinstance(last, str) else entry.at


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "workspace": entry.workspace,
        "operation_type": entry.operation_type,
        "run_id": str(entry.run_id),
        "details": entry.details,
        "links": {
            "self": f"/api/audit/{entry.position}",
            "run": f"/api/runs/{entry.run_id}",
            "html": f"/audit/{entry.position}",
        },
    }


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def _shortened(diagnostics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in diagnostics.items():
        if isinstance(value, (dict, list)):
            continue  # structured evidence is shown on the run's own page
        long = isinstance(value, str) and len(value) > LIST_TEXT_LIMIT
        out[key] = value[: LIST_TEXT_LIMIT - 1] + "…" if long else value
    return out
