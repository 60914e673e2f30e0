"""`/operations`: the runs index, newest first, and its live-refresh region.

The page and `/operations/live` render the same region (count chips, overview strip,
rows, paging) from the same query, so a refresh swaps it in place: the filter form,
the scroll position and any open `<details>` stay as they were. Rows are the API's own
run documents (`run_json`) with their badge.

A bad filter answers 400 with the page intact: the form filled in as typed, the bad
field marked and named, the chips and strip still there, and no rows (a list that
silently ignored a filter would mislead).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from projections import ReadRequestError, RunFilters
from projections.document import run_json
from web import params
from web.context import context_of
from web.tokens import RUNS_READ
from web.ui.access import Viewer, fragment, page
from web.ui.badges import badge_of
from web.ui.chips import STATE_FILTERS, chips
from web.ui.fields import fields, suggestions
from web.ui.live import live_etag, not_modified
from web.ui.query import PageQuery, read_query
from web.ui.render import NO_STORE, render, render_fragment
from web.ui.strip import cache_of, overview

__all__ = ["operations_index", "operations_live"]

PATH = "/operations"
_NARROWING = ("workspace", "operation_type")


def _query(request: Request) -> PageQuery:
    return read_query(request.query_params.multi_items(), params.RUNS_LIST)


@page(RUNS_READ)
def operations_index(request: Request, viewer: Viewer) -> Response:
    query = _query(request)
    context = context_of(request)
    # Taken before the region is read, so a change in between only costs one refresh.
    etag = live_etag(context, viewer.principal.token_id, query.query_string(), context.clock())
    values = region(request, viewer, query)
    view = context.view
    found = suggestions(view, viewer.scope)
    values.update(
        fields=fields(
            params.RUNS_LIST,
            query,
            {"workspace": "workspaces", "operation_type": "operation-types"},
        ),
        suggestions=found,
        filters_open=query.given((*_NARROWING, "queued_after", "queued_before", "limit"))
        or query.given(STATE_FILTERS)
        or bool(values["errors"]),
        live_url=f"{PATH}/live?{query.query_string()}".rstrip("?"),
        live_etag=etag,
    )
    return render(request, "operations.html", values, status=400 if values["errors"] else 200)


@fragment(RUNS_READ)
def operations_live(request: Request, viewer: Viewer) -> Response:
    """The live region alone; 304 when it cannot have changed since the given ETag."""
    query = _query(request)
    if not query.ok:
        return HTMLResponse("bad filter", status_code=400, headers=NO_STORE)
    context = context_of(request)
    etag = live_etag(context, viewer.principal.token_id, query.query_string(), context.clock())
    headers = {**NO_STORE, "ETag": etag}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    values = region(request, viewer, query)
    body = render_fragment(request, "operations_live.html", values)
    return HTMLResponse(body, status_code=400 if values["errors"] else 200, headers=headers)


def region(request: Request, viewer: Viewer, query: PageQuery) -> dict[str, Any]:
    """What the live region shows: chips, strip, rows and paging links."""
    context = context_of(request)
    now, view, scope = context.clock(), context.view, viewer.scope
    narrowing = {name: query.values[name] for name in _NARROWING}
    counts = view.counts(scope, now=now, **narrowing)
    every, states = chips(counts, query, PATH)
    errors = dict(query.errors)
    page = None
    if query.ok:
        filters = RunFilters(**{p.name: query.values[p.name] for p in params.RUN_FILTERS})
        try:
            page = view.list_runs(
                scope, filters, limit=query.values["limit"], cursor=query.values["cursor"], now=now
            )
        except ReadRequestError as error:
            errors[error.parameter] = str(error)
    interval = context.settings.reconcile_interval
    runs = [run_json(run, now, reconcile_interval=interval) for run in page.runs] if page else []
    return {
        "query": query,
        "errors": errors,
        "every": every,
        "chips": states,
        "strip": overview(view, scope, now, **narrowing, cache=cache_of(view)),
        "rows": [{"run": run, "badge": badge_of(run, now, interval)} for run in runs],
        "listed": page is not None,
        **query.paging(
            PATH, page.next_cursor if page else None, page.prev_cursor if page else None
        ),
        "filtered": query.given(p.name for p in params.RUN_FILTERS),
    }
