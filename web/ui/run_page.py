"""`/operations/{run_id}`: one run, explained first, then its timeline, then diagnostics.

The page is `run_document`, the very document `GET /api/runs/{id}` answers: the
explanation (headline, then details) comes before anything else, the timeline follows
(heartbeats folded, each step with its actor, attempt and time since the one before),
and the diagnostics (job id, worker, raw error text, raw payloads) are collapsed last.

A malformed id, an unknown run and another workspace's run are the same 404 page:
nothing tells them apart, so the page never reveals that a run exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from projections import ReadRequestError
from projections.document import run_document, timeline_json
from web import params
from web.api import RUN_NOT_FOUND
from web.context import context_of
from web.errors import not_found
from web.tokens import RUNS_READ
from web.ui.access import Viewer, page
from web.ui.badges import badge_of
from web.ui.query import read_query
from web.ui.render import render
from web.ui.timeline import pretty, steps

__all__ = ["DIAGNOSTIC_LABELS", "run_page"]

DIAGNOSTIC_LABELS = {
    "job_id": "arq job id",
    "worker_id": "Worker",
    "reason_code": "Reason code",
    "attempts": "Attempts",
    "max_tries": "Max tries",
    "error": "Raw error text",
    "progress": "Last progress",
    "arq_job_state": "arq's job state",
    "arq_result": "arq's stored result",
    "evidence": "Reconciler's evidence",
}


def _run_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["run_id"])
    except ValueError:
        raise not_found(RUN_NOT_FOUND) from None


@page(RUNS_READ)
def run_page(request: Request, viewer: Viewer) -> Response:
    run_id = _run_id(request)
    query = read_query(request.query_params.multi_items(), (params.CURSOR,))
    context = context_of(request)
    now, interval = context.clock(), context.settings.reconcile_interval
    document = run_document(context.view, viewer.scope, run_id, now, reconcile_interval=interval)
    if document is None:
        raise not_found(RUN_NOT_FOUND)
    errors = dict(query.errors)
    entries, later = document["timeline"], document["timeline_next_cursor"]
    cursor = query.values["cursor"] if query.ok else None
    if cursor:
        try:
            found = context.view.timeline(viewer.scope, run_id, cursor=cursor)
        except ReadRequestError as error:
            errors[error.parameter] = str(error)
            found = None
        if found is not None:
            entries, later = timeline_json(found.entries), found.next_cursor
    here = f"/operations/{run_id}"
    values = {
        "run": document,
        "badge": badge_of(document, now, interval),
        "steps": steps(entries),
        "errors": errors,
        "later": query.link(here, {"cursor": later}) if later else None,
        "earliest": here if cursor else None,
        "diagnostics": diagnostics(document["explanation"]["diagnostics"]),
        # The error and the reconciler's evidence are in the diagnostics already.
        "shown_summary": {
            k: v for k, v in (document["summary"] or {}).items() if k not in ("error", "evidence")
        },
    }
    return render(request, "run.html", values, status=400 if errors else 200)


def diagnostics(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The explanation's diagnostics, labelled; structured values as indented JSON."""
    rows: list[dict[str, Any]] = []
    for key, value in found.items():
        structured = isinstance(value, dict | list)
        block = structured or (isinstance(value, str) and ("\n" in value or len(value) > 80))
        rows.append(
            {
                "key": key,
                "label": DIAGNOSTIC_LABELS.get(key, key.replace("_", " ")),
                "text": pretty(value) if structured else str(value),
                "block": block,
            }
        )
    return rows
