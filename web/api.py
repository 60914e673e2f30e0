"""The JSON API: read-only routes over the read models (docs/api.md).

Routes are synchronous (Starlette runs them in its thread pool, and the read API lends
each its own connection). Each parses its query with the declarations in web/params.py,
resolves the caller through web/auth.py and serializes with projections.document, the
same serializer `runledger runs show --json` uses.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from projections import AuditFilters, RunFilters
from projections.document import (
    audit_json,
    run_document,
    runs_page_json,
    timeline_page_json,
)
from web import params
from web.auth import api_principal
from web.context import context_of
from web.errors import not_found
from web.tokens import AUDIT_READ, RUNS_READ

RUN_NOT_FOUND = "no run with this id in your workspaces"


def _query(request: Request, accepted: tuple[params.Param, ...]) -> dict[str, Any]:
    return params.parse_query(request.query_params.multi_items(), accepted)


def _run_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["run_id"])
    except ValueError:
        raise not_found(RUN_NOT_FOUND) from None


def list_runs(request: Request) -> JSONResponse:
    principal = api_principal(request, RUNS_READ)
    q = _query(request, params.RUNS_LIST)
    context = context_of(request)
    now = context.clock()
    filters = RunFilters(**{p.name: q[p.name] for p in params.RUN_FILTERS})
    page = context.view.list_runs(
        principal.scope, filters, limit=q["limit"], cursor=q["cursor"], now=now
    )
    interval = context.settings.reconcile_interval
    return JSONResponse(runs_page_json(page, now, reconcile_interval=interval))


def get_run(request: Request) -> JSONResponse:
    principal = api_principal(request, RUNS_READ)
    _query(request, ())
    run_id = _run_id(request)
    context = context_of(request)
    document = run_document(
        context.view,
        principal.scope,
        run_id,
        context.clock(),
        reconcile_interval=context.settings.reconcile_interval,
    )
    if document is None:
        raise not_found(RUN_NOT_FOUND)
    return JSONResponse(document)


def run_timeline(request: Request) -> JSONResponse:
    principal = api_principal(request, RUNS_READ)
    q = _query(request, params.TIMELINE)
    run_id = _run_id(request)
    page = context_of(request).view.timeline(
        principal.scope, run_id, cursor=q["cursor"], limit=q["limit"], fold_heartbeats=q["fold"]
    )
    if page is None:
        raise not_found(RUN_NOT_FOUND)
    return JSONResponse(timeline_page_json(page))


def list_audit(request: Request) -> JSONResponse:
    principal = api_principal(request, AUDIT_READ)
    q = _query(request, params.AUDIT_LIST)
    fields = ("workspace", "operation_type", "run_id", "actor", "action", "since", "until")
    filters = AuditFilters(**{name: q[name] for name in fields})
    page = context_of(request).view.audit(
        principal.scope, filters, limit=q["limit"], cursor=q["cursor"]
    )
    return JSONResponse(
        {
            "entries": [audit_json(entry) for entry in page.entries],
            "next_cursor": page.next_cursor,
            "prev_cursor": page.prev_cursor,
        }
    )


def get_audit_entry(request: Request) -> JSONResponse:
    principal = api_principal(request, AUDIT_READ)
    _query(request, ())
    text = request.path_params["position"]
    missing = not_found("no audit entry at this position in your workspaces")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise missing
    entry = context_of(request).view.audit_entry(principal.scope, int(text))
    if entry is None:
        raise missing
    return JSONResponse(audit_json(entry))


def stats(request: Request) -> JSONResponse:
    principal = api_principal(request, RUNS_READ)
    q = _query(request, params.STATS)
    context = context_of(request)
    view, scope = context.view, principal.scope
    counts = view.counts(
        scope,
        workspace=q["workspace"],
        operation_type=q["operation_type"],
        now=context.clock(),
    )
    rows = [
        {
            "workspace": row.workspace,
            "operation_type": row.operation_type,
            "status": str(row.status),
            "outcome": None if row.outcome is None else str(row.outcome),
            "reason_code": None if row.reason_code is None else str(row.reason_code),
            "runs": row.runs,
        }
        for row in view.stats(scope.narrowed(q["workspace"]))
        if q["operation_type"] in (None, row.operation_type)
    ]
    return JSONResponse({"counts": vars(counts), "rows": rows})


routes = [
    Route("/api/runs", list_runs, name="api_runs"),
    Route("/api/runs/{run_id}", get_run, name="api_run"),
    Route("/api/runs/{run_id}/timeline", run_timeline, name="api_run_timeline"),
    Route("/api/audit", list_audit, name="api_audit"),
    Route("/api/audit/{position}", get_audit_entry, name="api_audit_entry"),
    Route("/api/stats", stats, name="api_stats"),
]
