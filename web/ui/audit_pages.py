"""`/audit` and `/audit/{position}`: the audit log, and one entry as a page of its own.

Each entry of the list links to `/audit/{position}`. With JavaScript the link opens the
entry in a slide-over panel (web/static/panel.js) and the address bar shows that URL;
without it, or opened directly, the same URL is a full page. The panel's content is the
`#audit-entry` article of that page, so the two never differ. Entries are the API's own
`audit_json` documents, told in the words of the run timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from projections import AuditFilters, ReadRequestError
from projections.document import audit_json
from web import params
from web.context import context_of
from web.errors import not_found
from web.tokens import AUDIT_READ
from web.ui.access import Viewer, page
from web.ui.fields import fields, suggestions
from web.ui.query import read_query
from web.ui.render import render
from web.ui.timeline import Step, steps

__all__ = ["audit_entry_page", "audit_page", "told"]

PATH = "/audit"
ENTRY_NOT_FOUND = "no audit entry at this position in your workspaces"
_FILTERS = ("workspace", "operation_type", "run_id", "actor", "action", "since", "until")
_MAX_POSITION_DIGITS = 18


def told(entry: Mapping[str, Any]) -> Step:
    """An entry in the words of the timeline (its action is `run.<event>`)."""
    details = entry.get("details") or {}
    event = str(entry.get("action", "")).removeprefix("run.")
    attempt = details.get("attempt") if isinstance(details.get("attempt"), int) else None
    as_entry = {"event": event, "actor": entry.get("actor"), "attempt": attempt,
                "details": details, "at": entry.get("at"), "version": 0}  # fmt: skip
    return steps([as_entry])[0]


@page(AUDIT_READ)
def audit_page(request: Request, viewer: Viewer) -> Response:
    query = read_query(request.query_params.multi_items(), params.AUDIT_LIST)
    context = context_of(request)
    errors = dict(query.errors)
    found = None
    if query.ok:
        filters = AuditFilters(**{name: query.values[name] for name in _FILTERS})
        try:
            found = context.view.audit(
                viewer.scope, filters, limit=query.values["limit"], cursor=query.values["cursor"]
            )
        except ReadRequestError as error:
            errors[error.parameter] = str(error)
    entries = [audit_json(entry) for entry in found.entries] if found else []
    suggest = {"workspace": "workspaces", "operation_type": "operation-types"}
    values = {
        "query": query,
        "errors": errors,
        "fields": fields(params.AUDIT_LIST, query, suggest),
        "suggestions": suggestions(context.view, viewer.scope),
        "filters_open": query.given(_FILTERS) or bool(errors),
        "filtered": query.given(_FILTERS),
        "entries": [{"entry": entry, "told": told(entry)} for entry in entries],
        "listed": found is not None,
        **query.paging(
            PATH, found.next_cursor if found else None, found.prev_cursor if found else None
        ),
    }
    return render(request, "audit.html", values, status=400 if errors else 200)


@page(AUDIT_READ)
def audit_entry_page(request: Request, viewer: Viewer) -> Response:
    text = request.path_params["position"]
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_POSITION_DIGITS:
        raise not_found(ENTRY_NOT_FOUND)
    entry = context_of(request).view.audit_entry(viewer.scope, int(text))
    if entry is None:
        raise not_found(ENTRY_NOT_FOUND)
    document = audit_json(entry)
    return render(request, "audit_entry.html", {"entry": document, "told": told(document)})
