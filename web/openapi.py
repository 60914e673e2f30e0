"""`GET /api/openapi.json`: OpenAPI 3.1, built from the routes' own parameter declarations.

Query parameters come from web/params.py (what the routes parse), so the document cannot
promise a parameter the API refuses or miss one it takes. Response schemas describe
projections.document's output; the schemathesis test holds the two together.
"""

from __future__ import annotations

from typing import Any

from web import params
from web.params import Param

_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}
_OBJECT = {"type": "object"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_EXPLANATION = {
    "type": "object",
    "required": ["headline", "details", "diagnostics"],
    "properties": {
        "headline": {"type": "string"},
        "details": {"type": "array", "items": {"type": "string"}},
        "diagnostics": _OBJECT,
    },
}
_RUN_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "workspace": {"type": "string"},
    "operation_type": {"type": "string"},
    "status": {"type": "string", "enum": ["queued", "running", "completed"]},
    "outcome": _NULLABLE_TEXT,
    "freshness": {"type": ["string", "null"], "enum": ["fresh", "stale", None]},
    "ended_by": _NULLABLE_TEXT,
    "reason_code": _NULLABLE_TEXT,
    "explanation": _ref("Explanation"),
    "attempts": {"type": "integer"},
    "max_tries": {"type": "integer"},
    "queued_at": _TIME,
    "started_at": _NULLABLE_TIME,
    "last_activity_at": _TIME,
    "completed_at": _NULLABLE_TIME,
    "stale_at": _NULLABLE_TIME,
    "stale_after_seconds": {"type": ["number", "null"]},
    "timeout_seconds": {"type": ["number", "null"]},
    "heartbeats": {"type": "integer"},
    "progress": _OBJECT,
    "late_signals": {"type": "integer"},
    "initiator": {"type": "string"},
    "worker_id": _NULLABLE_TEXT,
    "links": _OBJECT,
}
_TIMELINE_ENTRY = {
    "type": "object",
    "required": ["version", "position", "at", "event", "actor", "details"],
    "properties": {
        "version": {"type": "integer"},
        "position": {"type": "integer"},
        "at": _TIME,
        "event": {"type": "string"},
        "actor": {"type": "string"},
        "attempt": {"type": ["integer", "null"]},
        "since_previous_seconds": {"type": ["number", "null"]},
        "details": _OBJECT,
    },
}
_AUDIT_ENTRY = {
    "type": "object",
    "required": ["position", "at", "actor", "action", "workspace", "run_id", "details"],
    "properties": {
        "position": {"type": "integer"},
        "at": _TIME,
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "workspace": {"type": "string"},
        "operation_type": {"type": "string"},
        "run_id": {"type": "string", "format": "uuid"},
        "details": _OBJECT,
        "links": _OBJECT,
    },
}
_CURSORS = {"next_cursor": _NULLABLE_TEXT, "prev_cursor": _NULLABLE_TEXT}
_COUNT_MAP = {"type": "object", "additionalProperties": {"type": "integer"}}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "parameter": {"type": "string"},
                },
            }
        },
    },
    "Explanation": _EXPLANATION,
    "Run": {"type": "object", "required": list(_RUN_PROPERTIES), "properties": _RUN_PROPERTIES},
    "RunDocument": {
        "allOf": [
            _ref("Run"),
            {
                "type": "object",
                "required": ["timeline", "events", "params_summary", "summary"],
                "properties": {
                    "idempotency_key": _NULLABLE_TEXT,
                    "params_summary": _OBJECT,
                    "summary": _OBJECT,
                    "events": {"type": "integer"},
                    "timeline": {"type": "array", "items": _ref("TimelineEntry")},
                    "timeline_next_cursor": _NULLABLE_TEXT,
                },
            },
        ]
    },
    "RunsPage": {
        "type": "object",
        "required": ["runs", "next_cursor"],
        "properties": {"runs": {"type": "array", "items": _ref("Run")}, **_CURSORS},
    },
    "TimelineEntry": _TIMELINE_ENTRY,
    "TimelinePage": {
        "type": "object",
        "required": ["entries", "next_cursor", "events"],
        "properties": {
            "entries": {"type": "array", "items": _ref("TimelineEntry")},
            "next_cursor": _NULLABLE_TEXT,
            "events": {"type": "integer"},
        },
    },
    "AuditEntry": _AUDIT_ENTRY,
    "AuditPage": {
        "type": "object",
        "required": ["entries", "next_cursor"],
        "properties": {"entries": {"type": "array", "items": _ref("AuditEntry")}, **_CURSORS},
    },
    "Stats": {
        "type": "object",
        "required": ["counts", "rows"],
        "properties": {
            "counts": {
                "type": "object",
                "properties": {
                    "total": {"type": "integer"},
                    "stale": {"type": "integer"},
                    "by_status": _COUNT_MAP,
                    "by_outcome": _COUNT_MAP,
                    "by_ended_by": _COUNT_MAP,
                    "by_reason_code": _COUNT_MAP,
                    "failed_by": _COUNT_MAP,
                },
            },
            "rows": {"type": "array", "items": _OBJECT},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "redis"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
            "database": _OBJECT,
            "redis": _OBJECT,
            "projection": _OBJECT,
        },
    },
}

_ERRORS = {
    "400": "a parameter is malformed, unknown or given twice (the error names it)",
    "401": "no token, or not a valid one",
    "403": "the token lacks the capability this route needs",
    "404": "no such run or entry in the token's workspaces",
    "503": "the ledger database is not answering; retry",
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str,
    capability: str | None,
    query: tuple[Param, ...],
    ok: str,
    path_params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = ("400", "401", "403", "503"),
) -> dict[str, Any]:
    parameters = list(path_params or [])
    parameters += [
        {"name": p.name, "in": "query", "required": False, "description": p.description,
         "allowEmptyValue": True, "schema": p.schema()}  # empty: not filtered, the default
        for p in query
    ]  # fmt: skip
    responses = {"200": _json(_ref(ok), "OK")}
    responses |= {code: _json(_ref("Error"), _ERRORS[code]) for code in errors}
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }
    if capability is not None:
        operation["description"] = f"Needs the `{capability}` capability."
        operation["security"] = [{"bearer": []}]
    return operation


# What names something; anything else is a 404 like an id that names nothing.
_RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "description": "the run's id",
    "schema": {"type": "string", "format": "uuid"},
}
_POSITION = {
    "name": "position",
    "in": "path",
    "required": True,
    "description": "the entry's ledger position",
    "schema": {"type": "integer", "minimum": 1},
}
_WITH_404 = ("400", "401", "403", "404", "503")


def openapi_document() -> dict[str, Any]:
    paths = {
        "/api/runs": {
            "get": _operation("Runs, newest first", "runs:read", params.RUNS_LIST, "RunsPage")
        },
        "/api/runs/{run_id}": {
            "get": _operation(
                "One run: explanation and timeline", "runs:read", (), "RunDocument",
                [_RUN_ID], _WITH_404,
            )
        },
        "/api/runs/{run_id}/timeline": {
            "get": _operation(
                "One run's timeline, paged", "runs:read", params.TIMELINE, "TimelinePage",
                [_RUN_ID], _WITH_404,
            )
        },
        "/api/audit": {
            "get": _operation("The audit log, newest first", "audit:read", params.AUDIT_LIST,
                              "AuditPage")
        },
        "/api/audit/{position}": {
            "get": _operation("One audit entry", "audit:read", (), "AuditEntry", [_POSITION],
                              _WITH_404)
        },
        "/api/stats": {
            "get": _operation("Run counts", "runs:read", params.STATS, "Stats")
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document (no token needed)",
                "responses": {"200": _json(_OBJECT, "OpenAPI 3.1")},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Database, Redis and projection lag (no token needed)",
                "responses": {
                    "200": _json(_ref("Health"), "the database answers"),
                    "503": _json(_ref("Health"), "the database does not answer"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics: no workspace names, no run ids (no token needed)",
                "responses": {
                    "200": {
                        "description": "the Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": _json(_ref("Error"), _ERRORS["503"]),
                },
            }
        },
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runledger",
            "version": "1",
            "description": "Read-only API over runledger's run ledger (docs/api.md).",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
